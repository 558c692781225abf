/** Who is signed in, and what their token may do, for every page. */
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Api } from './api.js';
import type { JobSummary, WhoAmI } from './types.js';

export interface Session {
  api: Api;
  me: WhoAmI;
  signOut(): void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside a signed-in page');
  return s;
}

/** The server admin (or the bootstrap admin token, which has no user record of its own). */
export function isServerAdmin(me: WhoAmI): boolean {
  return me.user?.serverAdmin === true || me.user === null;
}

/**
 * Whether the token may stop or retry this job (mirrors the server's rule; the API still decides):
 * a full-scope token of a server admin, the owning user, or an admin or member of the owning org.
 */
export function mayChange(me: WhoAmI, job: Pick<JobSummary, 'owner'>): boolean {
  if (me.token.scope !== 'full') return false;
  if (isServerAdmin(me)) return true;
  const owner = job.owner;
  if (!owner) return false;
  if (owner.type === 'user') return owner.id === me.user?.id;
  const role = me.orgs.find((o) => o.id === owner.id)?.role;
  return role === 'admin' || role === 'member';
}

/** Whether the token may submit at all (the server checks the owner). */
export function maySubmit(me: WhoAmI): boolean {
  if (me.token.scope === 'read') return false;
  return isServerAdmin(me) || me.user !== null;
}
