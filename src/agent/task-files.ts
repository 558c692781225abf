/**
 * A task's files on its node. Before it starts: the job's workspace, extracted fresh into the job's
 * directory (once per job on this node, from a local cache of archives by hash), then the job's
 * inputs, each downloaded to a temp file beside its destination, checked against its SHA-256 and
 * size, and renamed into place (once per job and working directory). After it ends, however it
 * ended: the files its `outputs` globs match, and with `keepWorkdir` its whole working directory,
 * uploaded one by one (streamed) before the end is reported.
 *
 * Destinations never leave the working directory: the names were checked by the spec's rules, and
 * here again, lexically and by real path (a symlink the task made cannot redirect a write).
 * Symlinks in the working directory are not followed and not uploaded.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants, createWriteStream, open as openFd } from 'node:fs';
import { lstat, mkdir, readdir, realpath, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { formatSize } from '../core/size.js';
import { globBase, globToRegExp, joinInside } from '../files/paths.js';
import type { FileTransport } from './file-transport.js';
import type { AttemptRef, ResolvedFiles } from './protocol.js';

/** Most files one task can leave (outputs plus working directory). */
const MAX_FILES = 10_000;
const PART = '.jobhub-part-';

export interface TaskFilesOptions {
  transport: FileTransport;
  /** Where job directories are; workspace staging goes here too (same file system). */
  workRoot: string;
  /** Cache of workspace archives by hash. Default `<workRoot>/.cache`. */
  cacheDir?: string;
}

/** What an attempt needs of TaskFiles. */
export interface TaskFileSteps {
  stage(
    ref: AttemptRef,
    files: ResolvedFiles,
    jobDir: string,
    cwd: string,
    signal: AbortSignal,
    say: (line: string) => void,
  ): Promise<void>;
  /** Uploads what the task leaves; returns why some of it was not kept, or undefined. */
  collect(
    ref: AttemptRef,
    files: ResolvedFiles,
    cwd: string,
    signal: AbortSignal,
    say: (line: string) => void,
  ): Promise<string | undefined>;
}

export class TaskFiles implements TaskFileSteps {
  private readonly transport: FileTransport;
  private readonly workRoot: string;
  private readonly cacheDir: string;
  /** Work done once per job (workspace per job directory, inputs per working directory). */
  private readonly done = new Map<string, Promise<void>>();

  constructor(opts: TaskFilesOptions) {
    this.transport = opts.transport;
    this.workRoot = path.resolve(opts.workRoot);
    this.cacheDir = opts.cacheDir ?? path.join(this.workRoot, '.cache');
  }

  async stage(
    ref: AttemptRef,
    files: ResolvedFiles,
    jobDir: string,
    cwd: string,
    signal: AbortSignal,
    say: (line: string) => void,
  ): Promise<void> {
    if (files.workspace) {
      await this.once(`${ref.jobId}|ws|${jobDir}`, () =>
        this.extractWorkspace(ref.jobId, files, jobDir, signal, say),
      );
    }
    if (files.inputs.length > 0) {
      await this.once(`${ref.jobId}|in|${cwd}`, () => this.fetchInputs(ref.jobId, files, cwd, signal, say));
    }
  }

