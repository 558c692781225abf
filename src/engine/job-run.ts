/**
 * The coordinator's in-memory view of one active job: its records (a mirror of the store, changed
 * only through a ChangeBuilder), lookups from the spec, and the bookkeeping of what was sent to
 * agents. Rebuilt from the store when the coordinator (re)starts.
 */
import type { JobFilesInfo } from '../agent/protocol.js';
import { stageAssignments } from '../plan/selectors.js';
import type { StageSpec, TaskSpec } from '../spec/model.js';
import type { JobDetail, JobRecord, PlacedNode, StageRecord, TaskRecord } from '../store/store.js';
import type { HeldLock } from './lock-state.js';

export class JobRun {
  readonly job: JobRecord;
  readonly stages: Map<string, StageRecord>;
  readonly tasks: TaskRecord[];
  readonly stageSpecs: Map<string, StageSpec>;
  /** Attempts (by task id) that were sent a stop and have not ended yet. */
  readonly stopSent = new Set<number>();
  /** Tasks waiting for their retry backoff (task id to the time it may start). */
  readonly retryAt = new Map<number, number>();
  /** Nodes where the job's leftovers were cleaned after its last task there (no job.cleanup needed). */
  readonly cleanedNodes = new Set<string>();
  /** Nodes whose cleanup of the job's leftover processes has not been confirmed yet. */
  cleanupPending: Set<string> | null = null;
  /** The owner org's secrets the spec uses, decrypted, in memory only (loaded before dispatch). */
  secrets: Record<string, string> | undefined;
  /** The job's files as its tasks get them (made ready before it was placed); undefined until then. */
  files: JobFilesInfo | undefined;
  /** The locks the job holds (taken when it was placed, released when it ends). */
  heldLocks: HeldLock[] = [];
  /** Why the job is ending (first failure or the stop request), for its final `reason`. */
  endReason: string | null = null;

  constructor(detail: JobDetail) {
    this.job = detail.job;
    this.stages = new Map(detail.stages.map((s) => [s.name, s]));
    this.tasks = detail.tasks;
    this.stageSpecs = new Map(detail.job.spec.stages.map((s) => [s.name, s]));
  }

  get id(): number {
    return this.job.id;
  }

  stageSpec(name: string): StageSpec {
    const s = this.stageSpecs.get(name);
    if (!s) throw new Error(`job ${this.id}: no stage ${name}`);
    return s;
  }

  taskSpec(task: TaskRecord): TaskSpec {
    const t = this.stageSpec(task.stage).tasks[task.index];
    if (!t) throw new Error(`job ${this.id}: no task ${task.index} in stage ${task.stage}`);
    return t;
  }

  task(id: number): TaskRecord | undefined {
    return this.tasks[id - 1]?.id === id ? this.tasks[id - 1] : this.tasks.find((t) => t.id === id);
  }

  tasksOfStage(stage: string): TaskRecord[] {
    return this.tasks.filter((t) => t.stage === stage);
  }

  /** The stage's assignments, in spec order. */
  stageNodes(stage: StageSpec): string[] {
    return stageAssignments(stage, this.job.spec.nodeAssignments).map((a) => a.name);
  }

  placed(assignment: string): PlacedNode | undefined {
    return this.job.placement?.find((p) => p.assignment === assignment);
  }

  /** `stage/node/task`: how messages and logs name a task. */
  label(task: TaskRecord): string {
    return `${task.stage}/${task.node}/${task.name}`;
  }
}
