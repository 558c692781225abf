/**
 * The normalized job spec: what the planner and engine work from, after parsing, validation, aliases
 * and defaults. Every optional input has been given its default here, so code downstream never
 * guesses. The input format (seed 000's field names, aliases) lives in `schema.ts`.
 */
import type { Labels, Owner, StageType } from '../core/types.js';

export interface Workload {
  framework?: string;
  frameworkVersion?: string;
  database?: string;
  databaseVersion?: string;
}

/** Picks nodes (for an assignment) or assignments (for a stage). All given conditions must hold. */
export interface Selector {
  name?: string;
  role?: string;
  labels: Labels;
  /** Matches everything. */
  all: boolean;
}

export interface NodeAssignment {
  name: string;
  /** `any` when the spec gives none. */
  role: string;
  /** OR of selectors over the cluster's nodes; empty: any node with the role. */
  selectors: Selector[];
  /** Minimum free capacity the node must have. */
  capacity: { cpus?: number; memoryMb?: number };
}

export interface EnvVar {
  k: string;
  v: string;
}

export interface CommandSpec {
  driver: 'shell' | 'exec';
  /** shell: the script for `sh -c`; exec: the program. */
  command: string;
  args: string[];
}

export type ProbeSpec =
  /** A short command run in the task's working directory, with the task's env plus its own. */
  | { kind: 'command'; command: CommandSpec; env: EnvVar[]; timeoutMs?: number }
  | { kind: 'http'; url: string }
  | { kind: 'tcp'; address: string };

export interface ReadySpec {
  probes: ProbeSpec[];
  /** Default 500ms. */
  intervalMs: number;
  /** Default 60s. */
  timeoutMs: number;
}

export interface RetrySpec {
  /** Extra attempts after the first; default 0. */
  count: number;
  /** Pause before the first retry, doubled for each next one; default 1s. */
  backoffMs: number;
  /** Upper bound of the pause; default 60s. */
  maxBackoffMs: number;
}

export interface StopperSpec {
  stage: string;
  /** The task to stop; undefined with `all`. */
  task?: string;
  all: boolean;
}

export interface DockerSpec {
  image: string;
  /** Default start (`run` is read as start). */
  action: 'pull' | 'start';
  ports: Array<{ guest: number; host: number }>;
  /** argv; a string in the spec becomes `sh -c <string>`; empty: the image's own command. */
  command: string[];
  /** In the container: where the task's working directory is mounted; default `/work`. */
  mountPath: string;
}

interface TaskBase {
  /** Given, or `task-<index>`. */
  name: string;
  index: number;
  longRunning: boolean;
  env: EnvVar[];
  /** '' means the job's working directory on the node. */
  workingDir: string;
  timeoutMs?: number;
  retries: RetrySpec;
  /** Globs of files to keep when the task ends (absent: none). */
  outputs?: string[];
  /** Keep the whole final working directory (absent: false). */
  keepWorkdir?: boolean;
}

export type TaskSpec =
  | (TaskBase & { driver: 'shell' | 'exec'; command: CommandSpec; ready?: ReadySpec })
  | (TaskBase & { driver: 'stopper'; stopper: StopperSpec })
  | (TaskBase & { driver: 'docker'; docker: DockerSpec; ready?: ReadySpec });

export interface TaskGroup {
  /** Given, or `group-<index>`. */
  name: string;
  /** Task names; they run in parallel. */
  tasks: string[];
}

export interface StageSpec {
  name: string;
  index: number;
  type: StageType;
  /** OR of selectors over the node assignments; empty selects every assignment. */
  selectors: Selector[];
  /** Stages that must be done first: explicit `needs` plus those implied by `pipelines`. */
  needs: string[];
  /** Groups run one after another; a stage without `pipelines` has one group per task, in order. */
  groups: TaskGroup[];
  tasks: TaskSpec[];
  /**
   * A stage that takes a template's stages in (seed 004). Only before the server expands it at
   * submission (see workflow.ts); such a stage has no tasks, and no job is ever made with one.
   */
  use?: UseSpec;
  /**
   * The parameter values its `{{.Params.x}}` and `JOBHUB_PARAM_*` take: set on the stages a `use`
   * brought in (their template's values, as if that template ran alone); absent: the job's.
   */
  params?: Record<string, ParamValue>;
  /** The template version a used stage came from (the innermost one, for nested uses). */
  template?: { name: string; version: number };
}

/** `use: name[@version]` with the values of that template's parameters. */
export interface UseSpec {
  template: string;
  /** Absent: the newest version at submission. */
  version?: number;
  /** As written: text values may still hold the using job's `{{.Params.x}}`. */
  params: Record<string, ParamValue>;
}

/** A template a job's workflow took stages from: the using stage (its full name) and the version. */
export interface UsedTemplate {
  stage: string;
  template: string;
  version: number;
}

export interface PipelineSpec {
  name: string;
  stages: string[];
}

/** A lock a job takes before it starts; `mode` absent: the lock's default (see engine/lock-state.ts). */
export interface LockSpec {
  name: string;
  mode?: 'exclusive' | 'shared';
}

/** A parameter's value: a string, number or boolean, by the parameter's type. */
export type ParamValue = string | number | boolean;

/** A declared parameter (see params.ts for how values are checked and used). */
export interface ParamSpec {
  name: string;
  type: 'string' | 'number' | 'boolean' | 'enum';
  /** The allowed values of an enum. */
  values?: string[];
  default?: ParamValue;
  description?: string;
  /** A value must be given (a default does not count: it is never used). */
  required: boolean;
}

/** A file every task of the job finds in its working directory at `to`. */
export type InputSpec =
  /** Another job's file (`job:ID:source:destination`). */
  | { kind: 'job'; jobId: number; source: string; to: string }
  /** A file uploaded with the submission, by name. */
  | { kind: 'upload'; name: string; to: string };

export interface JobSpec {
  name: string;
  description?: string;
  owner?: Owner;
  workload?: Workload;
  labels: Labels;
  /** When the spec gives none: a single assignment `local` with role `any`. */
  nodeAssignments: NodeAssignment[];
  /** As written; empty for a pure DAG spec. */
  pipelines: PipelineSpec[];
  stages: StageSpec[];
  /** Locks held while the job runs (absent: none). */
  locks?: LockSpec[];
  /** Declared parameters, in spec order (absent: none). */
  params?: ParamSpec[];
  /** Files put into every task's working directory (absent: none besides uploads). */
  inputs?: InputSpec[];
  /** The workspace (id or name) the job runs a fresh copy of. */
  workspace?: string;
  /** The templates its `use` stages took in, set when they were expanded (absent: none). */
  uses?: UsedTemplate[];
}
