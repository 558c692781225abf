/**
 * Submitting a job for the seeds' own APIs (ASCOB runs, o2r jobs): the steps of `POST /api/v1/jobs`
 * (parameters, workflow `use` stages, owner, submitter, secrets, files, audit) for a spec the compat
 * route built, so a run made through a seed's API is an ordinary jobhub job, seen and handled by
 * jobhub's own API, CLI and UI like any other.
 */
import type { FastifyRequest } from 'fastify';
import { JobhubError } from '../../core/errors.js';
import type { Owner } from '../../core/types.js';
import type { JobSpec } from '../../spec/model.js';
import type { JobRecord } from '../../store/store.js';
import { seesOwner } from '../access.js';
import { audit } from '../audit.js';
import type { ApiContext, Principal } from '../context.js';
import { principalOf } from '../routes/common.js';
import { checkSecrets, resolveOwner, specToRun, submitterOf } from '../submission.js';
import { templateResolver } from '../workflows.js';

export interface CompatSubmission {
  /** The spec text (YAML or JSON), kept as the job's rawSpec. */
  text: string;
  /** Values of the spec's parameters. */
  params: Readonly<Record<string, unknown>>;
  /** Create the job held (released later): ASCOB's `manualStart`. */
  hold: boolean;
  /** A submitter named in the body (ASCOB's `jobSpec.submitter`); absent: as `POST /api/v1/jobs`. */
  submitter?: string | undefined;
  /** Run in a fresh copy of this workspace (o2r: the compendium), whatever the spec says. */
  workspace?: string | undefined;
  /** The owner when the spec names none (o2r: the compendium's org); absent: the caller. */
  defaultOwner?: Owner | undefined;
  /** Which API it came through, for the audit log. */
  via: 'ascob' | 'o2r';
}

/** The submitter of a compat submission: a name in the body needs a token that may act for others. */
export function submitterFor(req: FastifyRequest, p: Principal, named: string | undefined): string {
  if (named === undefined || named.trim() === '') return submitterOf(req, p);
  const own = p.userName ?? p.name;
  if (named.trim() !== own && !p.actFor) {
    throw new JobhubError(
      'forbidden',
      `this token may not name another submitter ("${named.trim()}"): it cannot act for others`,
    );
  }
  return named.trim();
}

/** What the spec needs of files, checked as the caller sees them; the spec with its workspace pinned. */
async function checkFiles(ctx: ApiContext, p: Principal, spec: JobSpec, hold: boolean): Promise<JobSpec> {
  const uses = (spec.inputs?.length ?? 0) > 0 || spec.workspace !== undefined;
  if (!uses) return spec;
  if (!ctx.files) {
    throw new JobhubError(
      'unsupported',
      'this server keeps no files: the spec cannot use inputs or a workspace',
    );
  }
  const uploads = (spec.inputs ?? []).flatMap((i) => (i.kind === 'upload' ? [i.name] : []));
  if (uploads.length > 0 && !hold) {
    throw new JobhubError(
      'bad_request',
      `the spec names inputs to upload (${uploads.join(', ')}): submit with manualStart, upload them, then start the run`,
      { missing: uploads },
    );
  }
  return ctx.files.checkSpec(spec, (owner) => seesOwner(p, owner));
}

export async function submitCompat(
  ctx: ApiContext,
  req: FastifyRequest,
  sub: CompatSubmission,
): Promise<JobRecord> {
  const p = principalOf(req);
  if (p.scope === 'read')
    throw new JobhubError('forbidden', "this token's scope (read) does not allow submitting");
  const { spec: expanded, params } = await specToRun(sub.text, sub.params, templateResolver(ctx.store, p));
  const spec = sub.workspace !== undefined ? { ...expanded, workspace: sub.workspace } : expanded;
  const owner = await resolveOwner(ctx.store, p, spec.owner ?? sub.defaultOwner);
  const submitter = submitterFor(req, p, sub.submitter);
  await checkSecrets(ctx.store, spec, owner);
  const checked = await checkFiles(ctx, p, spec, sub.hold);
  const job = await ctx.coordinator.submit({
    spec: checked,
    rawSpec: sub.text,
    owner,
    submitter,
    held: sub.hold,
    params,
    template: null,
  });
  await audit(ctx.store, p, {
    action: 'job.submit',
    jobId: job.id,
    details: { owner: owner.name, submitter, via: sub.via },
  });
  ctx.metrics.jobsSubmitted.inc();
  return job;
}
