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
import type { JobSpec, ParamValue } from '../spec/model.js';
import type { BackendRecord, BackendRunRecord, BackendRunUpdate } from './backend-records.js';

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
  /** The user or org the job belongs to (its id is the user's or org's id). */
  owner: Owner | null;
  /** Who submitted it: a user name, or the end user a portal named. */
  submitter: string | null;
  /** Created held (`?hold=true`): stays queued, not placed, until released; its inputs upload meanwhile. */
  held: boolean;
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
  /** The parameter values it was submitted with, defaults included (null: the spec declares none). */
  params: Record<string, ParamValue> | null;
  /** The template version it was submitted from (null: a spec sent as such). */
  template: TemplateOrigin | null;
}

/** Which template version a job came from. */
export interface TemplateOrigin {
  name: string;
  version: number;
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
  | 'job.released'
  | 'job.deleted'
  | 'lock.acquired'
  | 'lock.released'
  | 'lock.broken'
  | 'stage.status'
  | 'task.status'
  | 'task.superseded'
  | 'audit'
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
      'status' | 'startedAt' | 'endedAt' | 'reason' | 'waitingFor' | 'stopRequested' | 'placement' | 'held'
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
  submitter?: string | null;
  /** Create it held (default false). */
  held?: boolean;
  labels: Labels;
  rawSpec: string;
  spec: JobSpec;
  createdAt: Millis;
  retryOf?: number | null;
  /** Parameter values (default none). */
  params?: Record<string, ParamValue> | null;
  /** The template version it came from (default none). */
  template?: TemplateOrigin | null;
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
  /** Only jobs submitted by this submitter. */
  submitter?: string;
  /** Only jobs submitted from this template (any version). */
  template?: string;
  /** Only jobs whose owner id is one of these (what a user may see); absent: no such limit. */
  ownerIds?: string[];
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
  /** Only lines with a smaller id; then the page is the last `limit` such lines (still ascending). */
  beforeId?: number;
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

/** `user` tokens act as their user; `agent` tokens only speak the agent protocol. */
export type TokenKind = 'user' | 'agent';
/** What a user token may do of what its user may: everything, only read, or submit (and read). */
export type TokenScope = 'full' | 'read' | 'submit';

export interface TokenRecord {
  id: string;
  kind: TokenKind;
  name: string;
  /** The user a `user` token acts as. */
  userId: string | null;
  scope: TokenScope;
  /** May name another submitter (a portal acting for its end users). */
  actFor: boolean;
  createdAt: Millis;
  expiresAt: Millis | null;
  revokedAt: Millis | null;
}

export interface NewToken {
  id: string;
  kind: TokenKind;
  name: string;
  /** SHA-256 of the token, hex. */
  hash: string;
  createdAt: Millis;
  userId?: string | null;
  scope?: TokenScope;
  actFor?: boolean;
  expiresAt?: Millis | null;
}

export type OrgRole = 'admin' | 'member' | 'viewer';

export interface UserRecord {
  id: string;
  name: string;
  /** May do everything on this server. */
  serverAdmin: boolean;
  createdAt: Millis;
}

export interface OrgRecord {
  id: string;
  name: string;
  createdAt: Millis;
}

export interface Membership {
  orgId: string;
  orgName: string;
  userId: string;
  userName: string;
  role: OrgRole;
}

// ---- Files (migration 5) ------------------------------------------------------------------------

/** input: uploaded or taken from another job; output: a task's `outputs`; workdir: `keepWorkdir`;
 * workspace: the workspace archive the job ran from. */
export type FileKind = 'input' | 'output' | 'workdir' | 'workspace';
export const FILE_KINDS: readonly FileKind[] = ['input', 'output', 'workdir', 'workspace'];

/** A file of a job: where it is in the job's tree and which blob holds it. */
export interface FileRecord {
  jobId: number;
  /** Unique in the job: `inputs/data.csv`, `outputs/result.txt`, `outputs/srv/x.log`, `workdir/...`. */
  path: string;
  size: number;
  /** Hex SHA-256 of the content: the blob's name. */
  sha256: string;
  kind: FileKind;
  /** The task that made it; null for inputs. */
  taskId: number | null;
  /** The node it came from; null for inputs. */
  nodeId: string | null;
  createdAt: Millis;
}

/** An uploaded archive (tar.gz or zip) that jobs run in fresh copies of (seed 003's compendium). */
export interface WorkspaceRecord {
  id: string;
  name: string;
  sha256: string;
  size: number;
  format: string;
  /** Who pushed it (a user, or an org its members share it with); null: server admins only. */
  owner: Owner | null;
  createdAt: Millis;
}

/** A lock declared on the server: at most `capacity` jobs hold it at once. */
export interface LockDecl {
  name: string;
  capacity: number;
  createdAt: Millis;
}

// ---- Templates (migration 7) --------------------------------------------------------------------

/** One version of a named job spec (seed 004's registered step). */
export interface TemplateRecord {
  name: string;
  /** 1, 2, 3...: a push with changed content makes the next one. */
  version: number;
  /** Hex SHA-256 of the spec text: an identical push makes no new version. */
  sha256: string;
  rawSpec: string;
  description: string | null;
  /** Who it belongs to (a user, or an org); null: server admins only. */
  owner: Owner | null;
  /** Who pushed this version. */
  pushedBy: string | null;
  createdAt: Millis;
}

export type NewTemplate = Omit<TemplateRecord, 'version'>;

/** A template's newest version and how many versions it has. */
export interface TemplateSummary {
  latest: TemplateRecord;
  versions: number;
}

/** A template's cron schedule (migration 9): the lease holder submits the template when `nextAt` comes. */
export interface ScheduleRecord {
  /** The template it submits (one schedule per template). */
  template: string;
  /** A pinned version; null: the latest at each tick. */
  templateVersion: number | null;
  cron: string;
  /** IANA time zone the cron's wall-clock times are in. */
  timezone: string;
  /** Parameter values given to every run (checked against the template at each tick). */
  params: Record<string, string>;
  /** The owner of the jobs it submits. */
  owner: Owner | null;
  /** Who set the schedule: the submitter of its jobs. */
  submitter: string | null;
  paused: boolean;
  /** The next tick due. */
  nextAt: Millis;
  lastAt: Millis | null;
  lastJobId: number | null;
  /** Why the last tick made no job (template gone, parameters no longer valid, ...). */
  lastError: string | null;
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
  getToken(id: string): Promise<TokenRecord | undefined>;
  /** Every token, or a user's. */
  listTokens(userId?: string): Promise<TokenRecord[]>;
  /** Marks a token revoked (idempotent); false when there is no such token. */
  revokeToken(id: string, at: Millis): Promise<boolean>;

