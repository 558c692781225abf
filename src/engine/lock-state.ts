/**
 * The lock state machine and the one place that decides whether a queued job may take its locks
 * (seed 002). A lock is `free`, held `shared` by one or more jobs, or held `exclusive` by one. A job
 * takes all of its locks at once or none, so no job ever holds some while waiting for others (no
 * deadlock), and in submission order: a job never overtakes an earlier queued job that wants the
 * same lock, unless both only share it and there is room for both.
 *
 * Holding is derived, not stored apart: a job holds its locks while it is running or stopping, from
 * the transaction that places it to the one that ends it (see ChangeBuilder.job), less the ones an
 * admin broke (`lock.broken` events). So a lock can never outlive its job, however the job ends.
 */
import type { LockSpec } from '../spec/model.js';

export type LockMode = 'exclusive' | 'shared';
export type LockState = 'free' | LockMode;

/** Which holder modes a lock in each state admits next. */
export const LOCK_TRANSITIONS: Record<LockState, readonly LockMode[]> = {
  free: ['exclusive', 'shared'],
  shared: ['shared'],
  exclusive: [],
};

export interface HeldLock {
  name: string;
  mode: LockMode;
}

export interface LockHolder {
  jobId: number;
  mode: LockMode;
  /** When the holder started (its startedAt). */
  since: number | null;
}

export interface LockWaiter {
  jobId: number;
  wants: HeldLock[];
}

export interface LockView {
  /** Current holders of each lock. */
  holders(name: string): readonly LockHolder[];
  /** Queued jobs that want locks, in submission order. */
  waiting: readonly LockWaiter[];
  /** Capacities the server declares (a semaphore of N holders); absent: no limit on sharing. */
  capacity(name: string): number | undefined;
  /**
   * How a waiting reason names another job: `job 12`, or without its id when the waiting job's
   * readers may not see it (default: by id).
   */
  jobName?(jobId: number): string;
}

export type LockVerdict = { ok: true } | { ok: false; reason: string };

/** The mode a job takes a lock in: as written, else one slot of a declared lock, else exclusive. */
export function lockMode(spec: LockSpec, capacity: number | undefined): LockMode {
  return spec.mode ?? (capacity !== undefined ? 'shared' : 'exclusive');
}

export function lockState(holders: readonly LockHolder[]): LockState {
  if (holders.length === 0) return 'free';
  return holders.some((h) => h.mode === 'exclusive') ? 'exclusive' : 'shared';
}

/** Whether a lock with these holders takes one more in `mode`. */
export function admits(
  holders: readonly LockHolder[],
  mode: LockMode,
  capacity: number | undefined,
): boolean {
  if (!LOCK_TRANSITIONS[lockState(holders)].includes(mode)) return false;
  return capacity === undefined || holders.length < capacity;
}

/** May job `jobId` take all of `wants` now? If not, why (for its `waitingFor`). */
export function lockVerdict(jobId: number, wants: readonly HeldLock[], view: LockView): LockVerdict {
  const job = (id: number) => view.jobName?.(id) ?? `job ${id}`;
  for (const want of wants) {
    const holders = view.holders(want.name).filter((h) => h.jobId !== jobId);
    const capacity = view.capacity(want.name);
    // First come, first served: earlier queued jobs that want this lock go first.
    const ahead: LockHolder[] = [];
    for (const w of view.waiting) {
      if (w.jobId >= jobId) continue;
      const theirs = w.wants.find((x) => x.name === want.name);
      if (!theirs) continue;
      if (theirs.mode === 'exclusive' || want.mode === 'exclusive') {
        return { ok: false, reason: `lock ${want.name}: ${job(w.jobId)} is ahead in the queue for it` };
      }
      ahead.push({ jobId: w.jobId, mode: theirs.mode, since: null });
    }
    if (!admits([...holders, ...ahead], want.mode, capacity)) {
      const holder = holders[0];
      if (!holder) {
        const first = ahead[0];
        return {
          ok: false,
          reason: first
            ? `lock ${want.name}: ${job(first.jobId)} is ahead in the queue for it`
            : `lock ${want.name} has capacity ${capacity ?? 0}`,
        };
      }
      const since = holder.since === null ? '' : ` (running since ${new Date(holder.since).toISOString()})`;
      const others = holders.length > 1 ? ` and ${holders.length - 1} more` : '';
      const full =
        capacity !== undefined && holders.length >= capacity ? `, all ${capacity} slots taken` : '';
      return { ok: false, reason: `lock ${want.name} held by ${job(holder.jobId)}${since}${others}${full}` };
    }
  }
  return { ok: true };
}
