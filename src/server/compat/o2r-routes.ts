/**
 * The o2r job API (seed 003) at `/api/v1/job` (singular; jobhub's own is `/api/v1/jobs`). A
 * compendium is a workspace; a job runs the spec at the workspace's root (`jobhub.yaml`) in a fresh
 * copy of the workspace. Jobs are jobhub jobs, listed and read with jobhub's access rules (another
 * org's job or workspace is 404). Errors keep jobhub's shape, whose `error` is o2r's.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { JobhubError } from '../../core/errors.js';
import type { WorkspaceRecord } from '../../store/store.js';
import { authorizeJob, seesOwner, visibleOwners } from '../access.js';
import { AUTH_ERRORS, responses } from '../api-schemas.js';
import { principalOf, type RouteDeps, SECURED, splitCommas } from '../routes/common.js';
import { isMultipart, readMultipart } from '../uploads.js';
import { scanJobs } from './job-scan.js';
import { CreatedJob, CreateJobBody, JobIdList, JobParams, JobView, ListJobQuery } from './o2r-schemas.js';
import { jobStatusesOf, jobView, o2rStatus } from './o2r-view.js';
import { submitCompat } from './submit.js';

const tags = ['o2r'];
const PATH = '/api/v1/job';
/** The spec a compendium runs: this file at the root of its archive. */
export const COMPENDIUM_SPEC = 'jobhub.yaml';
const MAX_SPEC_BYTES = 1 << 20;

/** o2r's words for an unknown compendium (also one of another org: it does not exist for the caller). */
const noCompendium = () => new JobhubError('not_found', 'no compendium with this ID found');

