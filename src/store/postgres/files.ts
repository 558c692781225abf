/** Files and workspaces (migration 5): metadata only; the content is a blob named by its hash. */
import { ConflictError, NotFoundError } from '../../core/errors.js';
import type { Owner } from '../../core/types.js';
import type { FileKind, FileRecord, WorkspaceRecord } from '../store.js';
import { type Db, query, statement } from './connection.js';

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
  owner_json: Owner | null;
  created_at: number;
}

const FILE_COLUMNS = 'job_id, path, size, sha256, kind, task_id, node_id, created_at';
const WS_COLUMNS = 'id, name, sha256, size, format, owner_json, created_at';

// FOR SHARE: a release (UPDATE of the job row) waits for an input being added, so the coordinator,
// which lists the inputs after the release, sees it.
const JOB_STATE = statement('files_job_state', 'SELECT status, held FROM jobs WHERE id = $1 FOR SHARE');
const SELECT_FILE = statement(
  'files_get',
  `SELECT ${FILE_COLUMNS} FROM files WHERE job_id = $1 AND path = $2`,
);
const UPSERT_FILE = statement(
  'files_upsert',
  `INSERT INTO files (${FILE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
   ON CONFLICT (job_id, path) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256,
     kind = excluded.kind, task_id = excluded.task_id, node_id = excluded.node_id, created_at = excluded.created_at`,
);
const LIST_FILES = statement(
  'files_list',
  `SELECT ${FILE_COLUMNS} FROM files WHERE job_id = $1 ORDER BY path COLLATE "C"`,
);
const JOB_SIZE = statement(
  'files_job_size',
  `SELECT COALESCE(SUM(size), 0)::bigint AS n FROM files WHERE job_id = $1 AND kind <> 'workspace'`,
);
const DELETE_FILES = statement(
  'files_delete',
  `DELETE FROM files WHERE job_id = $1 AND (cardinality($2::text[]) = 0 OR kind = ANY($2::text[]))
   RETURNING ${FILE_COLUMNS}`,
);
const BLOB_IN_USE = statement(
  'files_blob_in_use',
  `SELECT EXISTS (SELECT 1 FROM files WHERE sha256 = $1) OR EXISTS (SELECT 1 FROM workspaces WHERE sha256 = $1)
     AS used`,
);
const ENDED_WITH_FILES = statement(
  'files_ended',
  `SELECT id FROM jobs WHERE ended_at IS NOT NULL AND ended_at < $1
     AND status IN ('succeeded', 'failed', 'stopped')
     AND EXISTS (SELECT 1 FROM files WHERE files.job_id = jobs.id)
   ORDER BY ended_at, id LIMIT $2`,
);
const LOCK_JOB = statement('files_job_lock', 'SELECT status FROM jobs WHERE id = $1 FOR UPDATE');
const DELETE_LOGS = statement('files_delete_logs', 'DELETE FROM logs WHERE job_id = $1');
const DELETE_JOB = statement('files_delete_job', 'DELETE FROM jobs WHERE id = $1');
const INSERT_WS = statement(
  'ws_insert',
  `INSERT INTO workspaces (${WS_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
);
const WS_BY_ID = statement('ws_by_id', `SELECT ${WS_COLUMNS} FROM workspaces WHERE id = $1`);
const WS_BY_NAME = statement(
  'ws_by_name',
  `SELECT ${WS_COLUMNS} FROM workspaces WHERE name = $1 ORDER BY created_at DESC, id COLLATE "C" DESC LIMIT 1`,
);
const WS_ALL = statement(
  'ws_all',
  `SELECT ${WS_COLUMNS} FROM workspaces ORDER BY created_at DESC, id COLLATE "C" DESC`,
);

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
    owner: r.owner_json,
    createdAt: r.created_at,
  };
}

export class FileStatements {
  /** Must run inside a transaction. */
  async put(c: Db, f: FileRecord, require?: 'held' | 'active'): Promise<FileRecord | undefined> {
    const [job] = await query<{ status: string; held: boolean }>(c, JOB_STATE, [f.jobId]);
    if (!job) throw new NotFoundError(`job ${f.jobId}`);
    if (require === 'held' && !job.held) {
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
    const before = await this.get(c, f.jobId, f.path);
    await query(c, UPSERT_FILE, [f.jobId, f.path, f.size, f.sha256, f.kind, f.taskId, f.nodeId, f.createdAt]);
    return before;
  }

  async get(db: Db, jobId: number, path: string): Promise<FileRecord | undefined> {
    const [r] = await query<FileRow>(db, SELECT_FILE, [jobId, path]);
    return r === undefined ? undefined : fileFromRow(r);
  }

  async list(db: Db, jobId: number): Promise<FileRecord[]> {
    return (await query<FileRow>(db, LIST_FILES, [jobId])).map(fileFromRow);
  }

  async size(db: Db, jobId: number): Promise<number> {
    return (await query<{ n: number }>(db, JOB_SIZE, [jobId]))[0]?.n ?? 0;
  }

  async delete(c: Db, jobId: number, kinds?: readonly FileKind[]): Promise<FileRecord[]> {
    const rows = await query<FileRow>(c, DELETE_FILES, [jobId, kinds ?? []]);
    return rows.map(fileFromRow).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  async inUse(db: Db, sha256: string): Promise<boolean> {
    return (await query<{ used: boolean }>(db, BLOB_IN_USE, [sha256]))[0]?.used === true;
  }

  async endedWithFiles(db: Db, before: number, limit: number): Promise<number[]> {
    return (await query<{ id: number }>(db, ENDED_WITH_FILES, [before, limit])).map((r) => r.id);
  }

  /** Must run inside a transaction; the caller appends the event. */
  async deleteJob(c: Db, id: number): Promise<FileRecord[]> {
    const [job] = await query<{ status: string }>(c, LOCK_JOB, [id]);
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
    const files = await this.list(c, id);
    await query(c, DELETE_LOGS, [id]);
    await query(c, DELETE_JOB, [id]); // stages, tasks and files go with it (ON DELETE CASCADE)
    return files;
  }

  async createWorkspace(c: Db, w: WorkspaceRecord): Promise<WorkspaceRecord> {
    await query(c, INSERT_WS, [w.id, w.name, w.sha256, w.size, w.format, w.owner, w.createdAt]);
    return w;
  }

  async workspace(db: Db, idOrName: string): Promise<WorkspaceRecord | undefined> {
    const [byId] = await query<WorkspaceRow>(db, WS_BY_ID, [idOrName]);
    const r = byId ?? (await query<WorkspaceRow>(db, WS_BY_NAME, [idOrName]))[0];
    return r === undefined ? undefined : workspaceFromRow(r);
  }

  async workspaces(db: Db): Promise<WorkspaceRecord[]> {
    return (await query<WorkspaceRow>(db, WS_ALL)).map(workspaceFromRow);
  }
}
