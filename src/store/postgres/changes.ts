/**
 * applyChanges: each changed row is one conditional statement, `UPDATE … SET … WHERE <key> AND
 * status = $expected [AND attempt = $expectedAttempt] RETURNING 1`, then the events, all inside the
 * caller's transaction. No row back means the precondition failed or the row is missing: the row is
 * read to tell which, and ConflictError rolls the whole change set back.
 *
 * This is what makes dispatch safe between server replicas: two transactions changing the same row
 * serialize on its row lock, and the second re-checks its WHERE against the row the first committed
 * (READ COMMITTED re-evaluation), so only one passes its precondition.
 *
 * Changes apply in order (jobs, stages, tasks, nodes; each list in its order), each checked against the
 * row as the earlier changes of the same set left it. UPDATE statements are built from a fixed
 * whitelist of columns and named per distinct combination of set keys and preconditions. A change
 * that sets nothing still checks (and locks) its row, with SELECT … FOR NO KEY UPDATE.
 */
import { ConflictError, JobhubError } from '../../core/errors.js';
import type { ChangeSet, EventRecord, JobChange, NodeChange, StageChange, TaskChange } from '../store.js';
import { type Db, query, StatementCache, statement } from './connection.js';
import type { EventStatements } from './events.js';
import { toJsonOrNull } from './rows.js';

type SqlValue = string | number | boolean | null;

interface Column {
  column: string;
  /** A cast for the parameter, when its type is not the column's plain type (JSON text → JSONB). */
  cast?: string;
  encode?: (value: never) => SqlValue;
}

type Columns<S> = { readonly [K in keyof Required<S>]: Column };

interface Table {
  name: 'jobs' | 'stages' | 'tasks' | 'nodes';
  /** Primary key columns, bound first. */
  key: readonly string[];
  /** The column a status precondition compares. */
  stateColumn: 'status' | 'state';
  columns: Readonly<Record<string, Column>>;
}