  createUser(user: UserRecord): Promise<UserRecord>;
  getUser(idOrName: string): Promise<UserRecord | undefined>;
  listUsers(): Promise<UserRecord[]>;
  createOrg(org: OrgRecord): Promise<OrgRecord>;
  getOrg(idOrName: string): Promise<OrgRecord | undefined>;
  listOrgs(): Promise<OrgRecord[]>;
  /** Sets a user's role in an org; null removes the membership. */
  setMembership(orgId: string, userId: string, role: OrgRole | null): Promise<void>;
  /** Memberships of a user, or of an org. */
  listMemberships(of: { userId: string } | { orgId: string }): Promise<Membership[]>;

  /** Stores an org's secret, encrypted by the caller (the store never sees the value). */
  putSecret(orgId: string, name: string, ciphertext: string, now: Millis): Promise<void>;
  /** The org's secret names (never their values). */
  listSecretNames(orgId: string): Promise<string[]>;
  /** Ciphertexts of the named secrets that exist. */
  getSecrets(orgId: string, names: string[]): Promise<Map<string, string>>;
  deleteSecret(orgId: string, name: string): Promise<boolean>;

  // ---- Files (migration 5) ----
  /**
   * Adds a file to a job, replacing the one at the same path (returned). `require` is checked on the
   * job in the same transaction (ConflictError, nothing written): `held` for an input uploaded
   * before release, `active` (not final) for what a task leaves.
   */
  putFile(file: FileRecord, require?: 'held' | 'active'): Promise<FileRecord | undefined>;
  /** A job's files, by path. */
  listFiles(jobId: number): Promise<FileRecord[]>;
  getFile(jobId: number, path: string): Promise<FileRecord | undefined>;
  /** Bytes of a job's files (workspace archives not counted). */
  jobFilesSize(jobId: number): Promise<number>;
  /** Removes a job's files (every kind, or these); returns the rows removed. */
  deleteFiles(jobId: number, kinds?: readonly FileKind[]): Promise<FileRecord[]>;
  /** Whether a file or a workspace still refers to this blob. */
  blobInUse(sha256: string): Promise<boolean>;
  /** Final jobs that ended before `before` and still have files, oldest first. */
  jobsWithFilesEndedBefore(before: Millis, limit: number): Promise<number[]>;
  /**
   * Deletes a final job with its stages, tasks, logs and files and appends `job.deleted`, in one
   * transaction; ConflictError when the job is not final. Returns the files it had.
   */
  deleteJob(id: number, now: Millis): Promise<{ files: FileRecord[]; event: EventRecord }>;
  createWorkspace(w: WorkspaceRecord): Promise<WorkspaceRecord>;
  /** By id, else the newest with this name. */
  getWorkspace(idOrName: string): Promise<WorkspaceRecord | undefined>;
  /** Newest first. */
  listWorkspaces(): Promise<WorkspaceRecord[]>;

