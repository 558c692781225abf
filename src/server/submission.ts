/**
 * What a submission needs besides its spec: the job's owner (the caller, or an org the caller may
 * submit for), its submitter (the caller, or the end user a portal token names), and the secrets it
 * uses (they must exist in the owner org).
 */
import type { FastifyRequest } from 'fastify';
import { JobhubError } from '../core/errors.js';
import type { Owner } from '../core/types.js';
import { expandWorkflow, type TemplateResolver } from '../plan/workflow.js';
import { loadSpec } from '../spec/index.js';
import type { JobSpec } from '../spec/model.js';
import { applyParams, type ParamValues } from '../spec/params.js';
import { secretRefs } from '../spec/secrets.js';
import type { Store } from '../store/store.js';
import type { Principal } from './context.js';

const forbidden = (m: string) => new JobhubError('forbidden', m);
const bad = (m: string) => new JobhubError('bad_request', m);

/** The owner of a job submitted by `p` with the spec's `owner` (if any). */
export async function resolveOwner(store: Store, p: Principal, wanted: Owner | undefined): Promise<Owner> {
  if (!wanted) {
    if (!p.userId || !p.userName) throw forbidden('this token has no user to own the job');
    return { id: p.userId, name: p.userName, type: 'user' };
  }
  const key = wanted.id || wanted.name;
  if (wanted.type === 'org') {
    const org =
      (wanted.id && (await store.getOrg(wanted.id))) ||
      (wanted.name && (await store.getOrg(wanted.name))) ||
      undefined;
    if (!org) {
      // A server admin may keep an owner that is not (yet) an org here: only admins see such jobs.
      if (p.serverAdmin) return wanted;
      throw bad(`owner: no org "${key}"`);
    }
    const role = p.orgs.get(org.id);
    // To those outside it, an org does not exist: the same answer as for a name nobody has.
    if (!p.serverAdmin && role === undefined) throw bad(`owner: no org "${key}"`);
    if (!p.serverAdmin && role !== 'admin' && role !== 'member') {
      throw forbidden(`you may not submit jobs for org "${org.name}"${role ? ` (you are a ${role})` : ''}`);
    }
    return { id: org.id, name: org.name, type: 'org' };
  }
  const user =
    (wanted.id && (await store.getUser(wanted.id))) ||
    (wanted.name && (await store.getUser(wanted.name))) ||
    undefined;
  if (user && user.id === p.userId) return { id: user.id, name: user.name, type: 'user' };
  if (p.serverAdmin) return user ? { id: user.id, name: user.name, type: 'user' } : wanted;
  throw forbidden(`you may not submit jobs owned by user "${key}"`);
}

/** The submitter: the caller's user, or (tokens that may act for others) the end user named. */
export function submitterOf(req: FastifyRequest, p: Principal): string {
  const header = req.headers['x-jobhub-submitter'];
  const named = Array.isArray(header) ? header[0] : header;
  if (named !== undefined && named.trim() !== '') {
    if (!p.actFor) throw forbidden('this token may not name another submitter (it cannot act for others)');
    return named.trim();
  }
  return p.userName ?? p.name;
}

/** The secrets a spec uses must be the owner org's: checked at submission, named when missing. */
export async function checkSecrets(store: Store, spec: JobSpec, owner: Owner): Promise<void> {
  const names = secretRefs(spec);
  if (names.length === 0) return;
  if (owner.type !== 'org')
    throw bad(
      `the spec uses secrets (${names.join(', ')}); secrets belong to an org: give owner: {type: org, name: ...}`,
    );
  const found = await store.getSecrets(owner.id, names);
  const missing = names.filter((n) => !found.has(n));
  if (missing.length > 0)
    throw bad(`org "${owner.name}" has no secret ${missing.map((m) => `"${m}"`).join(', ')}`);
}

/**
 * The spec a submission runs: parsed, its parameters bound to the values given, its workflow `use`
 * stages expanded with the templates `resolve` finds; with the values the job records (null when the
 * spec declares no parameters). Every way in (the jobs API, the seeds' APIs, schedules) goes here.
 */
export async function specToRun(
  text: string,
  given: Readonly<Record<string, unknown>>,
  resolve: TemplateResolver,
  opts: { template?: string } = {},
): Promise<{ spec: JobSpec; params: ParamValues | null }> {
  const bound = applyParams(loadSpec(text).spec, given);
  const spec = await expandWorkflow(bound.spec, bound.params, resolve, opts);
  return { spec, params: spec.params && spec.params.length > 0 ? bound.params : null };
}
