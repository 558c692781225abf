/** External backends' configs and runs (migration 10). */
import type { BackendRecord, BackendReport, BackendRunRecord, BackendRunUpdate } from '../backend-records.js';
import type { StatementCache } from './connection.js';

interface BackendRow {
  id: string;
  kind: string;
  config_json: string;
  sealed_token: string | null;
  source: string;
  updated_at: number;
}

interface RunRow {
  job_id: number;
  task_id: number;
  attempt: number;
  backend_id: string;
  keys_json: string;
  output_offset: number;
  log_seq: number;
  report_json: string | null;
  updated_at: number;
}

const B_COLUMNS = 'id, kind, config_json, sealed_token, source, updated_at';
const B_UPSERT = `INSERT INTO backends (${B_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, config_json = excluded.config_json,
  sealed_token = excluded.sealed_token, source = excluded.source, updated_at = excluded.updated_at`;
const B_ONE = `SELECT ${B_COLUMNS} FROM backends WHERE id = ?`;
const B_ALL = `SELECT ${B_COLUMNS} FROM backends ORDER BY id`;
const B_DELETE = 'DELETE FROM backends WHERE id = ?';
const B_DELETE_FILE = "DELETE FROM backends WHERE source = 'file'";

const R_COLUMNS =
  'job_id, task_id, attempt, backend_id, keys_json, output_offset, log_seq, report_json, updated_at';
const R_INSERT = `INSERT INTO backend_runs (${R_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (job_id, task_id, attempt) DO NOTHING`;
const R_ONE = `SELECT ${R_COLUMNS} FROM backend_runs WHERE job_id = ? AND task_id = ? AND attempt = ?`;
const R_OF_JOB = `SELECT ${R_COLUMNS} FROM backend_runs WHERE job_id = ? ORDER BY task_id, attempt`;
const R_UPDATE = `UPDATE backend_runs SET keys_json = coalesce(?, keys_json), output_offset = coalesce(?, output_offset),
  log_seq = coalesce(?, log_seq), report_json = CASE WHEN ? = 1 THEN ? ELSE report_json END, updated_at = ?
  WHERE job_id = ? AND task_id = ? AND attempt = ?`;
const R_TAKE_SEQS = `UPDATE backend_runs SET log_seq = log_seq + ?, updated_at = ?
  WHERE job_id = ? AND task_id = ? AND attempt = ? RETURNING log_seq`;

function backendFromRow(r: BackendRow): BackendRecord {
  return {
    id: r.id,
    kind: r.kind as BackendRecord['kind'],
    config: JSON.parse(r.config_json) as Record<string, unknown>,
    sealedToken: r.sealed_token,
    source: r.source as BackendRecord['source'],
    updatedAt: r.updated_at,
  };
}

function runFromRow(r: RunRow): BackendRunRecord {
  return {
    jobId: r.job_id,
    taskId: r.task_id,
    attempt: r.attempt,
    backendId: r.backend_id,
    keys: JSON.parse(r.keys_json) as BackendRunRecord['keys'],
    outputOffset: r.output_offset,
    logSeq: r.log_seq,
    report: r.report_json === null ? null : (JSON.parse(r.report_json) as BackendReport),
    updatedAt: r.updated_at,
  };
}

export class BackendStatements {
  constructor(private readonly st: StatementCache) {}

  put(b: BackendRecord): void {
    this.st.get(B_UPSERT).run(b.id, b.kind, JSON.stringify(b.config), b.sealedToken, b.source, b.updatedAt);
  }

  /** Replaces every file-configured backend with these (one transaction, by the caller). */
  replaceFromFile(list: BackendRecord[]): void {
    this.st.get(B_DELETE_FILE).run();
    for (const b of list) this.put(b);
  }

  one(id: string): BackendRecord | undefined {
    const r = this.st.get<[string], BackendRow>(B_ONE).get(id);
    return r === undefined ? undefined : backendFromRow(r);
  }

  all(): BackendRecord[] {
    return this.st.get<[], BackendRow>(B_ALL).all().map(backendFromRow);
  }

  delete(id: string): boolean {
    return this.st.get(B_DELETE).run(id).changes > 0;
  }

  insertRun(r: BackendRunRecord): void {
    this.st
      .get(R_INSERT)
      .run(
        r.jobId,
        r.taskId,
        r.attempt,
        r.backendId,
        JSON.stringify(r.keys),
        r.outputOffset,
        r.logSeq,
        r.report === null ? null : JSON.stringify(r.report),
        r.updatedAt,
      );
  }

  run(jobId: number, taskId: number, attempt: number): BackendRunRecord | undefined {
    const r = this.st.get<[number, number, number], RunRow>(R_ONE).get(jobId, taskId, attempt);
    return r === undefined ? undefined : runFromRow(r);
  }

  runsOfJob(jobId: number): BackendRunRecord[] {
    return this.st.get<[number], RunRow>(R_OF_JOB).all(jobId).map(runFromRow);
  }

  updateRun(jobId: number, taskId: number, attempt: number, set: BackendRunUpdate, now: number): void {
    this.st
      .get(R_UPDATE)
      .run(
        set.keys === undefined ? null : JSON.stringify(set.keys),
        set.outputOffset ?? null,
        set.logSeq ?? null,
        set.report === undefined ? 0 : 1,
        set.report == null ? null : JSON.stringify(set.report),
        now,
        jobId,
        taskId,
        attempt,
      );
  }

  /** Reserves `n` log seqs; returns the last one reserved (undefined: no such run). */
  takeSeqs(jobId: number, taskId: number, attempt: number, n: number, now: number): number | undefined {
    const r = this.st
      .get<[number, number, number, number, number], { log_seq: number }>(R_TAKE_SEQS)
      .get(n, now, jobId, taskId, attempt);
    return r?.log_seq;
  }
}