  // ---- Templates (migration 7) ----
  /**
   * Pushes a template version, in one transaction: when the newest version of the name has the same
   * sha256 it is returned (`created` false); otherwise the next version is made.
   */
  pushTemplate(t: NewTemplate): Promise<{ template: TemplateRecord; created: boolean }>;
  /** One version, or the newest when `version` is absent. */
  getTemplate(name: string, version?: number): Promise<TemplateRecord | undefined>;
  /** Every version of a name, newest first (empty: no such template). */
  listTemplateVersions(name: string): Promise<TemplateRecord[]>;
  /** Every template's newest version, by name. */
  listTemplates(): Promise<TemplateSummary[]>;

  /** Creates or replaces a template's schedule. */
  putSchedule(s: ScheduleRecord): Promise<void>;
  getSchedule(template: string): Promise<ScheduleRecord | undefined>;
  /** By template name. */
  listSchedules(): Promise<ScheduleRecord[]>;
  deleteSchedule(template: string): Promise<boolean>;
  /** Pauses or resumes; resuming sets the next tick. Whether there was such a schedule. */
  setSchedulePaused(template: string, paused: boolean, nextAt: Millis): Promise<boolean>;
  /** Unpaused schedules whose next tick is at or before `now`. */
  dueSchedules(now: Millis): Promise<ScheduleRecord[]>;
  /**
   * Claims a due tick: moves `nextAt` from `expectNextAt` to `nextAt` if it is still there and the
   * schedule is not paused. True for exactly one caller per tick, however many try.
   */
  claimScheduleTick(template: string, expectNextAt: Millis, nextAt: Millis, now: Millis): Promise<boolean>;
  /** What the claimed tick made: a job, or an error. */
  recordScheduleRun(template: string, run: { jobId: number | null; error: string | null }): Promise<void>;

  /** Locks the server declares with a capacity, by name. */
  listLockDecls(): Promise<LockDecl[]>;
  /** Declares a lock, or changes its capacity. */
  putLockDecl(d: LockDecl): Promise<void>;
  /** Whether there was such a declaration. */
  deleteLockDecl(name: string): Promise<boolean>;

  // ---- External backends (migration 10) ----
  /** Creates or replaces a backend's config. */
  putBackend(b: BackendRecord): Promise<void>;
  /** Replaces every backend that came from the `--backends` file with these, in one transaction. */
  replaceFileBackends(list: BackendRecord[]): Promise<void>;
  getBackend(id: string): Promise<BackendRecord | undefined>;
  /** By id. */
  listBackends(): Promise<BackendRecord[]>;
  deleteBackend(id: string): Promise<boolean>;
  /** Records an attempt's run on its backend; a run already recorded for that attempt is kept. */
  insertBackendRun(r: BackendRunRecord): Promise<void>;
  getBackendRun(jobId: number, taskId: number, attempt: number): Promise<BackendRunRecord | undefined>;
  /** A job's runs, by task and attempt. */
  listBackendRuns(jobId: number): Promise<BackendRunRecord[]>;
  updateBackendRun(
    jobId: number,
    taskId: number,
    attempt: number,
    set: BackendRunUpdate,
    now: Millis,
  ): Promise<void>;
  /** Reserves `n` log line seqs of the run; returns the last reserved (undefined: no such run). */
  takeBackendLogSeqs(
    jobId: number,
    taskId: number,
    attempt: number,
    n: number,
    now: Millis,
  ): Promise<number | undefined>;
}

export type { BackendRecord, BackendReport, BackendRunRecord, BackendRunUpdate } from './backend-records.js';
