/**
 * The store: one backend-neutral, async interface. Each method is one transaction in the backend.
 * Services never write SQL; they call these methods. State changes go through `applyChanges`, which
 * writes the changed rows and their events together, checking each row's expected state first.
 */
import type { LogStream } from '../agent/protocol.js';
import type {
  JobStatus,
  Labels,
  Millis,
  NodeInfo,
  NodeState,
  Owner,
  StageStatus,
  TaskStatus,
} from '../core/types.js';
import type { JobSpec } from '../spec/model.js';

/** Where each node assignment of a job was placed. */
export interface PlacedNode {
  /** The assignment's name in the spec (`srv`). */
  assignment: string;
  role: string;
  nodeId: string;
  nodeName: string;
  ip: string;
}

export interface JobRecord {
  id: number;
  name: string;
  status: JobStatus;
  owner: Owner | null;
  labels: Labels;
  rawSpec: string;
  spec: JobSpec;
  placement: PlacedNode[] | null;
  createdAt: Millis;
  startedAt: Millis | null;
  endedAt: Millis | null;
  /** Why the job ended as it did, or why it is stopping (`task build/cli/task-0 failed: exit code 2`). */
  reason: string | null;
  /** Why a queued job is not running yet. */
  waitingFor: string | null;
  stopRequested: boolean;
  retryOf: number | null;
}

export interface StageRecord {
  jobId: number;
  name: string;
  /** Index in the spec's `stages`. */
  index: number;
  status: StageStatus;
  startedAt: Millis | null;
  readyAt: Millis | null;
  endedAt: Millis | null;
}

export interface TaskRecord {
  jobId: number;
  /** Unique within the job, in plan order. */
  id: number;
  stage: string;
  /** The node assignment's name. */
  node: string;
  name: string;
  /** Index of the task in its stage's `tasks`. */
  index: number;
  longRunning: boolean;
  status: TaskStatus;
  /** Number of the current (or last) attempt; 0 before the first start. */
  attempt: number;
  nodeId: string | null;
  startedAt: Millis | null;
  readyAt: Millis | null;
  endedAt: Millis | null;
  exitCode: number | null;
  /** Short explanation, like seed 003's step text. */
  text: string | null;
  /** The agent process instance the current attempt was sent to (tells a lost start from a restart). */
  nodeInstance: string | null;
}

export interface JobDetail {
  job: JobRecord;
  stages: StageRecord[];
  tasks: TaskRecord[];
}

export interface NodeRecord {
  id: string;
  name: string;
  state: NodeState;
  info: NodeInfo;
  registeredAt: Millis;
  lastSeenAt: Millis;
  /** The highest report sequence number of this node's agent that the server has applied. */
  reportSeq: number;
  /** The agent process instance last connected for this node. */
  instance: string | null;
}

export type EventType =
  | 'job.submitted'
  | 'job.status'
  | 'job.placed'
  | 'job.waiting'
  | 'job.stop_requested'
  | 'stage.status'
  | 'task.status'
  | 'task.superseded'
  | 'node.registered'
  | 'node.state';

export interface NewEvent {
  type: EventType;
  ts: Millis;
  jobId?: number;
  nodeId?: string;
  stage?: string;
  taskId?: number;
  from?: string;
  to?: string;
  data?: Record<string, unknown>;
}

export interface EventRecord extends NewEvent {
  /** Global, increasing: the order of events in the store. */
  seq: number;
}

export interface JobChange {
  id: number;
  /** Precondition: the job's status before the change. */
  expect?: JobStatus;
  set: Partial<
    Pick<
      JobRecord,
      'status' | 'startedAt' | 'endedAt' | 'reason' | 'waitingFor' | 'stopRequested' | 'placement'
    >
  >;
}

export interface StageChange {
  jobId: number;
  name: string;
  expect?: StageStatus;
  set: Partial<Pick<StageRecord, 'status' | 'startedAt' | 'readyAt' | 'endedAt'>>;
}

export interface TaskChange {
  jobId: number;
  taskId: number;
  /** Preconditions: status and attempt before the change (fencing). */
  expect?: { status?: TaskStatus; attempt?: number };
  set: Partial<
    Pick<
      TaskRecord,
      | 'status'
      | 'attempt'
      | 'nodeId'
      | 'startedAt'
      | 'readyAt'
      | 'endedAt'
      | 'exitCode'
      | 'text'
      | 'nodeInstance'
    >
  >;
}

export interface NodeChange {
  id: string;
  expect?: NodeState;
  set: Partial<Pick<NodeRecord, 'state' | 'lastSeenAt' | 'reportSeq' | 'instance'>>;
}

export interface ChangeSet {
  jobs?: JobChange[];
  stages?: StageChange[];
  tasks?: TaskChange[];
  nodes?: NodeChange[];
  events: NewEvent[];
}