  async collect(
    ref: AttemptRef,
    files: ResolvedFiles,
    cwd: string,
    signal: AbortSignal,
    say: (line: string) => void,
  ): Promise<string | undefined> {
    if (files.outputs.length === 0 && !files.keepWorkdir) return undefined;
    const globs = files.outputs.map((g) => ({ glob: g, re: globToRegExp(g), hits: 0 }));
    const bases = files.keepWorkdir ? [''] : [...new Set(files.outputs.map(globBase))];
    const found = new Map<string, number>();
    let skippedLinks = 0;
    let truncated = false;
    for (const base of bases) {
      const start = base === '' ? cwd : path.join(cwd, base);
      const walked = await walkFiles(start, base, MAX_FILES);
      skippedLinks += walked.links;
      truncated ||= walked.truncated;
      for (const [rel, size] of walked.files) found.set(rel, size);
    }
    const uploads: Array<{ rel: string; size: number; kind: 'output' | 'workdir' }> = [];
    for (const [rel, size] of [...found].sort(([a], [b]) => (a < b ? -1 : 1))) {
      let matched = false;
      for (const g of globs) {
        if (g.re.test(rel)) {
          g.hits++;
          matched = true;
        }
      }
      if (matched) uploads.push({ rel, size, kind: 'output' });
      if (files.keepWorkdir) uploads.push({ rel, size, kind: 'workdir' });
    }
    for (const g of globs) if (g.hits === 0) say(`outputs: "${g.glob}" matched no file`);
    if (skippedLinks > 0) say(`outputs: ${skippedLinks} symbolic link(s) not kept (links are not followed)`);
    if (truncated) say(`outputs: more than ${MAX_FILES} files; only the first ${MAX_FILES} are kept`);
    const failures: string[] = [];
    const kept = { output: [0, 0], workdir: [0, 0] };
    for (const u of uploads.slice(0, MAX_FILES)) {
      if (signal.aborted) {
        failures.push(`${u.rel}: aborted`);
        break;
      }
      try {
        await this.transport.upload(
          ref.jobId,
          files.token,
          { taskId: ref.taskId, kind: u.kind, path: u.rel },
          path.join(cwd, u.rel),
          u.size,
          signal,
        );
        const k = kept[u.kind];
        k[0] = (k[0] ?? 0) + 1;
        k[1] = (k[1] ?? 0) + u.size;
      } catch (err) {
        failures.push(`${u.rel}: ${errorText(err)}`);
      }
    }
    if (globs.length > 0) say(`outputs: ${kept.output[0]} file(s), ${formatSize(kept.output[1] ?? 0)} kept`);
    if (files.keepWorkdir) {
      say(`working directory: ${kept.workdir[0]} file(s), ${formatSize(kept.workdir[1] ?? 0)} kept`);
    }
    for (const f of failures.slice(0, 5)) say(`not kept: ${f}`);
    if (failures.length === 0) return undefined;
    return `${failures.length} file(s) not kept (${failures[0]})`;
  }

  /** The job ended here: its once-only work may be done again by a later job of the same id. */
  forget(jobId: number): void {
    for (const key of [...this.done.keys()]) if (key.startsWith(`${jobId}|`)) this.done.delete(key);
  }

  private once(key: string, work: () => Promise<void>): Promise<void> {
    let p = this.done.get(key);
    if (!p) {
      p = work();
      this.done.set(key, p);
      p.catch(() => this.done.delete(key)); // a later attempt tries again
    }
    return p;
  }

  private async fetchInputs(
    jobId: number,
    files: ResolvedFiles,
    cwd: string,
    signal: AbortSignal,
    say: (line: string) => void,
  ): Promise<void> {
    const root = await realpath(cwd);
    let bytes = 0;
    for (const input of files.inputs) {
      const dest = joinInside(cwd, input.to, `input destination`);
      await mkdir(path.dirname(dest), { recursive: true });
      const parent = await realpath(path.dirname(dest));
      if (parent !== root && !parent.startsWith(root + path.sep)) {
        throw new Error(`input "${input.to}": its folder leads out of the working directory (a symlink)`);
      }
      const at = path.join(parent, path.basename(dest));
      const temp = `${at}${PART}${randomBytes(6).toString('hex')}`;
      try {
        const source = await this.transport.openFile(jobId, files.token, input.name, signal);
        const got = await writeVerified(source, temp);
        if (got.size !== input.size || got.sha256 !== input.sha256) {
          throw new Error(
            `input "${input.name}" does not match its checksum: got ${got.size} bytes, sha256 ${got.sha256}; ` +
              `expected ${input.size} bytes, sha256 ${input.sha256}`,
          );
        }
        const existing = await lstat(at).catch(() => undefined);
        if (existing?.isDirectory()) throw new Error(`input "${input.to}": a folder of that name is there`);
        await rename(temp, at);
      } finally {
        await rm(temp, { force: true });
      }
      bytes += input.size;
    }
    say(`inputs: ${files.inputs.length} file(s), ${formatSize(bytes)}, checksums verified`);
  }

