/**
 * A job's files, on the server side: inputs uploaded while a job is held, outputs and working
 * directories that agents upload when tasks end, other jobs' files taken by descriptor, workspaces;
 * listing, reading, archiving folders, deleting with the job, retention.
 *
 * Contents go to the blob store (streamed, counted against the limits, kept only once complete);
 * rows go to the store. A blob is removed once no row refers to it (and no upload in this process
 * is about to): blobs are shared by content, so a chained job's input costs nothing.
 *
 * The tree of a job: `inputs/<name>`, `outputs/<path>` (`outputs/<node>/<path>` when the job has
 * several node assignments), `workdir/<path>` (likewise), `workspace/<name>.<format>`.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { JobFilesInfo } from '../agent/protocol.js';
import { ConflictError, JobhubError, NotFoundError } from '../core/errors.js';
import { formatSize } from '../core/size.js';
import type { Owner } from '../core/types.js';
import type { FileRecord, JobDetail, JobRecord, Store, WorkspaceRecord } from '../store/store.js';
import { ARCHIVE_FORMATS, detectFileFormat, listArchive, packTarGz, readArchiveFile } from './archive.js';
import type { BlobInfo, BlobStore } from './blob-store.js';
import { cleanRelPath } from './paths.js';

export interface FileLimits {
  /** Largest single file (upload, output, workspace archive). Default 1 GiB. */
  maxFileSize: number;
  /** Largest sum of one job's files. Default 10 GiB. */
  maxJobFilesSize: number;
}

export const DEFAULT_FILE_LIMITS: FileLimits = {
  maxFileSize: 1024 ** 3,
  maxJobFilesSize: 10 * 1024 ** 3,
};

export interface FileServiceOptions {
  store: Store;
  blobs: BlobStore;
  limits?: Partial<FileLimits>;
  now?: () => number;
}

