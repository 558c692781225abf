/**
 * applyChanges: checks each changed row's precondition, updates it, and appends the events, all inside
 * the caller's transaction. Any failed check throws ConflictError, so the transaction rolls back and
 * nothing of the change set is written.
 *
 * Changes apply in order (jobs, stages, tasks, nodes; each list in its order), each checked against the
 * row as the earlier changes of the same set left it. UPDATE statements are built from a fixed
 * whitelist of columns and cached per distinct combination of set keys.
 */
import { ConflictError, JobhubError } from '../../core/errors.js';
import type { ChangeSet, EventRecord, JobChange, NodeChange, StageChange, TaskChange } from '../store.js';
import type { StatementCache } from './connection.js';
import type { EventStatements } from './events.js';
import { toBit, toJsonOrNull } from './rows.js';

type SqlValue = string | number | null;

interface Column {
  column: string;
  encode?: (value: never) => SqlValue;
}

type Columns<S> = { readonly [K in keyof Required<S>]: Column };

interface Table {
  name: 'jobs' | 'stages' | 'tasks' | 'nodes';
  /** Fixed WHERE clause on the primary key, with positional parameters. */
  keyWhere: string;
  columns: Readonly<Record<string, Column>>;
}

const JOB_COLUMNS: Columns<JobChange['set']> = {
  status: { column: 'status' },
  startedAt: { column: 'started_at' },
  endedAt: { column: 'ended_at' },
  reason: { column: 'reason' },
  waitingFor: { column: 'waiting_for' },
  stopRequested: { column: 'stop_requested', encode: (v: boolean | null) => (v === null ? null : toBit(v)) },
  placement: { column: 'placement_json', encode: (v: unknown) => toJsonOrNull(v) },
  held: { column: 'held', encode: (v: boolean | null) => (v === null ? null : toBit(v)) },
};

const STAGE_COLUMNS: Columns<StageChange['set']> = {
  status: { column: 'status' },
  startedAt: { column: 'started_at' },
  readyAt: { column: 'ready_at' },
  endedAt: { column: 'ended_at' },
};

const TASK_COLUMNS: Columns<TaskChange['set']> = {
  status: { column: 'status' },
  attempt: { column: 'attempt' },
  nodeId: { column: 'node_id' },
  startedAt: { column: 'started_at' },
  readyAt: { column: 'ready_at' },
  endedAt: { column: 'ended_at' },
  exitCode: { column: 'exit_code' },
  text: { column: 'text' },
  nodeInstance: { column: 'node_instance' },
};

const NODE_COLUMNS: Columns<NodeChange['set']> = {
  state: { column: 'state' },
  lastSeenAt: { column: 'last_seen_at' },
  reportSeq: { column: 'report_seq' },
  instance: { column: 'instance' },
};

const JOBS: Table = { name: 'jobs', keyWhere: 'id = ?', columns: JOB_COLUMNS };
const STAGES: Table = { name: 'stages', keyWhere: 'job_id = ? AND name = ?', columns: STAGE_COLUMNS };
const TASKS: Table = { name: 'tasks', keyWhere: 'job_id = ? AND id = ?', columns: TASK_COLUMNS };
const NODES: Table = { name: 'nodes', keyWhere: 'id = ?', columns: NODE_COLUMNS };

const SELECT_JOB_STATE = 'SELECT status FROM jobs WHERE id = ?';
const SELECT_STAGE_STATE = 'SELECT status FROM stages WHERE job_id = ? AND name = ?';
const SELECT_TASK_STATE = 'SELECT status, attempt FROM tasks WHERE job_id = ? AND id = ?';
const SELECT_NODE_STATE = 'SELECT state FROM nodes WHERE id = ?';

export class ChangeStatements {
  constructor(
    private readonly st: StatementCache,
    private readonly events: EventStatements,
  ) {}

  /** Must run inside a write transaction. */
  apply(cs: ChangeSet): EventRecord[] {
    for (const c of cs.jobs ?? []) this.applyJob(c);
    for (const c of cs.stages ?? []) this.applyStage(c);
    for (const c of cs.tasks ?? []) this.applyTask(c);
    for (const c of cs.nodes ?? []) this.applyNode(c);
    return this.events.insertAll(cs.events);
  }

