/** Job, stage and task statements: creating a job with its plan, and reading jobs back. */
import { JOB_STATUSES, type JobStatus } from '../../core/types.js';
import type { JobDetail, JobQuery, JobRecord, NewJob, StageRecord, TaskRecord } from '../store.js';
import type { StatementCache } from './connection.js';
import {
  type JobRow,
  jobFromRow,
  limitOf,
  type StageRow,
  stageFromRow,
  type TaskRow,
  taskFromRow,
  toBit,
  toJsonOrNull,
} from './rows.js';

export const DEFAULT_JOB_LIMIT = 100;

/** Job statuses that are not final: what `listActiveJobIds` returns. */
export const ACTIVE_JOB_STATUSES: readonly JobStatus[] = ['queued', 'running', 'stopping'];

const JOB_COLUMNS =
  'id, name, status, owner_json, labels_json, raw_spec, spec_json, placement_json, created_at, started_at, ' +
  'ended_at, reason, waiting_for, stop_requested, retry_of, submitter, held, params_json, template_name, ' +
  'template_version';
const STAGE_COLUMNS = 'job_id, name, idx, status, started_at, ready_at, ended_at';
const TASK_COLUMNS =
  'job_id, id, stage, node, name, idx, long_running, status, attempt, node_id, started_at, ready_at, ended_at, ' +
  'exit_code, text, node_instance';

const INSERT_JOB = `
INSERT INTO jobs (name, status, owner_json, labels_json, raw_spec, spec_json, created_at, stop_requested, retry_of, submitter, held,
                  params_json, template_name, template_version)
VALUES (@name, 'queued', @owner_json, @labels_json, @raw_spec, @spec_json, @created_at, 0, @retry_of, @submitter, @held,
        @params_json, @template_name, @template_version)`;
const INSERT_STAGE = `INSERT INTO stages (job_id, name, idx, status) VALUES (?, ?, ?, 'queued')`;
const INSERT_TASK = `
INSERT INTO tasks (job_id, id, stage, node, name, idx, long_running, status, attempt)
VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', 0)`;

const SELECT_JOB = `SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ?`;
const SELECT_STAGES = `SELECT ${STAGE_COLUMNS} FROM stages WHERE job_id = ? ORDER BY idx, name`;
const SELECT_TASKS = `SELECT ${TASK_COLUMNS} FROM tasks WHERE job_id = ? ORDER BY id`;
// Uses the (status, id) index: a scan of the index, not of the table.
const COUNT_BY_STATUS = 'SELECT status, COUNT(*) AS n FROM jobs GROUP BY status';
const SELECT_ACTIVE_IDS = `SELECT id FROM jobs WHERE status IN ('queued', 'running', 'stopping') ORDER BY id`;

interface JobListParams {
  statuses: string | null;
  name: string | null;
  owner: string | null;
  labels: string | null;
  createdAfter: number | null;
  createdBefore: number | null;
  beforeId: number | null;
  submitter: string | null;
  template: string | null;
  ownerIds: string | null;
  limit: number;
  offset: number;
  /** limit + offset: how far down each part of an owner filter the page can reach. */
  reach: number;
}

const PAGE = 'ORDER BY id DESC LIMIT @limit OFFSET @offset';

/**
 * The ids of the page, picked before any job row is read: a page far down (`start`) skips along an
 * index (`jobs_id` without filters, migration 8), not along the table's wide rows. An owner is
 * matched by name or by id; with an OR, SQLite merges both indexes and sorts every job of the owner,
 * so each form is scanned alone, in id order and only as far as the page can reach, and the two are
 * united.
 */
function pageIds(where: readonly string[], byOwner: boolean): string {
  const ids = (extra: string[]) => {
    const all = [...where, ...extra];
    return `SELECT id FROM jobs${all.length > 0 ? ` WHERE ${all.join(' AND ')}` : ''}`;
  };
  if (!byOwner) return `${ids([])} ${PAGE}`;
  const byName = ids([`json_extract(owner_json, '$.name') = @owner`]);
  const byId = ids([`json_extract(owner_json, '$.id') = @owner`]);
  return (
    `SELECT id FROM (${byName} ORDER BY id DESC LIMIT @reach) UNION ` +
    `SELECT id FROM (${byId} ORDER BY id DESC LIMIT @reach) ${PAGE}`
  );
}

export class JobStatements {
  constructor(private readonly st: StatementCache) {}

