/** Job, stage and task statements: creating a job with its plan, and reading jobs back. */
import { JOB_STATUSES, type JobStatus } from '../../core/types.js';
import type { JobDetail, JobQuery, JobRecord, NewJob } from '../store.js';
import { type Db, query, StatementCache, statement } from './connection.js';
import {
  type JobRow,
  jobFromRow,
  limitOf,
  type StageRow,
  stageFromRow,
  type TaskRow,
  taskFromRow,
  toJson,
  toJsonOrNull,
} from './rows.js';

export const DEFAULT_JOB_LIMIT = 100;

/** Job statuses that are not final: what `listActiveJobIds` returns. */
export const ACTIVE_JOB_STATUSES: readonly JobStatus[] = ['queued', 'running', 'stopping'];

const JOB_COLUMNS =
  'id, name, status, owner_json, labels_json, raw_spec, spec_json, placement_json, created_at, started_at, ' +
  'ended_at, reason, waiting_for, stop_requested, retry_of, submitter, held, params_json, template_name, ' +
  'template_version';

const INSERT_JOB = statement(
  'jobs_insert',
  `INSERT INTO jobs (name, status, owner_json, labels_json, raw_spec, spec_json, created_at, stop_requested, retry_of, submitter, held,
                     params_json, template_name, template_version)
   VALUES ($1, 'queued', $2::jsonb, $3::jsonb, $4, $5::jsonb, $6, false, $7, $8, $9, $10::jsonb, $11, $12)
   RETURNING id`,
);
const INSERT_STAGES = statement(
  'stages_insert',
  `INSERT INTO stages (job_id, name, idx, status)
   SELECT $1, name, idx, 'queued' FROM unnest($2::text[], $3::int[]) AS s(name, idx)`,
);
const INSERT_TASKS = statement(
  'tasks_insert',
  `INSERT INTO tasks (job_id, id, stage, node, name, idx, long_running, status, attempt)
   SELECT $1, id, stage, node, name, idx, long_running, 'queued', 0
   FROM unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::int[], $7::boolean[])
        AS t(id, stage, node, name, idx, long_running)`,
);

const SELECT_JOB = statement('jobs_get', `SELECT ${JOB_COLUMNS} FROM jobs WHERE id = $1`);
// The job with its stages and tasks in one statement: one round trip, one snapshot. Row-to-JSON keeps
// the column names; numbers and booleans come back as JSON numbers and booleans. Names sort as bytes
// (COLLATE "C"), as SQLite sorts them.
const SELECT_DETAIL = statement(
  'jobs_detail',
  `SELECT ${JOB_COLUMNS},
     COALESCE((SELECT json_agg(s ORDER BY s.idx, s.name COLLATE "C") FROM stages s WHERE s.job_id = jobs.id),
              '[]') AS stages,
     COALESCE((SELECT json_agg(t ORDER BY t.id) FROM tasks t WHERE t.job_id = jobs.id), '[]') AS tasks
   FROM jobs WHERE id = $1`,
);
// Uses the (status, id) index: a scan of the index, not of the table.
const COUNT_BY_STATUS = statement('jobs_count', 'SELECT status, COUNT(*) AS n FROM jobs GROUP BY status');
const SELECT_ACTIVE_IDS = statement(
  'jobs_active',
  'SELECT id FROM jobs WHERE status = ANY($1::text[]) ORDER BY id',
);

interface DetailRow extends JobRow {
  stages: StageRow[];
  tasks: TaskRow[];
}

const PAGE = 'ORDER BY id DESC LIMIT $1 OFFSET $2';

/**
 * The ids of the page, picked before any job row is read: a page far down (`start`) skips along an
 * index (the primary key alone, index-only; see migration 8), not along the table's wide rows. An
 * owner is matched by name or by id; with an OR, PostgreSQL reads both indexes into a bitmap and
 * sorts every job of the owner, so each form is scanned alone, in id order and only as far as the
 * page can reach ($1 + $2 rows), and the two are united.
 */
function pageIds(where: readonly string[], owner: string | undefined): string {
  const ids = (extra: string[]) => {
    const all = [...where, ...extra];
    return `SELECT id FROM jobs${all.length > 0 ? ` WHERE ${all.join(' AND ')}` : ''}`;
  };
  if (owner === undefined) return `${ids([])} ${PAGE}`;
  const reach = 'LIMIT $1::bigint + $2::bigint';
  const byName = ids([`owner_json ->> 'name' = ${owner}`]);
  const byId = ids([`owner_json ->> 'id' = ${owner}`]);
  return (
    `SELECT id FROM (${byName} ORDER BY id DESC ${reach}) AS by_name UNION ` +
    `SELECT id FROM (${byId} ORDER BY id DESC ${reach}) AS by_id ${PAGE}`
  );
}

export class JobStatements {
  private readonly built = new StatementCache();

