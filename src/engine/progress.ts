/**
 * What happens next in a job, decided from its current state: which tasks start, which stop, which
 * are skipped, when a stopper is done, when the job starts ending. Pure decisions over a JobRun;
 * the coordinator supplies the effects (dispatch, stop) through a StepContext.
 */
import type { TaskSpec } from '../spec/model.js';
import type { TaskRecord } from '../store/store.js';
import type { ChangeBuilder } from './change-builder.js';
import type { JobRun } from './job-run.js';
import { isStageDone } from './stage-status.js';
import { isTaskActive, isTaskDone, isTaskFailure, isTaskTerminal } from './task-state.js';

export interface StepContext {
  b: ChangeBuilder;
  now: number;
  /** Start the task's next attempt (not for stoppers). */
  start(run: JobRun, task: TaskRecord): void;
  /** Ask the task's agent to stop its current attempt. */
  stop(run: JobRun, task: TaskRecord, reason: string): void;
}

/** Advances the job as far as it can go now. Returns true when every task has ended. */
export function advance(run: JobRun, ctx: StepContext): boolean {
  // Each pass may unlock more (a stopper with nothing to stop ends at once, opening the next stage).
  for (let pass = 0; pass < 1000; pass++) {
    const before = ctx.b.changes.events.length;
    ctx.b.deriveStages();
    if (isEnding(run)) endJob(run, ctx);
    else {
      finishStoppers(run, ctx);
      startRunnable(run, ctx);
      stopBackgroundWhenGraphDone(run, ctx);
    }
    ctx.b.deriveStages();
    if (ctx.b.changes.events.length === before) break;
  }
  return run.tasks.every((t) => isTaskTerminal(t.status)) && run.retryAt.size === 0;
}

function isEnding(run: JobRun): boolean {
  return run.job.stopRequested || run.tasks.some((t) => isTaskFailure(t.status));
}

function endJob(run: JobRun, ctx: StepContext): void {
  const failed = run.tasks.find((t) => isTaskFailure(t.status));
  if (run.endReason === null) {
    run.endReason = failed
      ? `task ${run.label(failed)} ${failed.status}: ${failed.text ?? ''}`.trim()
      : 'stopped';
  }
  const why = failed ? `job failed: task ${run.label(failed)} ${failed.status}` : 'job stopped';
  for (const t of run.tasks) {
    if (t.status === 'queued') {
      run.retryAt.delete(t.id);
      ctx.b.task(run, t, 'skipped', { text: `not run: ${why}` });
    } else if (isTaskActive(t.status) && !run.stopSent.has(t.id)) {
      ctx.stop(run, t, why);
    }
  }
  if (run.job.status === 'running' && run.tasks.some((t) => isTaskActive(t.status))) {
    ctx.b.job(run, 'stopping', { reason: run.endReason });
  }
}

/**
 * Stopper tasks end once every task they stop has ended. Until then their stops are (re)sent: which
 * stops were sent is not stored, so after a server restart (or a lease takeover) a stopper that was
 * running would otherwise wait forever for a stop that never reached the agent.
 */
function finishStoppers(run: JobRun, ctx: StepContext): void {
  for (const t of run.tasks) {
    if (t.status !== 'running') continue;
    const spec = run.taskSpec(t);
    if (spec.driver !== 'stopper') continue;
    const targets = stopperTargets(run, t, spec);
    for (const target of targets) {
      if (isTaskActive(target.status) && !run.stopSent.has(target.id)) {
        ctx.stop(run, target, `by stopper ${run.label(t)}`);
      }
    }
    if (targets.every((x) => isTaskTerminal(x.status))) {
      const n = targets.filter((x) => x.status === 'stopped').length;
      ctx.b.task(run, t, 'succeeded', {
        endedAt: ctx.now,
        exitCode: 0,
        text: `stopped ${n} task${n === 1 ? '' : 's'}`,
      });
    }
  }
}

export function stopperTargets(
  run: JobRun,
  stopper: TaskRecord,
  spec: Extract<TaskSpec, { driver: 'stopper' }>,
): TaskRecord[] {
  const { stage, task, all } = spec.stopper;
  return run.tasks.filter(
    (x) => x.stage === stage && x.node === stopper.node && (all ? x.longRunning : x.name === task),
  );
}

/** Starts the tasks of every stage whose needs are done: per node, the first group not yet done. */
function startRunnable(run: JobRun, ctx: StepContext): void {
  for (const stage of run.job.spec.stages) {
    const needsDone = stage.needs.every((n) => {
      const s = run.stages.get(n);
      return s !== undefined && isStageDone(s.status);
    });
    if (!needsDone) continue;
    const tasks = run.tasksOfStage(stage.name);
    for (const node of run.stageNodes(stage)) {
      const onNode = tasks.filter((t) => t.node === node);
      for (const group of stage.groups) {
        const members = onNode.filter((t) => group.tasks.includes(t.name));
        if (members.every((t) => isTaskDone(t.status))) continue;
        for (const t of members) if (t.status === 'queued' && !run.retryAt.has(t.id)) startTask(run, t, ctx);
        break; // later groups wait for this one
      }
    }
  }
}

function startTask(run: JobRun, task: TaskRecord, ctx: StepContext): void {
  const spec = run.taskSpec(task);
  if (spec.driver !== 'stopper') {
    ctx.start(run, task);
    return;
  }
  const placed = run.placed(task.node);
  ctx.b.task(run, task, 'running', {
    attempt: task.attempt + 1,
    nodeId: placed?.nodeId ?? null,
    startedAt: ctx.now,
  });
  for (const target of stopperTargets(run, task, spec)) {
    if (isTaskActive(target.status) && !run.stopSent.has(target.id)) {
      ctx.stop(run, target, `by stopper ${run.label(task)}`);
    }
  }
}

/** When every stage is done, long-running tasks still in the background are stopped. */
function stopBackgroundWhenGraphDone(run: JobRun, ctx: StepContext): void {
  for (const s of run.stages.values()) if (!isStageDone(s.status)) return;
  for (const t of run.tasks) {
    if (isTaskActive(t.status) && !run.stopSent.has(t.id))
      ctx.stop(run, t, 'job finished: every stage is done');
  }
}
