/** Files and workspaces (migration 5): metadata only; the content is a blob named by its hash. */
import { ConflictError, NotFoundError } from '../../core/errors.js';
import type { Owner } from '../../core/types.js';
import type { FileKind, FileRecord, WorkspaceRecord } from '../store.js';
import type { StatementCache } from './connection.js';

interface FileRow {
  job_id: number;
  path: string;
  size: number;
  sha256: string;
  kind: string;
  task_id: number | null;
  node_id: string | null;
  created_at: number;
}

interface WorkspaceRow {
  id: string;
  name: string;
  sha256: string;
  size: number;
  format: string;
  owner_json: string | null;
  created_at: number;
}

const FILE_COLUMNS = 'job_id, path, size, sha256, kind, task_id, node_id, created_at';
const WS_COLUMNS = 'id, name, sha256, size, format, owner_json, created_at';

const JOB_STATE = 'SELECT status, held FROM jobs WHERE id = ?';
const SELECT_FILE = `SELECT ${FILE_COLUMNS} FROM files WHERE job_id = ? AND path = ?`;
const UPSERT_FILE = `
INSERT INTO files (${FILE_COLUMNS}) VALUES (@jobId, @path, @size, @sha256, @kind, @taskId, @nodeId, @createdAt)
ON CONFLICT (job_id, path) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256, kind = excluded.kind,
  task_id = excluded.task_id, node_id = excluded.node_id, created_at = excluded.created_at`;
const LIST_FILES = `SELECT ${FILE_COLUMNS} FROM files WHERE job_id = ? ORDER BY path`;
const JOB_SIZE = `SELECT COALESCE(SUM(size), 0) AS n FROM files WHERE job_id = ? AND kind <> 'workspace'`;
const DELETE_FILES = 'DELETE FROM files WHERE job_id = ?';
const BLOB_IN_USE = `SELECT EXISTS (SELECT 1 FROM files WHERE sha256 = @sha)
  OR EXISTS (SELECT 1 FROM workspaces WHERE sha256 = @sha) AS used`;
const ENDED_WITH_FILES = `
SELECT id FROM jobs WHERE ended_at IS NOT NULL AND ended_at < ? AND status IN ('succeeded', 'failed', 'stopped')
  AND EXISTS (SELECT 1 FROM files WHERE files.job_id = jobs.id)
ORDER BY ended_at, id LIMIT ?`;
const DELETE_JOB = 'DELETE FROM jobs WHERE id = ?';
const DELETE_LOGS = 'DELETE FROM logs WHERE job_id = ?';
const INSERT_WS = `INSERT INTO workspaces (${WS_COLUMNS}) VALUES (@id, @name, @sha256, @size, @format, @ownerJson, @createdAt)`;
const WS_BY_ID = `SELECT ${WS_COLUMNS} FROM workspaces WHERE id = ?`;
const WS_BY_NAME = `SELECT ${WS_COLUMNS} FROM workspaces WHERE name = ? ORDER BY created_at DESC, id DESC LIMIT 1`;
const WS_ALL = `SELECT ${WS_COLUMNS} FROM workspaces ORDER BY created_at DESC, id DESC`;

const FINAL = new Set(['succeeded', 'failed', 'stopped']);

function fileFromRow(r: FileRow): FileRecord {
  return {
    jobId: r.job_id,
    path: r.path,
    size: r.size,
    sha256: r.sha256,
    kind: r.kind as FileKind,
    taskId: r.task_id,
    nodeId: r.node_id,
    createdAt: r.created_at,
  };
}

function workspaceFromRow(r: WorkspaceRow): WorkspaceRecord {
  return {
    id: r.id,
    name: r.name,
    sha256: r.sha256,
    size: r.size,
    format: r.format,
    owner: r.owner_json === null ? null : (JSON.parse(r.owner_json) as Owner),
    createdAt: r.created_at,
  };
}

export class FileStatements {
  constructor(private readonly st: StatementCache) {}

