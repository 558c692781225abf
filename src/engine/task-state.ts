/**
 * The task state machine. A task is one task of a stage on one node; each start is an attempt.
 * `running -> queued` is a retry: the attempt failed and another one is scheduled.
 */
import type { TaskStatus } from '../core/types.js';

export const TASK_TRANSITIONS: Record<TaskStatus, readonly TaskStatus[]> = {
  queued: ['running', 'skipped', 'failed'],
  running: ['ready', 'succeeded', 'failed', 'stopped', 'lost', 'queued'],
  ready: ['succeeded', 'failed', 'stopped', 'lost'],
  succeeded: [],
  failed: [],
  stopped: [],
  skipped: [],
  lost: ['queued'],
};

const TERMINAL: Record<TaskStatus, boolean> = {
  queued: false,
  running: false,
  ready: false,
  succeeded: true,
  failed: true,
  stopped: true,
  skipped: true,
  lost: true,
};

/** Whether the task has a live attempt on a node. */
const ACTIVE: Record<TaskStatus, boolean> = {
  queued: false,
  running: true,
  ready: true,
  succeeded: false,
  failed: false,
  stopped: false,
  skipped: false,
  lost: false,
};

/** Done as far as what comes after it is concerned: finished well, or a long-running task ready. */
const DONE: Record<TaskStatus, boolean> = {
  queued: false,
  running: false,
  ready: true,
  succeeded: true,
  failed: false,
  stopped: true,
  skipped: true,
  lost: false,
};

export const isTaskTerminal = (s: TaskStatus): boolean => TERMINAL[s];
export const isTaskActive = (s: TaskStatus): boolean => ACTIVE[s];
export const isTaskDone = (s: TaskStatus): boolean => DONE[s];
export const isTaskFailure = (s: TaskStatus): boolean => s === 'failed' || s === 'lost';

export function canTransitionTask(from: TaskStatus, to: TaskStatus): boolean {
  return TASK_TRANSITIONS[from].includes(to);
}
