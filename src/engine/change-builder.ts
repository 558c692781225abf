/**
 * Collects the changes of one decision into a ChangeSet: each transition is checked against its
 * state machine, applied to the in-memory records at once (so the rest of the decision sees it),
 * and paired with its event. Stage statuses are re-derived for every stage a task change touched.
 */
import type { JobStatus, NodeState, TaskStatus } from '../core/types.js';
import type { ChangeSet, NodeRecord, TaskChange, TaskRecord } from '../store/store.js';
import type { JobRun } from './job-run.js';
import { canTransitionJob, isJobTerminal } from './job-state.js';
import { canTransitionNode } from './node-state.js';
import { deriveStageStatus } from './stage-status.js';
import { canTransitionTask, isTaskActive } from './task-state.js';

export class IllegalTransitionError extends Error {}

type TaskPatch = TaskChange['set'];

export class ChangeBuilder {
  readonly changes: ChangeSet = { jobs: [], stages: [], tasks: [], nodes: [], events: [] };
  /** Per node, how many tasks became active (+) or stopped being active (-) in this decision. */
  readonly activeDelta = new Map<string, number>();
  /** Locks were released, or a job that waited for locks ended: queued jobs may take them now. */
  locksChanged = false;
  private readonly touchedStages = new Map<JobRun, Set<string>>();

  constructor(readonly now: number) {}

  get empty(): boolean {
    return this.changes.events.length === 0;
  }

  task(
    run: JobRun,
    task: TaskRecord,
    to: TaskStatus,
    patch: TaskPatch = {},
    data: Record<string, unknown> = {},
  ): void {
    const from = task.status;
    if (!canTransitionTask(from, to)) {
      throw new IllegalTransitionError(`job ${run.id} task ${run.label(task)}: ${from} -> ${to}`);
    }
    const set = { ...patch, status: to };
    this.changes.tasks?.push({
      jobId: run.id,
      taskId: task.id,
      expect: { status: from, attempt: task.attempt },
      set,
    });
    Object.assign(task, set);
    if (isTaskActive(from) !== isTaskActive(to) && task.nodeId) {
      this.activeDelta.set(
        task.nodeId,
        (this.activeDelta.get(task.nodeId) ?? 0) + (isTaskActive(to) ? 1 : -1),
      );
    }
    const eventData: Record<string, unknown> = {
      node: task.node,
      task: task.name,
      attempt: task.attempt,
      ...data,
    };
    if (set.exitCode !== undefined && set.exitCode !== null) eventData.exitCode = set.exitCode;
    if (set.text) eventData.text = set.text;
    this.changes.events.push({
      type: 'task.status',
      ts: this.now,
      jobId: run.id,
      taskId: task.id,
      stage: task.stage,
      from,
      to,
      data: eventData,
    });
    const stages = this.touchedStages.get(run) ?? new Set<string>();
    this.touchedStages.set(run, stages);
    stages.add(task.stage);
  }

  job(
    run: JobRun,
    to: JobStatus,
    patch: Omit<NonNullable<ChangeSet['jobs']>[number]['set'], 'status'> = {},
  ): void {
    const from = run.job.status;
    if (!canTransitionJob(from, to)) throw new IllegalTransitionError(`job ${run.id}: ${from} -> ${to}`);
    const set = { ...patch, status: to };
    this.changes.jobs?.push({ id: run.id, expect: from, set });
    Object.assign(run.job, set);
    const data: Record<string, unknown> = {};
    if (set.reason) data.reason = set.reason;
    // A job's locks go in the transaction that ends it, however it ends.
    if (isJobTerminal(to) && run.heldLocks.length > 0) {
      for (const l of run.heldLocks) {
        this.changes.events.push({
          type: 'lock.released',
          ts: this.now,
          jobId: run.id,
          data: { lock: l.name, mode: l.mode, status: to },
        });
      }
      run.heldLocks = [];
      this.locksChanged = true;
    } else if (isJobTerminal(to) && run.job.spec.locks?.length) {
      this.locksChanged = true; // it no longer waits ahead of others
    }
    this.changes.events.push({ type: 'job.status', ts: this.now, jobId: run.id, from, to, data });
  }

  /** An event that goes with this decision's changes (lock taken or broken). */
  event(e: ChangeSet['events'][number]): void {
    this.changes.events.push(e);
  }

  /** A job field change that is not a status transition (placement, waitingFor, stop request). */
  jobFields(
    run: JobRun,
    set: Omit<NonNullable<ChangeSet['jobs']>[number]['set'], 'status'>,
    event?: ChangeSet['events'][number],
  ): void {
    this.changes.jobs?.push({ id: run.id, set });
    Object.assign(run.job, set);
    if (event) this.changes.events.push(event);
  }

  node(node: NodeRecord, to: NodeState, data: Record<string, unknown> = {}): void {
    const from = node.state;
    if (from === to) return;
    if (!canTransitionNode(from, to)) throw new IllegalTransitionError(`node ${node.id}: ${from} -> ${to}`);
    this.changes.nodes?.push({ id: node.id, expect: from, set: { state: to } });
    node.state = to;
    this.changes.events.push({ type: 'node.state', ts: this.now, nodeId: node.id, from, to, data });
  }

  /** Re-derives the status of every stage touched by a task change; call before committing. */
  deriveStages(): void {
    for (const [run, names] of this.touchedStages) {
      for (const name of names) {
        const stage = run.stages.get(name);
        if (!stage) continue;
        const to = deriveStageStatus(run.tasksOfStage(name).map((t) => t.status));
        const from = stage.status;
        if (to === from) continue;
        const set: NonNullable<ChangeSet['stages']>[number]['set'] = { status: to };
        if (stage.startedAt === null && to !== 'queued' && to !== 'skipped') set.startedAt = this.now;
        if (to === 'ready' && stage.readyAt === null) set.readyAt = this.now;
        if (['succeeded', 'failed', 'stopped', 'skipped'].includes(to)) set.endedAt = this.now;
        this.changes.stages?.push({ jobId: run.id, name, expect: from, set });
        Object.assign(stage, set);
        this.changes.events.push({
          type: 'stage.status',
          ts: this.now,
          jobId: run.id,
          stage: name,
          from,
          to,
        });
      }
    }
    this.touchedStages.clear();
  }
}