  /** Inserts the job (queued), its stages and its tasks (ids 1..n in the given order); returns the id. */
  insert(input: NewJob): number {
    const res = this.st
      .get<
        [
          {
            name: string;
            owner_json: string | null;
            labels_json: string;
            raw_spec: string;
            spec_json: string;
            created_at: number;
            retry_of: number | null;
            submitter: string | null;
            held: 0 | 1;
            params_json: string | null;
            template_name: string | null;
            template_version: number | null;
          },
        ]
      >(INSERT_JOB)
      .run({
        name: input.name,
        owner_json: toJsonOrNull(input.owner),
        labels_json: JSON.stringify(input.labels),
        raw_spec: input.rawSpec,
        spec_json: JSON.stringify(input.spec),
        created_at: input.createdAt,
        retry_of: input.retryOf ?? null,
        submitter: input.submitter ?? null,
        held: toBit(input.held === true),
        params_json: toJsonOrNull(input.params ?? null),
        template_name: input.template?.name ?? null,
        template_version: input.template?.version ?? null,
      });
    const jobId = Number(res.lastInsertRowid);
    const insertStage = this.st.get<[number, string, number]>(INSERT_STAGE);
    for (const s of input.stages) insertStage.run(jobId, s.name, s.index);
    const insertTask = this.st.get<[number, number, string, string, string, number, 0 | 1]>(INSERT_TASK);
    input.tasks.forEach((t, i) => {
      insertTask.run(jobId, i + 1, t.stage, t.node, t.name, t.index, toBit(t.longRunning));
    });
    return jobId;
  }

  get(id: number): JobRecord | undefined {
    const row = this.st.get<[number], JobRow>(SELECT_JOB).get(id);
    return row === undefined ? undefined : jobFromRow(row);
  }

  stages(jobId: number): StageRecord[] {
    return this.st.get<[number], StageRow>(SELECT_STAGES).all(jobId).map(stageFromRow);
  }

  tasks(jobId: number): TaskRecord[] {
    return this.st.get<[number], TaskRow>(SELECT_TASKS).all(jobId).map(taskFromRow);
  }

  detail(id: number): JobDetail | undefined {
    const job = this.get(id);
    if (job === undefined) return undefined;
    return { job, stages: this.stages(id), tasks: this.tasks(id) };
  }

  /**
   * Newest first. An empty or absent `status` list does not filter. The statement is built from fixed
   * fragments per combination of filters and cached, so values never enter the SQL text.
   */
  list(query: JobQuery = {}): JobRecord[] {
    const labels = Object.entries(query.labels ?? {});
    const filters = {
      status: query.status !== undefined && query.status.length > 0,
      name: query.name !== undefined,
      owner: query.owner !== undefined,
      labels: labels.length > 0,
      after: query.createdAfter !== undefined,
      before: query.createdBefore !== undefined,
      beforeId: query.beforeId !== undefined,
      submitter: query.submitter !== undefined,
      template: query.template !== undefined,
      ownerIds: query.ownerIds !== undefined,
    };
    const key = Object.entries(filters)
      .filter(([, on]) => on)
      .map(([k]) => k)
      .join(',');
    const stmt = this.st.getBuilt<[JobListParams], JobRow>(`jobs.list:${key}`, () => {
      const where: string[] = [];
      if (filters.status) where.push('status IN (SELECT value FROM json_each(@statuses))');
      if (filters.name) where.push('name = @name');
      // Every label pair of the filter must be in the job's labels.
      if (filters.labels) {
        where.push(
          `NOT EXISTS (SELECT 1 FROM json_each(@labels) AS want
             WHERE json_extract(jobs.labels_json, '$."' || want.key || '"') IS NOT want.value)`,
        );
      }
      if (filters.after) where.push('created_at >= @createdAfter');
      if (filters.before) where.push('created_at < @createdBefore');
      if (filters.beforeId) where.push('id < @beforeId');
      if (filters.submitter) where.push('submitter = @submitter');
      if (filters.template) where.push('template_name = @template');
      if (filters.ownerIds)
        where.push(`json_extract(owner_json, '$.id') IN (SELECT value FROM json_each(@ownerIds))`);
      return `SELECT ${JOB_COLUMNS} FROM jobs WHERE id IN (${pageIds(where, filters.owner)}) ORDER BY id DESC`;
    });
    const start = query.start === undefined ? 1 : Math.max(1, Math.floor(query.start));
    return stmt
      .all({
        statuses: filters.status ? JSON.stringify(query.status) : null,
        name: query.name ?? null,
        owner: query.owner ?? null,
        labels: filters.labels ? JSON.stringify(Object.fromEntries(labels)) : null,
        createdAfter: query.createdAfter ?? null,
        createdBefore: query.createdBefore ?? null,
        beforeId: query.beforeId ?? null,
        submitter: query.submitter ?? null,
        template: query.template ?? null,
        ownerIds: query.ownerIds ? JSON.stringify(query.ownerIds) : null,
        limit: limitOf(query.limit, DEFAULT_JOB_LIMIT),
        offset: start - 1,
        reach: limitOf(query.limit, DEFAULT_JOB_LIMIT) + start - 1,
      })
      .map(jobFromRow);
  }

  countByStatus(): Record<JobStatus, number> {
    const counts = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as Record<JobStatus, number>;
    const rows = this.st.get<[], { status: JobStatus; n: number }>(COUNT_BY_STATUS).all();
    for (const r of rows) counts[r.status] = r.n;
    return counts;
  }

  activeIds(): number[] {
    return this.st.get<[], number>(SELECT_ACTIVE_IDS).pluck().all();
  }
}