  /** Inserts the job (queued), its stages and its tasks (ids 1..n in the given order); returns the id. */
  async insert(c: Db, input: NewJob): Promise<number> {
    const [row] = await query<{ id: number }>(c, INSERT_JOB, [
      input.name,
      toJsonOrNull(input.owner),
      toJson(input.labels),
      input.rawSpec,
      toJson(input.spec),
      input.createdAt,
      input.retryOf ?? null,
      input.submitter ?? null,
      input.held === true,
      toJsonOrNull(input.params ?? null),
      input.template?.name ?? null,
      input.template?.version ?? null,
    ]);
    if (row === undefined) throw new Error('INSERT INTO jobs returned no id');
    const jobId = row.id;
    if (input.stages.length > 0) {
      await query(c, INSERT_STAGES, [
        jobId,
        input.stages.map((s) => s.name),
        input.stages.map((s) => s.index),
      ]);
    }
    if (input.tasks.length > 0) {
      const t = input.tasks;
      await query(c, INSERT_TASKS, [
        jobId,
        t.map((_, i) => i + 1),
        t.map((x) => x.stage),
        t.map((x) => x.node),
        t.map((x) => x.name),
        t.map((x) => x.index),
        t.map((x) => x.longRunning),
      ]);
    }
    return jobId;
  }

  async get(db: Db, id: number): Promise<JobRecord | undefined> {
    const [row] = await query<JobRow>(db, SELECT_JOB, [id]);
    return row === undefined ? undefined : jobFromRow(row);
  }

  async detail(db: Db, id: number): Promise<JobDetail | undefined> {
    const [row] = await query<DetailRow>(db, SELECT_DETAIL, [id]);
    if (row === undefined) return undefined;
    return { job: jobFromRow(row), stages: row.stages.map(stageFromRow), tasks: row.tasks.map(taskFromRow) };
  }

  /**
   * Newest first. An empty or absent `status` list does not filter. The statement is built from fixed
   * fragments per combination of filters and named after it, so values never enter the SQL text.
   */
  async list(db: Db, q: JobQuery = {}): Promise<JobRecord[]> {
    const labels = Object.entries(q.labels ?? {});
    const start = q.start === undefined ? 1 : Math.max(1, Math.floor(q.start));
    const values: unknown[] = [limitOf(q.limit, DEFAULT_JOB_LIMIT), start - 1];
    const where: string[] = [];
    const keys: string[] = [];
    const filter = (key: string, value: unknown, sql: (param: string) => string) => {
      values.push(value);
      keys.push(key);
      where.push(sql(`$${values.length}`));
    };
    if (q.status !== undefined && q.status.length > 0)
      filter('status', q.status, (p) => `status = ANY(${p}::text[])`);
    if (q.name !== undefined) filter('name', q.name, (p) => `name = ${p}`);
    // By name or by id: kept out of `where`, each form gets a scan of its own (see pageIds).
    let owner: string | undefined;
    if (q.owner !== undefined) {
      values.push(q.owner);
      keys.push('owner');
      owner = `$${values.length}`;
    }
    // Every label pair of the filter must be in the job's labels (the GIN index answers @>).
    if (labels.length > 0) {
      filter('labels', toJson(Object.fromEntries(labels)), (p) => `labels_json @> ${p}::jsonb`);
    }
    if (q.createdAfter !== undefined) filter('after', q.createdAfter, (p) => `created_at >= ${p}`);
    if (q.createdBefore !== undefined) filter('before', q.createdBefore, (p) => `created_at < ${p}`);
    if (q.beforeId !== undefined) filter('beforeId', q.beforeId, (p) => `id < ${p}`);
    if (q.submitter !== undefined) filter('submitter', q.submitter, (p) => `submitter = ${p}`);
    if (q.template !== undefined) filter('template', q.template, (p) => `template_name = ${p}`);
    if (q.ownerIds !== undefined)
      filter('ownerIds', q.ownerIds, (p) => `owner_json ->> 'id' = ANY(${p}::text[])`);
    const st = this.built.get(`jobs_list_${keys.join('_')}`, () => {
      return `SELECT ${JOB_COLUMNS} FROM jobs WHERE id IN (${pageIds(where, owner)}) ORDER BY id DESC`;
    });
    return (await query<JobRow>(db, st, values)).map(jobFromRow);
  }

  async countByStatus(db: Db): Promise<Record<JobStatus, number>> {
    const counts = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as Record<JobStatus, number>;
    for (const r of await query<{ status: JobStatus; n: number }>(db, COUNT_BY_STATUS))
      counts[r.status] = r.n;
    return counts;
  }

  async activeIds(db: Db): Promise<number[]> {
    return (await query<{ id: number }>(db, SELECT_ACTIVE_IDS, [ACTIVE_JOB_STATUSES])).map((r) => r.id);
  }
}
