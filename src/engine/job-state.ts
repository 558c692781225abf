/** The job state machine, and the one place that decides a finished job's final status. */
import type { JobStatus, TaskStatus } from '../core/types.js';

export const JOB_TRANSITIONS: Record<JobStatus, readonly JobStatus[]> = {
  queued: ['running', 'stopped', 'failed'],
  running: ['stopping', 'succeeded', 'failed', 'stopped'],
  stopping: ['succeeded', 'failed', 'stopped'],
  succeeded: [],
  failed: [],
  stopped: [],
};

const TERMINAL: Record<JobStatus, boolean> = {
  queued: false,
  running: false,
  stopping: false,
  succeeded: true,
  failed: true,
  stopped: true,
};

export const isJobTerminal = (s: JobStatus): boolean => TERMINAL[s];

export function canTransitionJob(from: JobStatus, to: JobStatus): boolean {
  return JOB_TRANSITIONS[from].includes(to);
}

/** Final status of a job whose tasks have all ended: a failure wins, then a stop request. */
export function finalJobStatus(tasks: readonly TaskStatus[], stopRequested: boolean): JobStatus {
  if (tasks.some((s) => s === 'failed' || s === 'lost')) return 'failed';
  if (stopRequested) return 'stopped';
  return 'succeeded';
}
