/** External backends' configs and runs (migration 10). */
import type { BackendRecord, BackendReport, BackendRunRecord, BackendRunUpdate } from '../backend-records.js';
import { type Db, query, statement } from './connection.js';

interface BackendRow {
  id: string;
  kind: string;
  config_json: Record<string, unknown>;
  sealed_token: string | null;
  source: string;
  updated_at: string | number;
}

interface RunRow {
  job_id: string | number;
  task_id: number;
  attempt: number;
  backend_id: string;
  keys_json: BackendRunRecord['keys'];
  output_offset: string | number;
  log_seq: number;
  report_json: BackendReport | null;
  updated_at: string | number;
}

const B_COLUMNS = 'id, kind, config_json, sealed_token, source, updated_at';
const B_UPSERT = statement(
  'backends_upsert',
  `INSERT INTO backends (${B_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, config_json = excluded.config_json,
  sealed_token = excluded.sealed_token, source = excluded.source, updated_at = excluded.updated_at`,
);
const B_ONE = statement('backends_one', `SELECT ${B_COLUMNS} FROM backends WHERE id = $1`);
const B_ALL = statement('backends_all', `SELECT ${B_COLUMNS} FROM backends ORDER BY id COLLATE "C"`);
const B_DELETE = statement('backends_delete', 'DELETE FROM backends WHERE id = $1 RETURNING id');
const B_DELETE_FILE = statement('backends_delete_file', "DELETE FROM backends WHERE source = 'file'");

const R_COLUMNS =
  'job_id, task_id, attempt, backend_id, keys_json, output_offset, log_seq, report_json, updated_at';
const R_INSERT = statement(
  'backend_runs_insert',
  `INSERT INTO backend_runs (${R_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (job_id, task_id, attempt) DO NOTHING`,
);
const R_ONE = statement(
  'backend_runs_one',
  `SELECT ${R_COLUMNS} FROM backend_runs WHERE job_id = $1 AND task_id = $2 AND attempt = $3`,
);
const R_OF_JOB = statement(
  'backend_runs_of_job',
  `SELECT ${R_COLUMNS} FROM backend_runs WHERE job_id = $1 ORDER BY task_id, attempt`,
);
const R_UPDATE = statement(
  'backend_runs_update',
  `UPDATE backend_runs SET keys_json = coalesce($1::jsonb, keys_json), output_offset = coalesce($2::bigint, output_offset),
  log_seq = coalesce($3::integer, log_seq), report_json = CASE WHEN $4::boolean THEN $5::jsonb ELSE report_json END,
  updated_at = $6 WHERE job_id = $7 AND task_id = $8 AND attempt = $9`,
);
const R_TAKE_SEQS = statement(
  'backend_runs_take_seqs',
  `UPDATE backend_runs SET log_seq = log_seq + $1, updated_at = $2
  WHERE job_id = $3 AND task_id = $4 AND attempt = $5 RETURNING log_seq`,
);

function backendFromRow(r: BackendRow): BackendRecord {
  return {
    id: r.id,
    kind: r.kind as BackendRecord['kind'],
    config: r.config_json,
    sealedToken: r.sealed_token,
    source: r.source as BackendRecord['source'],
    updatedAt: Number(r.updated_at),
  };
}

function runFromRow(r: RunRow): BackendRunRecord {
  return {
    jobId: Number(r.job_id),
    taskId: r.task_id,
    attempt: r.attempt,
    backendId: r.backend_id,
    keys: r.keys_json,
    outputOffset: Number(r.output_offset),
    logSeq: r.log_seq,
    report: r.report_json,
    updatedAt: Number(r.updated_at),
  };
}

export class BackendStatements {
  async put(db: Db, b: BackendRecord): Promise<void> {
    await query(db, B_UPSERT, [b.id, b.kind, JSON.stringify(b.config), b.sealedToken, b.source, b.updatedAt]);
  }

  /** Replaces every file-configured backend with these (in the caller's transaction). */
  async replaceFromFile(db: Db, list: BackendRecord[]): Promise<void> {
    await query(db, B_DELETE_FILE);
    for (const b of list) await this.put(db, b);
  }

  async one(db: Db, id: string): Promise<BackendRecord | undefined> {
    const [r] = await query<BackendRow>(db, B_ONE, [id]);
    return r === undefined ? undefined : backendFromRow(r);
  }

  async all(db: Db): Promise<BackendRecord[]> {
    return (await query<BackendRow>(db, B_ALL)).map(backendFromRow);
  }

  async delete(db: Db, id: string): Promise<boolean> {
    return (await query(db, B_DELETE, [id])).length > 0;
  }

  async insertRun(db: Db, r: BackendRunRecord): Promise<void> {
    await query(db, R_INSERT, [
      r.jobId,
      r.taskId,
      r.attempt,
      r.backendId,
      JSON.stringify(r.keys),
      r.outputOffset,
      r.logSeq,
      r.report === null ? null : JSON.stringify(r.report),
      r.updatedAt,
    ]);
  }

  async run(db: Db, jobId: number, taskId: number, attempt: number): Promise<BackendRunRecord | undefined> {
    const [r] = await query<RunRow>(db, R_ONE, [jobId, taskId, attempt]);
    return r === undefined ? undefined : runFromRow(r);
  }

  async runsOfJob(db: Db, jobId: number): Promise<BackendRunRecord[]> {
    return (await query<RunRow>(db, R_OF_JOB, [jobId])).map(runFromRow);
  }

  async updateRun(
    db: Db,
    jobId: number,
    taskId: number,
    attempt: number,
    set: BackendRunUpdate,
    now: number,
  ): Promise<void> {
    await query(db, R_UPDATE, [
      set.keys === undefined ? null : JSON.stringify(set.keys),
      set.outputOffset ?? null,
      set.logSeq ?? null,
      set.report !== undefined,
      set.report == null ? null : JSON.stringify(set.report),
      now,
      jobId,
      taskId,
      attempt,
    ]);
  }

  async takeSeqs(
    db: Db,
    jobId: number,
    taskId: number,
    attempt: number,
    n: number,
    now: number,
  ): Promise<number | undefined> {
    const [r] = await query<{ log_seq: number }>(db, R_TAKE_SEQS, [n, now, jobId, taskId, attempt]);
    return r?.log_seq;
  }
}