const JOB_COLUMNS: Columns<JobChange['set']> = {
  status: { column: 'status' },
  startedAt: { column: 'started_at' },
  endedAt: { column: 'ended_at' },
  reason: { column: 'reason' },
  waitingFor: { column: 'waiting_for' },
  stopRequested: { column: 'stop_requested' },
  placement: { column: 'placement_json', cast: 'jsonb', encode: (v: unknown) => toJsonOrNull(v) },
  held: { column: 'held' },
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

const JOBS: Table = { name: 'jobs', key: ['id'], stateColumn: 'status', columns: JOB_COLUMNS };
const STAGES: Table = {
  name: 'stages',
  key: ['job_id', 'name'],
  stateColumn: 'status',
  columns: STAGE_COLUMNS,
};
const TASKS: Table = { name: 'tasks', key: ['job_id', 'id'], stateColumn: 'status', columns: TASK_COLUMNS };
const NODES: Table = { name: 'nodes', key: ['id'], stateColumn: 'state', columns: NODE_COLUMNS };

const SELECT_JOB_STATE = statement('changes_job_state', 'SELECT status FROM jobs WHERE id = $1');
const SELECT_STAGE_STATE = statement(
  'changes_stage_state',
  'SELECT status FROM stages WHERE job_id = $1 AND name = $2',
);
const SELECT_TASK_STATE = statement(
  'changes_task_state',
  'SELECT status, attempt FROM tasks WHERE job_id = $1 AND id = $2',
);
const SELECT_NODE_STATE = statement('changes_node_state', 'SELECT state FROM nodes WHERE id = $1');

/** The preconditions of one change: the state column's value, and (tasks) the attempt. */
interface Expect {
  state?: string | undefined;
  attempt?: number | undefined;
}

export class ChangeStatements {
  private readonly built = new StatementCache();

  constructor(private readonly events: EventStatements) {}

  /** Must run inside a transaction; throws ConflictError at the first failed precondition. */
  async apply(c: Db, cs: ChangeSet): Promise<EventRecord[]> {
    for (const ch of cs.jobs ?? []) await this.applyJob(c, ch);
    for (const ch of cs.stages ?? []) await this.applyStage(c, ch);
    for (const ch of cs.tasks ?? []) await this.applyTask(c, ch);
    for (const ch of cs.nodes ?? []) await this.applyNode(c, ch);
    return this.events.append(c, cs.events);
  }

  private async applyJob(c: Db, ch: JobChange): Promise<void> {
    if (await this.update(c, JOBS, ch.set, [ch.id], { state: ch.expect })) return;
    const [row] = await query<{ status: string }>(c, SELECT_JOB_STATE, [ch.id]);
    const where = `job ${ch.id}`;
    const key = { row: 'job', jobId: ch.id };
    const expected = ch.expect === undefined ? {} : { status: ch.expect };
    if (row === undefined) throw missing(where, key, expected);
    throw conflict(where, key, expected, { status: row.status });
  }

  private async applyStage(c: Db, ch: StageChange): Promise<void> {
    if (await this.update(c, STAGES, ch.set, [ch.jobId, ch.name], { state: ch.expect })) return;
    const [row] = await query<{ status: string }>(c, SELECT_STAGE_STATE, [ch.jobId, ch.name]);
    const where = `stage ${ch.name} of job ${ch.jobId}`;
    const key = { row: 'stage', jobId: ch.jobId, stage: ch.name };
    const expected = ch.expect === undefined ? {} : { status: ch.expect };
    if (row === undefined) throw missing(where, key, expected);
    throw conflict(where, key, expected, { status: row.status });
  }

  private async applyTask(c: Db, ch: TaskChange): Promise<void> {
    const expect = { state: ch.expect?.status, attempt: ch.expect?.attempt };
    if (await this.update(c, TASKS, ch.set, [ch.jobId, ch.taskId], expect)) return;
    const [row] = await query<{ status: string; attempt: number }>(c, SELECT_TASK_STATE, [
      ch.jobId,
      ch.taskId,
    ]);
    const where = `task ${ch.taskId} of job ${ch.jobId}`;
    const key = { row: 'task', jobId: ch.jobId, taskId: ch.taskId };
    const expected: Record<string, unknown> = {};
    if (ch.expect?.status !== undefined) expected.status = ch.expect.status;
    if (ch.expect?.attempt !== undefined) expected.attempt = ch.expect.attempt;
    if (row === undefined) throw missing(where, key, expected);
    throw conflict(where, key, expected, { status: row.status, attempt: row.attempt });
  }

  private async applyNode(c: Db, ch: NodeChange): Promise<void> {
    if (await this.update(c, NODES, ch.set, [ch.id], { state: ch.expect })) return;
    const [row] = await query<{ state: string }>(c, SELECT_NODE_STATE, [ch.id]);
    const where = `node ${ch.id}`;
    const key = { row: 'node', nodeId: ch.id };
    const expected = ch.expect === undefined ? {} : { state: ch.expect };
    if (row === undefined) throw missing(where, key, expected);
    throw conflict(where, key, expected, { state: row.state });
  }

  /**
   * Writes the keys of `set` whose value is not undefined (`null` writes NULL) to the row if it exists
   * and meets `expect`; returns whether it did. With nothing to set, only checks and locks the row.
   */
  private async update(
    c: Db,
    table: Table,
    set: object,
    keyValues: SqlValue[],
    expect: Expect,
  ): Promise<boolean> {
    const values = set as Readonly<Record<string, unknown>>;
    for (const k of Object.keys(values)) {
      if (!Object.hasOwn(table.columns, k)) {
        throw new JobhubError('internal', `cannot set ${k} on ${table.name}: not a changeable field`);
      }
    }
    // Whitelist order, so the same keys in another order share one statement.
    const keys = Object.keys(table.columns).filter((k) => values[k] !== undefined);
    const columns = keys.map((k) => table.columns[k]!);
    const byState = expect.state !== undefined;
    const byAttempt = expect.attempt !== undefined;
    const st = this.built.get(
      `upd_${table.name}_${keys.join('_')}${byState ? '_s' : ''}${byAttempt ? '_a' : ''}`,
      () => {
        let n = 0;
        const param = (cast?: string) => `$${++n}${cast ? `::${cast}` : ''}`;
        const assignments = columns.map((col) => `${col.column} = ${param(col.cast)}`);
        const where = table.key.map((k) => `${k} = ${param()}`);
        if (byState) where.push(`${table.stateColumn} = ${param()}`);
        if (byAttempt) where.push(`attempt = ${param()}`);
        return assignments.length > 0
          ? `UPDATE ${table.name} SET ${assignments.join(', ')} WHERE ${where.join(' AND ')} RETURNING 1 AS ok`
          : `SELECT 1 AS ok FROM ${table.name} WHERE ${where.join(' AND ')} FOR NO KEY UPDATE`;
      },
    );
    const params: unknown[] = keys.map((k, i) => {
      const v = values[k];
      const encode = columns[i]!.encode as ((value: unknown) => SqlValue) | undefined;
      return encode ? encode(v) : v;
    });
    params.push(...keyValues);
    if (byState) params.push(expect.state);
    if (byAttempt) params.push(expect.attempt);
    return (await query(c, st, params)).length > 0;
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
