/** The audit log: every call that changes something is an `audit` event naming who did it. */
import type { Store } from '../store/store.js';
import type { Principal } from './context.js';

export interface AuditEntry {
  action: string;
  jobId?: number;
  nodeId?: string;
  /** What was changed, never secret values or tokens. */
  details?: Record<string, unknown>;
}

/** Who did it: a token's principal, or a part of the server acting by itself (`scheduler`). */
export type Actor = Principal | string | null;

export function actorOf(p: Actor): string {
  if (!p) return 'anonymous';
  if (typeof p === 'string') return p;
  return p.userName ? `${p.userName} (token ${p.name})` : `token ${p.name}`;
}

export async function audit(store: Store, p: Actor, entry: AuditEntry, now = Date.now()): Promise<void> {
  await store.applyChanges({
    events: [
      {
        type: 'audit',
        ts: now,
        ...(entry.jobId !== undefined ? { jobId: entry.jobId } : {}),
        ...(entry.nodeId !== undefined ? { nodeId: entry.nodeId } : {}),
        data: {
          actor: actorOf(p),
          userId: typeof p === 'string' ? null : (p?.userId ?? null),
          action: entry.action,
          ...(entry.details ?? {}),
        },
      },
    ],
  });
}