/** A blob uploaded before its job exists (a multipart submission), waiting to be attached. */
export interface StagedInput {
  name: string;
  blob: BlobInfo;
}

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export class FileService {
  readonly store: Store;
  readonly blobs: BlobStore;
  readonly limits: FileLimits;
  private readonly now: () => number;
  /** Blobs an upload of this process has written and not yet recorded: never collected meanwhile. */
  private readonly pins = new Map<string, number>();

  constructor(opts: FileServiceOptions) {
    this.store = opts.store;
    this.blobs = opts.blobs;
    this.limits = { ...DEFAULT_FILE_LIMITS, ...opts.limits };
    this.now = opts.now ?? Date.now;
  }

  // -------------------------------------------------------------------------------------------
  // Inputs

  /** Uploads an input of a held job (409 once it is released). */
  async addInput(
    jobId: number,
    name: string,
    source: Readable,
    opts: { size?: number } = {},
  ): Promise<FileRecord> {
    const clean = this.inputName(name);
    const job = await this.job(jobId);
    if (!job.held) {
      throw new ConflictError(`job ${jobId} is not held: inputs can only be uploaded before it is released`, {
        status: job.status,
      });
    }
    const blob = await this.putBlob(source, await this.budget(jobId), `input "${clean}"`, opts.size);
    try {
      return await this.record(
        {
          jobId,
          path: `inputs/${clean}`,
          size: blob.size,
          sha256: blob.sha256,
          kind: 'input',
          taskId: null,
          nodeId: null,
          createdAt: this.now(),
        },
        'held',
      );
    } finally {
      await this.release(blob.sha256);
    }
  }

  /** Streams an input in before its job exists (multipart submission); attach or discard it. */
  async stageInput(name: string, source: Readable, used: number): Promise<StagedInput> {
    const clean = this.inputName(name);
    const room = Math.min(this.limits.maxFileSize, this.limits.maxJobFilesSize - used);
    const blob = await this.putBlob(source, room, `input "${clean}"`);
    return { name: clean, blob };
  }

  async attachInputs(jobId: number, staged: readonly StagedInput[]): Promise<FileRecord[]> {
    const out: FileRecord[] = [];
    for (const s of staged) {
      out.push(
        await this.record(
          {
            jobId,
            path: `inputs/${s.name}`,
            size: s.blob.size,
            sha256: s.blob.sha256,
            kind: 'input',
            taskId: null,
            nodeId: null,
            createdAt: this.now(),
          },
          'held',
        ),
      );
    }
    await this.discard(staged);
    return out;
  }

  /** Lets staged blobs go (collected unless something refers to them). */
  async discard(staged: readonly StagedInput[]): Promise<void> {
    for (const s of staged) await this.release(s.blob.sha256);
  }

  /** Input names: relative paths that stay in their folder. */
  inputName(name: string): string {
    try {
      return cleanRelPath(name, 'input name');
    } catch (err) {
      throw new JobhubError('bad_request', (err as Error).message);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Outputs

  /** A file a task left (`output`: matched by its `outputs`; `workdir`: its kept working directory). */
  async addOutput(
    jobId: number,
    where: { taskId: number; kind: 'output' | 'workdir'; path: string },
    source: Readable,
    opts: { size?: number } = {},
  ): Promise<FileRecord> {
    const detail = await this.store.getJobDetail(jobId);
    if (!detail) throw new NotFoundError(`job ${jobId}`);
    if (['succeeded', 'failed', 'stopped'].includes(detail.job.status)) {
      throw new ConflictError(`job ${jobId} is already ${detail.job.status}`, { status: detail.job.status });
    }
    const task = detail.tasks.find((t) => t.id === where.taskId);
    if (!task) throw new JobhubError('bad_request', `job ${jobId} has no task ${where.taskId}`);
    let rel: string;
    try {
      rel = cleanRelPath(where.path, 'output path');
    } catch (err) {
      throw new JobhubError('bad_request', (err as Error).message);
    }
    const prefix = where.kind === 'output' ? 'outputs' : 'workdir';
    const byNode = detail.job.spec.nodeAssignments.length > 1 ? `${task.node}/` : '';
    const treePath = `${prefix}/${byNode}${rel}`;
    const blob = await this.putBlob(source, await this.budget(jobId), `${where.kind} "${rel}"`, opts.size);
    try {
      return await this.record(
        {
          jobId,
          path: treePath,
          size: blob.size,
          sha256: blob.sha256,
          kind: where.kind,
          taskId: task.id,
          nodeId: task.nodeId,
          createdAt: this.now(),
        },
        'active',
      );
    } finally {
      await this.release(blob.sha256);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Reading

  async list(jobId: number): Promise<{ detail: JobDetail; files: FileRecord[] }> {
    const detail = await this.store.getJobDetail(jobId);
    if (!detail) throw new NotFoundError(`job ${jobId}`);
    return { detail, files: await this.store.listFiles(jobId) };
  }

  async open(jobId: number, filePath: string): Promise<{ file: FileRecord; stream: Readable }> {
    const file = await this.store.getFile(jobId, filePath.replace(/^\/+/, ''));
    if (!file) {
      await this.job(jobId);
      throw new NotFoundError(`file "${filePath}" of job ${jobId}`);
    }
    return { file, stream: await this.blobs.open(file.sha256) };
  }

  /** The workspace archive a job runs from (pinned to it when it was made ready). */
  async openJobWorkspace(jobId: number): Promise<{ file: FileRecord; stream: Readable }> {
    const file = (await this.store.listFiles(jobId)).find((f) => f.kind === 'workspace');
    if (!file) {
      await this.job(jobId);
      throw new NotFoundError(`the workspace of job ${jobId}`);
    }
    return { file, stream: await this.blobs.open(file.sha256) };
  }

  /**
   * A folder of a job's files as a tar.gz stream, entries named from the folder on (`outputs/a.txt`
   * for folder `outputs`); '' is every file. NotFound when there is nothing under it.
   */
  async archive(jobId: number, folder: string): Promise<{ name: string; stream: Readable; files: number }> {
    const dir = folder.replace(/^\/+|\/+$/g, '');
    const { files } = await this.list(jobId);
    const under = files.filter((f) => dir === '' || f.path.startsWith(`${dir}/`));
    if (under.length === 0) throw new NotFoundError(`folder "${folder}" of job ${jobId}`);
    const parent = dir.includes('/') ? dir.slice(0, dir.lastIndexOf('/') + 1) : '';
    const stream = packTarGz(
      under.map((f) => ({
        name: f.path.slice(parent.length),
        size: f.size,
        mtime: new Date(f.createdAt),
        open: () => this.blobs.open(f.sha256),
      })),
    );
    const base = dir === '' ? `job-${jobId}` : `job-${jobId}-${dir.replace(/\//g, '-')}`;
    return { name: `${base}.tar.gz`, stream, files: under.length };
  }

  // -------------------------------------------------------------------------------------------
  // Deleting

  /** Deletes a finished job with its files (ConflictError while it is not finished). */
  async deleteJob(jobId: number): Promise<{ files: number }> {
    const { files } = await this.store.deleteJob(jobId, this.now());
    for (const sha of new Set(files.map((f) => f.sha256))) await this.collect(sha);
    return { files: files.length };
  }

  /**
   * Retention: removes the files of jobs that ended more than `retentionMs` ago (the jobs stay).
   * Returns how many jobs and files went.
   */
  async sweep(retentionMs: number): Promise<{ jobs: number; files: number }> {
    let jobs = 0;
    let count = 0;
    for (;;) {
      const ids = await this.store.jobsWithFilesEndedBefore(this.now() - retentionMs, 100);
      const due: number[] = [];
      for (const id of ids) {
        const job = await this.store.getJob(id);
        // Hook for templates (not built yet): a template's own retention would win here.
        if (job && (this.retentionOf(job) ?? retentionMs) <= this.now() - (job.endedAt ?? this.now()))
          due.push(id);
      }
      for (const id of due) {
        const removed = await this.store.deleteFiles(id);
        for (const sha of new Set(removed.map((f) => f.sha256))) await this.collect(sha);
        jobs++;
        count += removed.length;
      }
      if (ids.length < 100 || due.length === 0) break;
    }
    return { jobs, files: count };
  }

  /**
   * Removes blobs no file or workspace refers to: what a crash left between deleting rows and their
   * blobs. Only blobs older than `olderThanMs` go (one being uploaded elsewhere is not recorded
   * yet), and only where their age can be read (blobs on this machine). Returns how many went.
   */
  async sweepOrphans(olderThanMs = 60 * 60 * 1000): Promise<number> {
    let removed = 0;
    for await (const sha of this.blobs.list()) {
      if (this.pins.has(sha)) continue;
      const local = this.blobs.localPath(sha);
      if (!local) continue;
      const age = await stat(local).then(
        (s) => this.now() - s.mtimeMs,
        () => 0,
      );
      if (age < olderThanMs || (await this.store.blobInUse(sha))) continue;
      await this.blobs.delete(sha);
      removed++;
    }
    return removed;
  }

  /**
   * How long a job's files are kept when its template says so (undefined: the server's setting).
   * Templates do not exist yet; this is where a template's `retention` will be read.
   */
  retentionOf(_job: JobRecord): number | undefined {
    return undefined;
  }

  // -------------------------------------------------------------------------------------------
  // Workspaces

  /** Stores an archive (tar.gz, tar or zip) as a workspace, after checking every entry. */
  async pushWorkspace(
    name: string,
    owner: Owner | null,
    source: Readable,
    opts: { size?: number } = {},
  ): Promise<WorkspaceRecord> {
    if (!NAME_PATTERN.test(name)) {
      throw new JobhubError(
        'bad_request',
        `"${name}" is not a workspace name: use letters, digits, "_", "." and "-"`,
      );
    }
    const blob = await this.putBlob(source, this.limits.maxFileSize, `workspace "${name}"`, opts.size);
    try {
      const format = await this.withLocalFile(blob.sha256, async (file) => {
        const f = await detectFileFormat(file);
        if (!f)
          throw new JobhubError(
            'bad_request',
            'the workspace is not an archive: send a tar.gz, tar or zip file',
          );
        await listArchive(file, f, { maxBytes: this.limits.maxJobFilesSize });
        return f;
      });
      const w: WorkspaceRecord = {
        id: `ws-${randomBytes(6).toString('hex')}`,
        name,
        sha256: blob.sha256,
        size: blob.size,
        format,
        owner,
        createdAt: this.now(),
      };
      return await this.store.createWorkspace(w);
    } finally {
      await this.release(blob.sha256);
    }
  }

  listWorkspaces(): Promise<WorkspaceRecord[]> {
    return this.store.listWorkspaces();
  }

  // -------------------------------------------------------------------------------------------
  // For the coordinator

  /**
   * A job's files as its tasks get them (without the token): other jobs' files named by the spec's
   * descriptors are added to the job's inputs (sharing their blobs), the uploads the spec names must
   * be there, the workspace is pinned to the job. Idempotent: a job taken up again finds it done.
   */
  async prepare(job: JobRecord): Promise<Omit<JobFilesInfo, 'token'>> {
    const spec = job.spec;
    const declared = spec.inputs ?? [];
    let files = await this.store.listFiles(job.id);
    // Read again at the end only when files were added here: most jobs have none to add.
    let added = false;
    const has = new Set(files.map((f) => f.path));
    for (const input of declared) {
      if (input.kind === 'job') {
        const at = `inputs/${input.to}`;
        if (has.has(at)) continue;
        const source = await this.resolveSource(input.jobId, input.source);
        added = true;
        await this.record({
          jobId: job.id,
          path: at,
          size: source.size,
          sha256: source.sha256,
          kind: 'input',
          taskId: null,
          nodeId: null,
          createdAt: this.now(),
        });
      } else if (!has.has(`inputs/${input.name}`)) {
        throw new JobhubError(
          'bad_request',
          `input "${input.name}" was not uploaded (upload it before the release)`,
        );
      }
    }
    let workspace: JobFilesInfo['workspace'];
    if (spec.workspace !== undefined) {
      const pinned = files.find((f) => f.kind === 'workspace');
      if (pinned) {
        const format = ARCHIVE_FORMATS.find((f) => pinned.path.endsWith(`.${f}`)) ?? 'tar.gz';
        workspace = { id: pinned.path, sha256: pinned.sha256, size: pinned.size, format };
      } else {
        const w = await this.store.getWorkspace(spec.workspace);
        if (!w) throw new JobhubError('bad_request', `workspace "${spec.workspace}" not found`);
        added = true;
        await this.record({
          jobId: job.id,
          path: `workspace/${w.name}.${w.format}`,
          size: w.size,
          sha256: w.sha256,
          kind: 'workspace',
          taskId: null,
          nodeId: null,
          createdAt: this.now(),
        });
        workspace = { id: w.id, sha256: w.sha256, size: w.size, format: w.format };
      }
    }
    if (added) files = await this.store.listFiles(job.id);
    const toOf = new Map<string, string>();
    for (const input of declared)
      toOf.set(input.kind === 'job' ? `inputs/${input.to}` : `inputs/${input.name}`, input.to);
    const inputs = files
      .filter((f) => f.kind === 'input')
      .map((f) => ({
        name: f.path,
        to: toOf.get(f.path) ?? f.path.slice('inputs/'.length),
        sha256: f.sha256,
        size: f.size,
      }));
    return { inputs, ...(workspace ? { workspace } : {}) };
  }

  /**
   * Checks the spec's descriptors and workspace before a job is made (a 400 at submission), as seen
   * by the submitter: another owner's job or workspace is "not found", as if it did not exist. The
   * workspace is pinned: the spec returned names the id of the one found, so a later push of the
   * same name does not change what this job runs.
   */
  async checkSpec(
    spec: JobRecord['spec'],
    canSee: (owner: Owner | null) => boolean,
  ): Promise<JobRecord['spec']> {
    for (const input of spec.inputs ?? []) {
      if (input.kind !== 'job') continue;
      const source = await this.store.getJob(input.jobId);
      if (!source || !canSee(source.owner)) {
        throw new JobhubError(
          'bad_request',
          `could not provide file job:${input.jobId}:${input.source}: there is no job ${input.jobId}`,
        );
      }
      await this.resolveSource(input.jobId, input.source);
    }
    if (spec.workspace !== undefined) {
      const w = await this.findWorkspace(spec.workspace, canSee);
      if (!w) throw new JobhubError('bad_request', `workspace "${spec.workspace}" not found`);
      return { ...spec, workspace: w.id };
    }
    return spec;
  }

  /** A workspace by id, or the newest of that name, among those whose owner `canSee`. */
  async findWorkspace(
    idOrName: string,
    canSee: (owner: Owner | null) => boolean,
  ): Promise<WorkspaceRecord | undefined> {
    const byId = await this.store.getWorkspace(idOrName);
    if (byId && byId.id === idOrName) return canSee(byId.owner) ? byId : undefined;
    // Names are per owner in effect: the newest one the caller may use.
    return (await this.store.listWorkspaces()).find((w) => w.name === idOrName && canSee(w.owner));
  }

  /**
   * One file of a workspace's archive (say the `jobhub.yaml` at its root), as text; undefined when
   * the archive has no such file.
   */
  async readWorkspaceFile(w: WorkspaceRecord, name: string, maxBytes: number): Promise<string | undefined> {
    const format = ARCHIVE_FORMATS.find((f) => f === w.format);
    if (!format)
      throw new JobhubError('bad_request', `workspace "${w.name}" has an unknown format ${w.format}`);
    const content = await this.withLocalFile(w.sha256, (file) =>
      readArchiveFile(file, format, name, maxBytes),
    );
    return content?.toString('utf8');
  }

  /** A job's file by descriptor source: its tree path, else under outputs/, workdir/, inputs/. */
  private async resolveSource(jobId: number, source: string): Promise<FileRecord> {
    const job = await this.store.getJob(jobId);
    const what = `job:${jobId}:${source}`;
    if (!job)
      throw new JobhubError('bad_request', `could not provide file ${what}: there is no job ${jobId}`);
    for (const candidate of [source, `outputs/${source}`, `workdir/${source}`, `inputs/${source}`]) {
      const f = await this.store.getFile(jobId, candidate);
      if (f && f.kind !== 'workspace') return f;
    }
    throw new JobhubError(
      'bad_request',
      `could not provide file ${what}: job ${jobId} has no file "${source}"`,
    );
  }

  // -------------------------------------------------------------------------------------------
  // Internals

  private async job(jobId: number): Promise<JobRecord> {
    const job = await this.store.getJob(jobId);
    if (!job) throw new NotFoundError(`job ${jobId}`);
    return job;
  }

  /** Bytes a job may still take: the smaller of the file limit and what is left of its own. */
  private async budget(jobId: number): Promise<number> {
    const used = await this.store.jobFilesSize(jobId);
    const left = this.limits.maxJobFilesSize - used;
    if (left <= 0) {
      throw new JobhubError(
        'too_large',
        `job ${jobId} has ${formatSize(used)} of files already: the limit per job is ${formatSize(this.limits.maxJobFilesSize)}`,
      );
    }
    return Math.min(this.limits.maxFileSize, left);
  }

  /** Streams a blob in, pinned (call release once a row refers to it, or it is given up). */
  private async putBlob(source: Readable, maxBytes: number, what: string, size?: number): Promise<BlobInfo> {
    if (size !== undefined && size > maxBytes) {
      source.resume();
      throw new JobhubError(
        'too_large',
        `${what} (${formatSize(size)}) is larger than the limit of ${formatSize(maxBytes)}`,
        {
          limit: maxBytes,
        },
      );
    }
    const blob = await this.blobs.put(source, {
      maxBytes,
      what,
      ...(size !== undefined ? { expectedSize: size } : {}),
    });
    this.pins.set(blob.sha256, (this.pins.get(blob.sha256) ?? 0) + 1);
    return blob;
  }

  /** Unpins a blob; collects it when nothing refers to it. */
  private async release(sha256: string): Promise<void> {
    const n = (this.pins.get(sha256) ?? 1) - 1;
    if (n > 0) this.pins.set(sha256, n);
    else this.pins.delete(sha256);
    await this.collect(sha256);
  }

  /** Removes a blob no row refers to (and no upload here is about to). */
  private async collect(sha256: string): Promise<void> {
    if (this.pins.has(sha256)) return;
    if (await this.store.blobInUse(sha256)) return;
    await this.blobs.delete(sha256);
  }

  private async record(file: FileRecord, require?: 'held' | 'active'): Promise<FileRecord> {
    const replaced = await this.store.putFile(file, require);
    if (replaced && replaced.sha256 !== file.sha256) await this.collect(replaced.sha256);
    return file;
  }

  private async withLocalFile<T>(sha256: string, fn: (file: string) => Promise<T>): Promise<T> {
    const local = this.blobs.localPath(sha256);
    if (local) return fn(local);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'jobhub-blob-'));
    try {
      const file = path.join(dir, 'blob');
      await pipeline(await this.blobs.open(sha256), createWriteStream(file));
      return await fn(file);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}
