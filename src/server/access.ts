/**
 * Who may do what, in one place. A job belongs to a user or an org. Its owner user, the org's
 * admins and members may read, stop and retry it; the org's viewers may read it; a server admin may
 * do everything. A token's scope narrows that: `read` only reads, `submit` reads and submits. A job
 * the caller may not read does not exist for them (404); one it may read but not change is 403.
 */
import { JobhubError, NotFoundError } from '../core/errors.js';
import type { Owner } from '../core/types.js';
import type { EventRecord, JobRecord, Store } from '../store/store.js';
import type { Principal } from './context.js';

export type JobAction = 'read' | 'submit' | 'stop' | 'retry';

const SCOPE_ALLOWS: Record<Principal['scope'], ReadonlySet<JobAction>> = {
  full: new Set(['read', 'submit', 'stop', 'retry']),
  read: new Set(['read']),
  submit: new Set(['read', 'submit']),
};

function forbidden(message: string): JobhubError {
  return new JobhubError('forbidden', message);
}

/** Whether the principal, by its roles alone, may act on what this owner owns. */
function roleAllows(p: Principal, owner: Owner | null, action: JobAction): boolean {
  if (p.serverAdmin) return true;
  if (!owner) return false; // jobs from before owners were enforced: admins only
  if (owner.type === 'user') return owner.id === p.userId;
  const role = p.orgs.get(owner.id);
  if (!role) return false;
  return action === 'read' || role === 'admin' || role === 'member';
}

/** Reads a job for the principal, or throws: 404 when it may not see it, 403 when not `action`. */
export function authorizeJob(p: Principal, job: JobRecord, action: JobAction): void {
  if (!roleAllows(p, job.owner, 'read')) throw new NotFoundError(`job ${job.id}`);
  if (!roleAllows(p, job.owner, action)) throw forbidden(`you may read job ${job.id} but not ${action} it`);
  if (!SCOPE_ALLOWS[p.scope].has(action))
    throw forbidden(`this token's scope (${p.scope}) does not allow ${action}`);
}

/** Owner ids whose jobs the principal sees; undefined: all (a server admin). */
export function visibleOwners(p: Principal): string[] | undefined {
  if (p.serverAdmin) return undefined;
  return [...(p.userId ? [p.userId] : []), ...p.orgs.keys()];
}

/** Whether the principal may see a job by its owner (for streams and lists). */
export function seesOwner(p: Principal, owner: Owner | null): boolean {
  return roleAllows(p, owner, 'read');
}

/** Server-wide administration (users, orgs, agents, nodes, audit). */
export function requireServerAdmin(p: Principal): void {
  if (!p.serverAdmin) throw forbidden('only a server admin may do this');
  if (p.scope !== 'full') throw forbidden(`this token's scope (${p.scope}) does not allow changes`);
}

/** Changing something that is not a job (tokens of one's own, org settings): a full-scope token. */
export function requireFullScope(p: Principal): void {
  if (p.scope !== 'full') throw forbidden(`this token's scope (${p.scope}) does not allow changes`);
}

/** An org's administration (members, secrets). */
export function requireOrgAdmin(p: Principal, orgId: string): void {
  requireFullScope(p);
  if (p.serverAdmin || p.orgs.get(orgId) === 'admin') return;
  if (p.orgs.has(orgId)) throw forbidden('only an admin of the org may do this');
  throw new NotFoundError(`org ${orgId}`);
}

/**
 * Which events a caller sees: a job's only if it may read the job, the audit log only as a server
 * admin, nodes' events always (nodes are shared). Owners are looked up once per job and remembered.
 */
export function eventVisibility(store: Store, p: Principal): (e: EventRecord) => Promise<boolean> {
  if (p.serverAdmin) return async () => true;
  const owners = new Map<number, Owner | null | undefined>();
  return async (e) => {
    if (e.type === 'audit') return false;
    if (e.jobId === undefined) return true;
    if (!owners.has(e.jobId)) {
      if (owners.size > 10_000) owners.clear();
      owners.set(e.jobId, (await store.getJob(e.jobId))?.owner);
    }
    const owner = owners.get(e.jobId);
    return owner !== undefined && seesOwner(p, owner);
  };
}