export function o2rRoutes(app: FastifyInstance, { ctx }: RouteDeps): void {
  /** The workspace a compendium id names (id, or newest of that name), as the caller sees them. */
  const compendium = async (req: FastifyRequest, id: string): Promise<WorkspaceRecord> => {
    const p = principalOf(req);
    const w = await ctx.files?.findWorkspace(id, (owner) => seesOwner(p, owner));
    if (!w) throw noCompendium();
    return w;
  };

  /** Workspace ids that compendium ids (or names) stand for, among those the caller sees. */
  const workspaceIds = async (req: FastifyRequest, wanted: readonly string[]): Promise<Set<string>> => {
    const p = principalOf(req);
    const all = ctx.files ? await ctx.files.listWorkspaces() : [];
    const names = new Set(wanted);
    return new Set(
      all.filter((w) => (names.has(w.id) || names.has(w.name)) && seesOwner(p, w.owner)).map((w) => w.id),
    );
  };

  app.register(async (form) => {
    // curl -d sends a form; curl -F (multipart) and JSON are parsed as everywhere else.
    form.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string' },
      (_req, body, done) => {
        done(null, Object.fromEntries(new URLSearchParams(String(body))));
      },
    );
    form.post(
      PATH,
      {
        schema: {
          operationId: 'o2rCreateJob',
          tags,
          summary: "Create and run a job (o2r): the compendium's jobhub.yaml, in a fresh copy of it",
          security: SECURED,
          body: CreateJobBody,
          response: responses({ 200: CreatedJob }, [400, ...AUTH_ERRORS, 404, 413, 415]),
        },
      },
      async (req) => {
        const id = await compendiumIdOf(req);
        const w = await compendium(req, id);
        const text = await ctx.files?.readWorkspaceFile(w, COMPENDIUM_SPEC, MAX_SPEC_BYTES);
        if (text === undefined) {
          throw new JobhubError('bad_request', `compendium ${id} has no ${COMPENDIUM_SPEC} at its root`);
        }
        const job = await submitCompat(ctx, req, {
          text,
          workspace: w.id,
          params: {},
          hold: false,
          defaultOwner: w.owner?.type === 'org' ? w.owner : undefined,
          via: 'o2r',
        });
        return { job_id: String(job.id) };
      },
    );
  });

  app.get<{ Querystring: ListJobQuery }>(
    PATH,
    {
      preValidation: splitCommas(['compendium_id', 'status', 'state', 'fields']),
      schema: {
        operationId: 'o2rListJobs',
        tags,
        summary: 'List jobs (o2r): ids newest first, by compendium and status, with next/previous pages',
        security: SECURED,
        querystring: ListJobQuery,
        response: responses({ 200: JobIdList }, [400, ...AUTH_ERRORS]),
      },
    },
    async (req): Promise<JobIdList> => {
      const q = req.query;
      const limit = q.limit ?? 100;
      const start = q.start ?? 1;
      const words = [...(q.status ?? []), ...(q.state ?? [])];
      const visible = visibleOwners(principalOf(req));
      const wanted =
        q.compendium_id && q.compendium_id.length > 0 ? await workspaceIds(req, q.compendium_id) : undefined;
      const { jobs, more } =
        wanted && wanted.size === 0
          ? { jobs: [], more: false }
          : await scanJobs(
              ctx.store,
              {
                ...(visible ? { ownerIds: visible } : {}),
                ...(words.length > 0 ? { status: jobStatusesOf(words) } : {}),
              },
              (job) => !wanted || (job.spec.workspace !== undefined && wanted.has(job.spec.workspace)),
              start - 1,
              limit,
            );
      const withStatus = q.fields?.includes('status') === true;
      const out: JobIdList = {
        results: jobs.map((j) => (withStatus ? { id: String(j.id), status: o2rStatus(j) } : String(j.id))),
      };
      if (more) out.next = pageUrl(req.url, limit, start + limit);
      if (start > 1) out.previous = pageUrl(req.url, limit, Math.max(1, start - limit));
      return out;
    },
  );

  app.get<{ Params: JobParams }>(
    `${PATH}/:id`,
    {
      schema: {
        operationId: 'o2rGetJob',
        tags,
        summary: 'One job (o2r): its steps (one per stage) and its files',
        security: SECURED,
        params: JobParams,
        response: responses({ 200: JobView }, [400, ...AUTH_ERRORS, 404]),
      },
    },
    async (req) => {
      const text = req.params.id;
      const id = /^[1-9]\d{0,15}$/.test(text) ? Number(text) : undefined;
      const detail = id === undefined ? undefined : await ctx.store.getJobDetail(id);
      if (!detail) throw new JobhubError('not_found', 'no job with this ID found');
      authorizeJob(principalOf(req), detail.job, 'read');
      const files = ctx.files ? await ctx.store.listFiles(detail.job.id) : [];
      return jobView(detail, files);
    },
  );
}

/** The compendium_id of a create request: a multipart field, a form field or a JSON property. */
async function compendiumIdOf(req: FastifyRequest): Promise<string> {
  let fields: Record<string, unknown> | undefined;
  if (isMultipart(req)) {
    const read = await readMultipart(
      req,
      async (part) => {
        part.stream.resume(); // o2r's inputs are a proposal: files are not taken here
      },
      { maxFieldBytes: 64 * 1024, maxFiles: 10 },
    );
    fields = Object.fromEntries(read);
  } else if (req.body !== null && typeof req.body === 'object') {
    fields = req.body as Record<string, unknown>;
  }
  const id = fields?.compendium_id;
  if (typeof id !== 'string' || id.trim() === '') {
    throw new JobhubError('bad_request', 'compendium_id is required', [
      { path: 'body.compendium_id', message: 'is required' },
    ]);
  }
  return id.trim();
}

/** A link to another page: `limit` and `start`, then the request's other parameters as given. */
function pageUrl(requestUrl: string, limit: number, start: number): string {
  const q = requestUrl.indexOf('?');
  const given = new URLSearchParams(q < 0 ? '' : requestUrl.slice(q + 1));
  const out = new URLSearchParams([
    ['limit', String(limit)],
    ['start', String(start)],
  ]);
  for (const [k, v] of given) if (k !== 'limit' && k !== 'start') out.append(k, v);
  return `${PATH}?${out.toString()}`;
}
