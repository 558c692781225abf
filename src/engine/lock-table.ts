/**
 * Locks as the coordinator sees them: who holds what (jobs that run, less broken locks), who waits,
 * what the server declares. Decisions are lock-state.ts's; this gathers their input from the
 * active jobs, records acquisitions and breaks as events, and rebuilds itself after a restart.
 */
import { sameOwner } from '../core/types.js';
import type { JobRecord, LockDecl, Store } from '../store/store.js';
import type { ChangeBuilder } from './change-builder.js';
import type { JobRun } from './job-run.js';
import {
  type HeldLock,
  type LockHolder,
  type LockVerdict,
  type LockView,
  type LockWaiter,
  lockMode,
  lockVerdict,
} from './lock-state.js';

/** The locks a job takes, with their modes (a declared lock defaults to one shared slot). */
export function wantedLocks(job: JobRecord, capacity: (name: string) => number | undefined): HeldLock[] {
  return (job.spec.locks ?? []).map((l) => ({ name: l.name, mode: lockMode(l, capacity(l.name)) }));
}

/** Whether a job of this status holds the locks it took (from its placement to its end). */
export function holdsLocks(status: JobRecord['status']): boolean {
  return status === 'running' || status === 'stopping';
}

/** Names of the locks an admin broke for a job, from its `lock.broken` events. */
export async function brokenLocksOf(store: Store, jobId: number): Promise<Set<string>> {
  const events = await store.listEvents({ jobId, types: ['lock.broken'], limit: 10_000 });
  return new Set(events.map((e) => String(e.data?.lock ?? '')));
}

export class LockTable {
  private decls: Map<string, LockDecl> | undefined;

  constructor(private readonly store: Store) {}

  /** Reads the declared locks again (after one was declared, changed or removed). */
  async reload(): Promise<void> {
    this.decls = new Map((await this.store.listLockDecls()).map((d) => [d.name, d]));
  }

  private async capacity(): Promise<(name: string) => number | undefined> {
    if (!this.decls) await this.reload();
    const decls = this.decls ?? new Map<string, LockDecl>();
    return (name) => decls.get(name)?.capacity;
  }

  /** After a restart: what a running job held (its locks less those broken). */
  async restore(run: JobRun): Promise<void> {
    if (!holdsLocks(run.job.status) || !run.job.spec.locks?.length) return;
    const broken = await brokenLocksOf(this.store, run.id);
    run.heldLocks = wantedLocks(run.job, await this.capacity()).filter((l) => !broken.has(l.name));
  }

  /** May this queued job take its locks now, given every active job? */
  async verdict(run: JobRun, active: Iterable<JobRun>): Promise<LockVerdict> {
    if (!run.job.spec.locks?.length) return { ok: true };
    const runs = [...active];
    const capacity = await this.capacity();
    const holders = new Map<string, LockHolder[]>();
    const waiting: LockWaiter[] = [];
    for (const r of runs) {
      for (const l of r.heldLocks) {
        const list = holders.get(l.name) ?? [];
        list.push({ jobId: r.id, mode: l.mode, since: r.job.startedAt });
        holders.set(l.name, list);
      }
      if (r.job.status === 'queued' && !r.job.held && !r.job.stopRequested && r.job.spec.locks?.length) {
        waiting.push({ jobId: r.id, wants: wantedLocks(r.job, capacity) });
      }
    }
    waiting.sort((a, b) => a.jobId - b.jobId);
    // The reason is shown to the waiting job's readers: another owner's job is not named to them.
    const owners = new Map<number, JobRecord['owner']>();
    for (const r of runs) owners.set(r.id, r.job.owner);
    const mine = run.job.owner;
    const jobName = (id: number) => {
      return sameOwner(owners.get(id) ?? null, mine) ? `job ${id}` : 'a job of another owner';
    };
    const view: LockView = { holders: (name) => holders.get(name) ?? [], waiting, capacity, jobName };
    return lockVerdict(run.id, wantedLocks(run.job, capacity), view);
  }

  /** The job takes its locks, in the decision that places it (their events in its transaction). */
  async acquire(run: JobRun, b: ChangeBuilder): Promise<void> {
    if (!run.job.spec.locks?.length) return;
    run.heldLocks = wantedLocks(run.job, await this.capacity());
    for (const l of run.heldLocks) {
      b.event({ type: 'lock.acquired', ts: b.now, jobId: run.id, data: { lock: l.name, mode: l.mode } });
    }
  }

  /** An admin breaks a lock: every job holding it holds it no more. Returns those jobs. */
  breakLock(name: string, runs: Iterable<JobRun>, b: ChangeBuilder, by: string): number[] {
    const jobs: number[] = [];
    for (const r of runs) {
      if (!r.heldLocks.some((l) => l.name === name)) continue;
      r.heldLocks = r.heldLocks.filter((l) => l.name !== name);
      b.event({ type: 'lock.broken', ts: b.now, jobId: r.id, data: { lock: name, by } });
      jobs.push(r.id);
    }
    return jobs;
  }
}