  private applyJob(c: JobChange): void {
    const row = this.st.get<[number], { status: string }>(SELECT_JOB_STATE).get(c.id);
    const where = `job ${c.id}`;
    const key = { row: 'job', jobId: c.id };
    if (row === undefined) throw missing(where, key, c.expect === undefined ? {} : { status: c.expect });
    if (c.expect !== undefined && row.status !== c.expect) {
      throw conflict(where, key, { status: c.expect }, { status: row.status });
    }
    this.update(JOBS, c.set, [c.id]);
  }

  private applyStage(c: StageChange): void {
    const row = this.st.get<[number, string], { status: string }>(SELECT_STAGE_STATE).get(c.jobId, c.name);
    const where = `stage ${c.name} of job ${c.jobId}`;
    const key = { row: 'stage', jobId: c.jobId, stage: c.name };
    if (row === undefined) throw missing(where, key, c.expect === undefined ? {} : { status: c.expect });
    if (c.expect !== undefined && row.status !== c.expect) {
      throw conflict(where, key, { status: c.expect }, { status: row.status });
    }
    this.update(STAGES, c.set, [c.jobId, c.name]);
  }

  private applyTask(c: TaskChange): void {
    const row = this.st
      .get<[number, number], { status: string; attempt: number }>(SELECT_TASK_STATE)
      .get(c.jobId, c.taskId);
    const where = `task ${c.taskId} of job ${c.jobId}`;
    const key = { row: 'task', jobId: c.jobId, taskId: c.taskId };
    const expected: Record<string, unknown> = {};
    if (c.expect?.status !== undefined) expected.status = c.expect.status;
    if (c.expect?.attempt !== undefined) expected.attempt = c.expect.attempt;
    if (row === undefined) throw missing(where, key, expected);
    if (
      (c.expect?.status !== undefined && row.status !== c.expect.status) ||
      (c.expect?.attempt !== undefined && row.attempt !== c.expect.attempt)
    ) {
      throw conflict(where, key, expected, { status: row.status, attempt: row.attempt });
    }
    this.update(TASKS, c.set, [c.jobId, c.taskId]);
  }

  private applyNode(c: NodeChange): void {
    const row = this.st.get<[string], { state: string }>(SELECT_NODE_STATE).get(c.id);
    const where = `node ${c.id}`;
    const key = { row: 'node', nodeId: c.id };
    if (row === undefined) throw missing(where, key, c.expect === undefined ? {} : { state: c.expect });
    if (c.expect !== undefined && row.state !== c.expect) {
      throw conflict(where, key, { state: c.expect }, { state: row.state });
    }
    this.update(NODES, c.set, [c.id]);
  }

  /** Writes the keys of `set` whose value is not undefined; `null` writes NULL. */
  private update(table: Table, set: object, keyValues: SqlValue[]): void {
    const values = set as Readonly<Record<string, unknown>>;
    for (const k of Object.keys(values)) {
      if (!Object.hasOwn(table.columns, k)) {
        throw new JobhubError('internal', `cannot set ${k} on ${table.name}: not a changeable field`);
      }
    }
    // Whitelist order, so the same keys in another order share one statement.
    const keys = Object.keys(table.columns).filter((k) => values[k] !== undefined);
    if (keys.length === 0) return;
    const columns = keys.map((k) => table.columns[k]!);
    const stmt = this.st.getBuilt<SqlValue[]>(`update:${table.name}:${keys.join(',')}`, () => {
      const assignments = columns.map((c) => `${c.column} = ?`).join(', ');
      return `UPDATE ${table.name} SET ${assignments} WHERE ${table.keyWhere}`;
    });
    const params = keys.map((k, i) => {
      const v = values[k];
      const encode = columns[i]!.encode as ((value: unknown) => SqlValue) | undefined;
      return encode ? encode(v) : (v as SqlValue);
    });
    stmt.run(...params, ...keyValues);
  }
}

function describe(state: Record<string, unknown>): string {
  return Object.entries(state)
    .map(([k, v]) => `${k} ${String(v)}`)
    .join(', ');
}

function missing(
  where: string,
  key: Record<string, unknown>,
  expected: Record<string, unknown>,
): ConflictError {
  return new ConflictError(`${where} does not exist`, { ...key, expected, actual: null });
}

function conflict(
  where: string,
  key: Record<string, unknown>,
  expected: Record<string, unknown>,
  actual: Record<string, unknown>,
): ConflictError {
  return new ConflictError(`${where}: expected ${describe(expected)}, found ${describe(actual)}`, {
    ...key,
    expected,
    actual,
  });
}