  private async extractWorkspace(
    jobId: number,
    files: ResolvedFiles,
    jobDir: string,
    signal: AbortSignal,
    say: (line: string) => void,
  ): Promise<void> {
    const ws = files.workspace;
    if (!ws) return;
    const { extractArchive, moveInto } = await import('../files/archive.js');
    const format = ws.format === 'zip' || ws.format === 'tar' ? ws.format : 'tar.gz';
    await mkdir(this.cacheDir, { recursive: true });
    const cached = path.join(this.cacheDir, `${ws.sha256}.${format}`);
    const have = await stat(cached).catch(() => undefined);
    if (!have || have.size !== ws.size) {
      const temp = `${cached}${PART}${randomBytes(6).toString('hex')}`;
      try {
        const got = await writeVerified(await this.transport.openWorkspace(jobId, files.token, signal), temp);
        if (got.sha256 !== ws.sha256 || got.size !== ws.size) {
          throw new Error(
            `workspace ${ws.id} does not match its checksum (sha256 ${got.sha256}, expected ${ws.sha256})`,
          );
        }
        await rename(temp, cached);
      } finally {
        await rm(temp, { force: true });
      }
    }
    const staging = path.join(this.workRoot, `.workspace-${jobId}-${randomBytes(6).toString('hex')}`);
    try {
      const r = await extractArchive(cached, format, staging);
      await moveInto(staging, jobDir);
      say(`workspace ${ws.id}: a fresh copy, ${r.files} file(s), ${formatSize(r.bytes)}`);
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }
}

/** Writes a stream to a new file (never through a link), hashing and counting it. */
async function writeVerified(
  source: NodeJS.ReadableStream,
  file: string,
): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _e: BufferEncoding, done: TransformCallback) {
      size += chunk.length;
      hash.update(chunk);
      done(null, chunk);
    },
  });
  const fd = await new Promise<number>((resolve, reject) =>
    openFd(
      file,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o644,
      (e, n) => (e ? reject(e) : resolve(n)),
    ),
  );
  await pipeline(source, meter, createWriteStream('', { fd, autoClose: true }));
  return { sha256: hash.digest('hex'), size };
}

/** Regular files under `dir` (relative paths from the working directory), links not followed. */
async function walkFiles(
  dir: string,
  prefix: string,
  max: number,
): Promise<{ files: Map<string, number>; links: number; truncated: boolean }> {
  const files = new Map<string, number>();
  let links = 0;
  let truncated = false;
  const top = await lstat(dir).catch(() => undefined);
  if (!top?.isDirectory()) return { files, links, truncated };
  const stack: Array<[string, string]> = [[dir, prefix]];
  while (stack.length > 0) {
    const [d, rel] = stack.pop() as [string, string];
    let names: string[];
    try {
      names = await readdir(d);
    } catch {
      continue;
    }
    for (const n of names.sort()) {
      if (n.includes(PART)) continue;
      const full = path.join(d, n);
      const r = rel === '' ? n : `${rel}/${n}`;
      const st = await lstat(full).catch(() => undefined);
      if (!st) continue;
      if (st.isSymbolicLink()) links++;
      else if (st.isDirectory()) stack.push([full, r]);
      else if (st.isFile()) {
        if (files.size >= max) {
          truncated = true;
          return { files, links, truncated };
        }
        files.set(r, st.size);
      }
    }
  }
  return { files, links, truncated };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
