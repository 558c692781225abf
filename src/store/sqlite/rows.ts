/**
 * Row <-> record mapping. Rows are what better-sqlite3 returns (snake_case columns, 0/1 booleans, JSON
 * text); records are the store interface's types. JSON is parsed to `unknown` and cast here only.
 */
import type { LogStream } from '../../agent/protocol.js';
import type {
  JobStatus,
  Labels,
  NodeInfo,
  NodeState,
  Owner,
  StageStatus,
  TaskStatus,
} from '../../core/types.js';
import type { JobSpec, ParamValue } from '../../spec/model.js';
import type {
  EventRecord,
  EventType,
  JobRecord,
  NewEvent,
  NodeRecord,
  PlacedNode,
  StageRecord,
  StoredLogLine,
  TaskRecord,
} from '../store.js';

export interface JobRow {
  id: number;
  name: string;
  status: string;
  owner_json: string | null;
  labels_json: string;
  raw_spec: string;
  spec_json: string;
  placement_json: string | null;
  created_at: number;
  started_at: number | null;
  ended_at: number | null;
  reason: string | null;
  waiting_for: string | null;
  stop_requested: number;
  retry_of: number | null;
  submitter: string | null;
  held: number;
  params_json: string | null;
  template_name: string | null;
  template_version: number | null;
}

export interface StageRow {
  job_id: number;
  name: string;
  idx: number;
  status: string;
  started_at: number | null;
  ready_at: number | null;
  ended_at: number | null;
}

export interface TaskRow {
  job_id: number;
  id: number;
  stage: string;
  node: string;
  name: string;
  idx: number;
  long_running: number;
  status: string;
  attempt: number;
  node_id: string | null;
  started_at: number | null;
  ready_at: number | null;
  ended_at: number | null;
  exit_code: number | null;
  text: string | null;
  node_instance: string | null;
}

export interface EventRow {
  seq: number;
  ts: number;
  type: string;
  job_id: number | null;
  node_id: string | null;
  stage: string | null;
  task_id: number | null;
  from_state: string | null;
  to_state: string | null;
  data_json: string | null;
}

export interface LogRow {
  id: number;
  job_id: number;
  task_id: number;
  attempt: number;
  seq: number;
  ts: number;
  stream: string;
  text: string;
}

export interface NodeRow {
  id: string;
  name: string;
  state: string;
  info_json: string;
  registered_at: number;
  last_seen_at: number;
  report_seq: number;
  instance: string | null;
}

export function parseJson<T>(text: string): T {
  const value: unknown = JSON.parse(text);
  return value as T;
}

export function parseJsonOrNull<T>(text: string | null): T | null {
  return text === null ? null : parseJson<T>(text);
}

/** JSON text for a column; `null` and `undefined` both become SQL NULL. */
export function toJsonOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}

/** A query's `limit`: a non-negative integer, or the default when not given. */
export function limitOf(limit: number | undefined, fallback: number): number {
  return limit === undefined ? fallback : Math.max(0, Math.floor(limit));
}

export function toBit(value: boolean): 0 | 1 {
  return value ? 1 : 0;
}

export function jobFromRow(r: JobRow): JobRecord {
  return {
    id: r.id,
    name: r.name,
    status: r.status as JobStatus,
    owner: parseJsonOrNull<Owner>(r.owner_json),
    labels: parseJson<Labels>(r.labels_json),
    rawSpec: r.raw_spec,
    spec: parseJson<JobSpec>(r.spec_json),
    placement: parseJsonOrNull<PlacedNode[]>(r.placement_json),
    createdAt: r.created_at,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    reason: r.reason,
    waitingFor: r.waiting_for,
    stopRequested: r.stop_requested !== 0,
    retryOf: r.retry_of,
    submitter: r.submitter,
    held: r.held !== 0,
    params: parseJsonOrNull<Record<string, ParamValue>>(r.params_json),
    template:
      r.template_name !== null && r.template_version !== null
        ? { name: r.template_name, version: r.template_version }
        : null,
  };
}

export function stageFromRow(r: StageRow): StageRecord {
  return {
    jobId: r.job_id,
    name: r.name,
    index: r.idx,
    status: r.status as StageStatus,
    startedAt: r.started_at,
    readyAt: r.ready_at,
    endedAt: r.ended_at,
  };
}

export function taskFromRow(r: TaskRow): TaskRecord {
  return {
    jobId: r.job_id,
    id: r.id,
    stage: r.stage,
    node: r.node,
    name: r.name,
    index: r.idx,
    longRunning: r.long_running !== 0,
    status: r.status as TaskStatus,
    attempt: r.attempt,
    nodeId: r.node_id,
    startedAt: r.started_at,
    readyAt: r.ready_at,
    endedAt: r.ended_at,
    exitCode: r.exit_code,
    text: r.text,
    nodeInstance: r.node_instance,
  };
}

/** The event's columns, without `seq`; absent optional fields become NULL. */
export function eventToRow(e: NewEvent): Omit<EventRow, 'seq'> {
  return {
    ts: e.ts,
    type: e.type,
    job_id: e.jobId ?? null,
    node_id: e.nodeId ?? null,
    stage: e.stage ?? null,
    task_id: e.taskId ?? null,
    from_state: e.from ?? null,
    to_state: e.to ?? null,
    data_json: toJsonOrNull(e.data),
  };
}

/** NULL columns become absent fields (no `stage: undefined` keys). */
export function eventFromRow(r: EventRow): EventRecord {
  const e: EventRecord = { seq: r.seq, type: r.type as EventType, ts: r.ts };
  if (r.job_id !== null) e.jobId = r.job_id;
  if (r.node_id !== null) e.nodeId = r.node_id;
  if (r.stage !== null) e.stage = r.stage;
  if (r.task_id !== null) e.taskId = r.task_id;
  if (r.from_state !== null) e.from = r.from_state;
  if (r.to_state !== null) e.to = r.to_state;
  if (r.data_json !== null) e.data = parseJson<Record<string, unknown>>(r.data_json);
  return e;
}

export function logFromRow(r: LogRow): StoredLogLine {
  return {
    id: r.id,
    jobId: r.job_id,
    taskId: r.task_id,
    attempt: r.attempt,
    seq: r.seq,
    ts: r.ts,
    stream: r.stream as LogStream,
    text: r.text,
  };
}

export function nodeFromRow(r: NodeRow): NodeRecord {
  return {
    id: r.id,
    name: r.name,
    state: r.state as NodeState,
    info: parseJson<NodeInfo>(r.info_json),
    registeredAt: r.registered_at,
    lastSeenAt: r.last_seen_at,
    reportSeq: r.report_seq,
    instance: r.instance,
  };
}
