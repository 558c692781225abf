/**
 * What an attempt's end means for its task: the outcome an agent reported, a lost node, or a report
 * that arrives for an attempt that was given up (superseded: recorded, and it changes nothing).
 */
import type { AgentReport } from '../agent/protocol.js';
import type { TaskRecord } from '../store/store.js';
import type { ChangeBuilder } from './change-builder.js';
import type { JobRun } from './job-run.js';
import { isTaskActive } from './task-state.js';

export type AttemptReport = Extract<AgentReport, { type: 'task.ready' | 'task.exited' | 'task.started' }>;

/** What the coordinator must do after a report was applied. */
export interface AttemptFollowUp {
  /** Start the task again after this long (a retry). */
  retryInMs?: number;
}

/** Whether a failed (or lost) attempt gets another one. */
export function mayRetry(run: JobRun, task: TaskRecord): boolean {
  if (run.job.stopRequested || run.job.status !== 'running') return false;
  if (task.longRunning && task.readyAt !== null) return false; // a service that died mid-run is not restarted
  return task.attempt <= run.taskSpec(task).retries.count;
}

export function retryDelay(run: JobRun, task: TaskRecord): number {
  const r = run.taskSpec(task).retries;
  return Math.min(r.backoffMs * 2 ** Math.max(0, task.attempt - 1), r.maxBackoffMs);
}

/** Whether the report is about the task's current, live attempt. */
export function isCurrent(run: JobRun, report: AttemptReport): boolean {
  const task = run.task(report.ref.taskId);
  return task !== undefined && task.attempt === report.ref.attempt && isTaskActive(task.status);
}

/** Applies a report about the current attempt. */
export function applyAttemptReport(run: JobRun, report: AttemptReport, b: ChangeBuilder): AttemptFollowUp {
  const task = run.task(report.ref.taskId);
  if (!task || report.type === 'task.started') return {};
  if (report.type === 'task.ready') {
    if (task.status === 'running') b.task(run, task, 'ready', { readyAt: report.ts });
    return {};
  }
  const stopAsked = run.stopSent.delete(task.id) || run.job.stopRequested;
  if (report.cleaned && task.nodeId) run.cleanedNodes.add(task.nodeId);
  const patch = {
    endedAt: report.ts,
    exitCode: report.exitCode,
    text: report.text,
    ...(report.startedAt !== undefined ? { startedAt: report.startedAt } : {}),
  };
  // Ended by its agent on its own (stopping, or cut off from the server): as good as a lost node,
  // unless a stop had been asked for anyway.
  if (report.outcome === 'abandoned' && !stopAsked) return loseTask(run, task, report.text, b);
  if (report.outcome === 'succeeded' || report.outcome === 'stopped' || report.outcome === 'abandoned') {
    b.task(run, task, report.outcome === 'succeeded' ? 'succeeded' : 'stopped', patch);
    return {};
  }
  if (!mayRetry(run, task)) {
    b.task(run, task, 'failed', patch);
    return {};
  }
  const delay = retryDelay(run, task);
  b.task(
    run,
    task,
    'queued',
    { ...patch, text: `attempt ${task.attempt} failed: ${report.text}; retrying in ${delay}ms` },
    {
      retryInMs: delay,
    },
  );
  return { retryInMs: delay };
}

/** The task's node is gone: the attempt is lost; another one follows if the spec allows. */
export function loseTask(run: JobRun, task: TaskRecord, reason: string, b: ChangeBuilder): AttemptFollowUp {
  run.stopSent.delete(task.id);
  b.task(run, task, 'lost', { endedAt: b.now, text: reason });
  if (!mayRetry(run, task)) return {};
  const delay = retryDelay(run, task);
  b.task(
    run,
    task,
    'queued',
    { text: `attempt ${task.attempt} lost: ${reason}; retrying in ${delay}ms` },
    {
      retryInMs: delay,
    },
  );
  return { retryInMs: delay };
}

/** Records a report that no longer counts: its attempt was given up or replaced. */
export function recordSuperseded(
  nodeId: string,
  report: AttemptReport,
  task: TaskRecord | undefined,
  b: ChangeBuilder,
): void {
  b.changes.events.push({
    type: 'task.superseded',
    ts: b.now,
    jobId: report.ref.jobId,
    taskId: report.ref.taskId,
    nodeId,
    data: {
      attempt: report.ref.attempt,
      report: report.type,
      ...(report.type === 'task.exited' ? { outcome: report.outcome, text: report.text } : {}),
      ...(task ? { currentAttempt: task.attempt, currentStatus: task.status } : {}),
    },
  });
}
