/**
 * Core vocabulary of jobhub. Glossary:
 *
 * - **Job spec**: the YAML/JSON document a user writes (seed 000's format plus design.md's additions).
 * - **Job**: one execution of a spec; integer id given at submission.
 * - **Node assignment**: a named slot in a spec (`srv`, `cli`) that the scheduler fills with a real node.
 * - **Node**: a machine (or, embedded, a local working directory) running an agent.
 * - **Stage**: a named group of tasks that runs on every node its selectors pick.
 * - **Task**: one task of a stage on one node (a "task instance"); it runs as one or more attempts.
 * - **Attempt**: one start of a task on a node; retries make new attempts. Its id fences reports.
 * - **Long-running task**: started in the background; counts as done once its readiness probes pass.
 * - **Stopper**: a task that stops long-running tasks of an earlier stage.
 * - **Event**: an appended record of a state change, written in the same transaction as the change.
 */

export const JOB_STATUSES = ['queued', 'running', 'stopping', 'succeeded', 'failed', 'stopped'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export const TASK_STATUSES = [
  'queued',
  'running',
  'ready',
  'succeeded',
  'failed',
  'stopped',
  'skipped',
  'lost',
] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export const STAGE_STATUSES = [
  'queued',
  'running',
  'ready',
  'succeeded',
  'failed',
  'stopped',
  'skipped',
] as const;
export type StageStatus = (typeof STAGE_STATUSES)[number];

export const NODE_STATES = ['idle', 'busy', 'draining', 'down', 'left'] as const;
export type NodeState = (typeof NODE_STATES)[number];

export type StageType = 'short' | 'longRunning' | 'stopper';
export type Driver = 'shell' | 'exec' | 'docker' | 'stopper';

/** Unix epoch milliseconds. */
export type Millis = number;

export interface Owner {
  id: string;
  name: string;
  type: 'user' | 'org';
}

/** Whether two owners are the same user or org (by id; null is "no owner"). */
export function sameOwner(a: Owner | null, b: Owner | null): boolean {
  return (a?.type ?? null) === (b?.type ?? null) && (a?.id ?? null) === (b?.id ?? null);
}

export type Labels = Record<string, string>;

/** Seed 001's node info, as an agent reports it at registration. */
export interface NodeInfo {
  /** Stable id kept in the agent's data folder. */
  id: string;
  /** Node name; defaults to the hostname. */
  name: string;
  host: string;
  addr: {
    /** The ip others reach this node at. */
    ip: string;
    bindAddr: string;
    /** What the server saw; filled in by the server. */
    remoteAddr: string;
  };
  /** Agent process start, unix seconds. */
  startTime: number;
  /** Machine boot, unix seconds (/proc/stat btime). */
  bootTime: number;
  /** Preferred role; `any` takes any assignment. */
  role: string;
  labels: Labels;
  provider: string;
  /** `slots`: how many tasks the agent runs at once (0: no limit). */
  capacity: { cpus: number; memoryMb: number; slots?: number };
  /** What the node can run beyond processes: `containers` (its engine answered). Absent: none. */
  capabilities?: string[];
}
