/**
 * A stage's status is derived from its tasks' statuses, here and nowhere else, by an ordered table:
 * the first rule that holds gives the status.
 */
import type { StageStatus, TaskStatus } from '../core/types.js';

type Counts = Record<TaskStatus, number> & { total: number };

const RULES: ReadonlyArray<readonly [StageStatus, (c: Counts) => boolean]> = [
  ['failed', (c) => c.failed + c.lost > 0],
  ['queued', (c) => c.queued === c.total],
  ['skipped', (c) => c.skipped === c.total],
  ['running', (c) => c.running + c.queued > 0],
  ['ready', (c) => c.ready > 0],
  ['stopped', (c) => c.stopped > 0],
  ['succeeded', () => true],
];

export function deriveStageStatus(tasks: readonly TaskStatus[]): StageStatus {
  const c: Counts = {
    queued: 0,
    running: 0,
    ready: 0,
    succeeded: 0,
    failed: 0,
    stopped: 0,
    skipped: 0,
    lost: 0,
    total: 0,
  };
  for (const s of tasks) {
    c[s]++;
    c.total++;
  }
  for (const [status, holds] of RULES) if (holds(c)) return status;
  return 'succeeded';
}

/** Done for the stages that need it: what follows may start. */
const DONE: Record<StageStatus, boolean> = {
  queued: false,
  running: false,
  ready: true,
  succeeded: true,
  failed: false,
  stopped: true,
  skipped: true,
};

export const isStageDone = (s: StageStatus): boolean => DONE[s];