export interface NewJob {
  name: string;
  owner: Owner | null;
  labels: Labels;
  rawSpec: string;
  spec: JobSpec;
  createdAt: Millis;
  retryOf?: number | null;
  stages: Array<Pick<StageRecord, 'name' | 'index'>>;
  tasks: Array<Pick<TaskRecord, 'stage' | 'node' | 'name' | 'index' | 'longRunning'>>;
}

export interface JobQuery {
  status?: JobStatus[];
  name?: string;
  /** Owner name or id. */
  owner?: string;
  /** Every label given must match. */
  labels?: Labels;
  /** Created at or after / before (exclusive) these times. */
  createdAfter?: Millis;
  createdBefore?: Millis;
  /** Keyset paging: only jobs with a smaller id (the `cursor` of the API). */
  beforeId?: number;
  /** 1-based offset, as seed 003's `start`. */
  start?: number;
  /** Default 100. */
  limit?: number;
}

export interface EventQuery {
  jobId?: number;
  nodeId?: string;
  /** Only events whose type starts with one of these (`task.`, `job.status`). */
  types?: string[];
  /** Only events with a larger seq. */
  afterSeq?: number;
  /** Default 1000. */
  limit?: number;
}

export interface NewLogLine {
  jobId: number;
  taskId: number;
  attempt: number;
  seq: number;
  ts: Millis;
  stream: LogStream;
  text: string;
}

export interface StoredLogLine extends NewLogLine {
  /** Position in the job's log; pass it back as `afterId` to read on. */
  id: number;
}

export interface LogQuery {
  jobId: number;
  taskId?: number;
  afterId?: number;
  /** Default 10,000. */
  limit?: number;
}

/** An agent report waiting in the inbox for the coordinator (replicated servers). */
export interface InboxItem {
  id: number;
  nodeId: string;
  /** The agent's report seq; null for a record the server made (a reconcile request). */
  seq: number | null;
  body: unknown;
}

export type TokenKind = 'admin' | 'agent';

export interface TokenRecord {
  id: string;
  kind: TokenKind;
  name: string;
  createdAt: Millis;
  revokedAt: Millis | null;
}

export interface NewToken {
  id: string;
  kind: TokenKind;
  name: string;
  /** SHA-256 of the token, hex. */
  hash: string;
  createdAt: Millis;
}

export interface Store {
  /** Applies pending migrations (idempotent). */
  migrate(): Promise<void>;
  close(): Promise<void>;

  createJob(input: NewJob): Promise<JobDetail>;
  getJob(id: number): Promise<JobRecord | undefined>;
  getJobDetail(id: number): Promise<JobDetail | undefined>;
  /** Newest first. */
  listJobs(query?: JobQuery): Promise<JobRecord[]>;
  /** How many jobs there are in each status. */
  countJobsByStatus(): Promise<Record<JobStatus, number>>;
  /** Jobs not yet in a final status, oldest first: what a coordinator resumes after a restart. */
  listActiveJobIds(): Promise<number[]>;

  /**
   * Writes every change and event in one transaction. Throws ConflictError, writing nothing, when a
   * row's precondition (`expect`) does not hold. Returns the events with their sequence numbers.
   */
  applyChanges(changes: ChangeSet): Promise<EventRecord[]>;

  listEvents(query: EventQuery): Promise<EventRecord[]>;
  /** The seq of the newest event (0 when there is none). */
  lastEventSeq(): Promise<number>;

  /** Appends log lines; a line already stored (same job, task, attempt, seq) is ignored. */
  appendLogs(lines: NewLogLine[]): Promise<void>;
  readLogs(query: LogQuery): Promise<StoredLogLine[]>;

  /** Inserts or updates a node and appends its `node.registered` event. */
  registerNode(
    info: NodeInfo,
    state: NodeState,
    now: Millis,
  ): Promise<{ node: NodeRecord; event: EventRecord }>;
  getNode(id: string): Promise<NodeRecord | undefined>;
  listNodes(): Promise<NodeRecord[]>;

  /** Records that these nodes were heard from now (heartbeats, batched by each server). */
  touchNodes(ids: string[], now: Millis): Promise<void>;

  /**
   * Puts agent reports in the inbox, in order; an item whose (nodeId, seq) is already there or
   * already applied (seq ≤ the node's watermark) is ignored. Items with a null seq always go in.
   */
  enqueueReports(items: Array<Omit<InboxItem, 'id'>>): Promise<void>;
  /** The oldest inbox items after `afterId`, in insertion order. */
  takeReports(afterId: number, limit: number): Promise<InboxItem[]>;
  /** Removes applied items and raises each node's watermark (never lowers it), in one transaction. */
  finishReports(ids: number[], watermarks: Array<{ nodeId: string; seq: number }>): Promise<void>;
  /** The highest report seq of a node the server holds: applied, or waiting in the inbox. */
  nodeReportHigh(nodeId: string): Promise<number>;

  createToken(token: NewToken): Promise<TokenRecord>;
  /** The token with this hash, revoked or not. */
  findToken(hash: string): Promise<TokenRecord | undefined>;
  listTokens(): Promise<TokenRecord[]>;
}