  /** Must run inside a write transaction. */
  put(f: FileRecord, require?: 'held' | 'active'): FileRecord | undefined {
    const job = this.st.get<[number], { status: string; held: number }>(JOB_STATE).get(f.jobId);
    if (!job) throw new NotFoundError(`job ${f.jobId}`);
    if (require === 'held' && job.held === 0) {
      throw new ConflictError(`job ${f.jobId} is not held: inputs can only be added before it is released`, {
        jobId: f.jobId,
        status: job.status,
      });
    }
    if (require === 'active' && FINAL.has(job.status)) {
      throw new ConflictError(`job ${f.jobId} is already ${job.status}`, {
        jobId: f.jobId,
        status: job.status,
      });
    }
    const before = this.get(f.jobId, f.path);
    this.st.get<[FileRecord]>(UPSERT_FILE).run(f);
    return before;
  }

  get(jobId: number, path: string): FileRecord | undefined {
    const r = this.st.get<[number, string], FileRow>(SELECT_FILE).get(jobId, path);
    return r === undefined ? undefined : fileFromRow(r);
  }

  list(jobId: number): FileRecord[] {
    return this.st.get<[number], FileRow>(LIST_FILES).all(jobId).map(fileFromRow);
  }

  size(jobId: number): number {
    return this.st.get<[number], { n: number }>(JOB_SIZE).get(jobId)?.n ?? 0;
  }

  /** Must run inside a write transaction. */
  delete(jobId: number, kinds?: readonly FileKind[]): FileRecord[] {
    const rows = this.list(jobId).filter((f) => kinds === undefined || kinds.includes(f.kind));
    if (kinds === undefined) this.st.get<[number]>(DELETE_FILES).run(jobId);
    else {
      const del = this.st.get<[number, string]>('DELETE FROM files WHERE job_id = ? AND path = ?');
      for (const f of rows) del.run(jobId, f.path);
    }
    return rows;
  }

  inUse(sha256: string): boolean {
    return (
      (this.st.get<[{ sha: string }], { used: number }>(BLOB_IN_USE).get({ sha: sha256 })?.used ?? 0) !== 0
    );
  }

  endedWithFiles(before: number, limit: number): number[] {
    return this.st.get<[number, number], number>(ENDED_WITH_FILES).pluck().all(before, limit);
  }

  /** Must run inside a write transaction; the caller appends the event. */
  deleteJob(id: number): FileRecord[] {
    const job = this.st.get<[number], { status: string; held: number }>(JOB_STATE).get(id);
    if (!job) throw new NotFoundError(`job ${id}`);
    if (!FINAL.has(job.status)) {
      throw new ConflictError(
        `job ${id} is ${job.status}: only a finished job can be deleted (stop it first)`,
        {
          jobId: id,
          status: job.status,
        },
      );
    }
    const files = this.list(id);
    this.st.get<[number]>(DELETE_LOGS).run(id);
    this.st.get<[number]>(DELETE_JOB).run(id); // stages, tasks and files go with it (ON DELETE CASCADE)
    return files;
  }

  createWorkspace(w: WorkspaceRecord): WorkspaceRecord {
    this.st.get<[Omit<WorkspaceRecord, 'owner'> & { ownerJson: string | null }]>(INSERT_WS).run({
      id: w.id,
      name: w.name,
      sha256: w.sha256,
      size: w.size,
      format: w.format,
      createdAt: w.createdAt,
      ownerJson: w.owner === null ? null : JSON.stringify(w.owner),
    });
    return w;
  }

  workspace(idOrName: string): WorkspaceRecord | undefined {
    const r =
      this.st.get<[string], WorkspaceRow>(WS_BY_ID).get(idOrName) ??
      this.st.get<[string], WorkspaceRow>(WS_BY_NAME).get(idOrName);
    return r === undefined ? undefined : workspaceFromRow(r);
  }

  workspaces(): WorkspaceRecord[] {
    return this.st.get<[], WorkspaceRow>(WS_ALL).all().map(workspaceFromRow);
  }
}
