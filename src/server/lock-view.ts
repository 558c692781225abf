/**
 * Every lock as the store shows it, for the API: declared ones, and those that active jobs hold or
 * wait for. Read from the store (any replica answers), with the same rules as the coordinator's
 * (engine/lock-state.ts, engine/lock-table.ts).
 */

import { lockState } from '../engine/lock-state.js';
import { brokenLocksOf, holdsLocks, wantedLocks } from '../engine/lock-table.js';
import type { JobRecord, Store } from '../store/store.js';
import { isoOrNull } from './job-view.js';
import type { LockView } from './lock-schemas.js';

export async function lockSnapshot(store: Store, canSee: (job: JobRecord) => boolean): Promise<LockView[]> {
  const decls = new Map((await store.listLockDecls()).map((d) => [d.name, d]));
  const capacity = (name: string) => decls.get(name)?.capacity;
  const views = new Map<string, LockView>();
  const view = (name: string): LockView => {
    let v = views.get(name);
    if (!v) {
      v = { name, capacity: capacity(name) ?? null, state: 'free', holders: [], queue: [] };
      views.set(name, v);
    }
    return v;
  };
  for (const name of decls.keys()) view(name);
  const ids = [...(await store.listActiveJobIds())].sort((a, b) => a - b);
  for (const id of ids) {
    const job = await store.getJob(id);
    if (!job?.spec.locks?.length) continue;
    const jobId = canSee(job) ? job.id : null;
    if (holdsLocks(job.status)) {
      const broken = await brokenLocksOf(store, job.id);
      for (const l of wantedLocks(job, capacity)) {
        if (!broken.has(l.name))
          view(l.name).holders.push({ jobId, mode: l.mode, since: isoOrNull(job.startedAt) });
      }
    } else if (job.status === 'queued' && !job.stopRequested) {
      for (const l of wantedLocks(job, capacity)) {
        view(l.name).queue.push({ jobId, mode: l.mode, since: isoOrNull(job.createdAt) });
      }
    }
  }
  for (const v of views.values()) {
    v.state = lockState(v.holders.map((h) => ({ jobId: h.jobId ?? 0, mode: h.mode, since: null })));
  }
  return [...views.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
