/**
 * Files on the command line: `files JOB` (list or tree), `download JOB [PATH] [-o DIR]` (a file,
 * a folder, or everything; checksums verified, archives extracted safely), `workspace push|list`,
 * and `submit --input` (submit held, upload, release). Against a server when one is configured,
 * else over the local data folder (what `jobhub run` kept).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { blobsDir, resolveConfig } from '../../app/config.js';
import { JobhubError, NotFoundError } from '../../core/errors.js';
import { formatSize } from '../../core/size.js';
import { extractArchive, moveInto } from '../../files/archive.js';
import { FileService } from '../../files/file-service.js';
import { FsBlobStore } from '../../files/fs-blob-store.js';
import type { FileView, SubmitResponse, WorkspaceView } from '../../server/api-schemas.js';
import { fileView, treeOf } from '../../server/file-view.js';
import type { Store } from '../../store/store.js';
import type { ApiClient } from '../client.js';
import { table } from '../format.js';
import { type CliIO, println } from '../io.js';
import { openExistingStore, parseJobId } from '../open-store.js';
import { type RemoteFlags, remoteClient } from '../remote.js';

interface SourceOpts extends RemoteFlags {
  data?: string;
}

/** Where a job's files are read from: a server, or the local data folder. */
interface FilesSource {
  list(id: number): Promise<FileView[]>;
  openFile(id: number, p: string): Promise<{ stream: Readable; sha256: string | null }>;
  openArchive(id: number, folder: string): Promise<Readable>;
  close(): Promise<void>;
}

async function sourceOf(opts: SourceOpts, io: CliIO): Promise<FilesSource> {
  const client = remoteClient(opts, io);
  if (client) {
    return {
      list: async (id) => (await client.listFiles(id)).files,
      openFile: async (id, p) => {
        const r = await client.downloadFile(id, p);
        return {
          stream: Readable.fromWeb(r.body as import('node:stream/web').ReadableStream),
          sha256: r.sha256,
        };
      },
      openArchive: async (id, folder) =>
        Readable.fromWeb(
          (await client.downloadArchive(id, folder)) as import('node:stream/web').ReadableStream,
        ),
      close: async () => {},
    };
  }
  const store = await openExistingStore({ data: opts.data }, io);
  const files = localFiles(store, opts, io);
  return {
    list: async (id) => {
      const { detail, files: rows } = await files.list(id);
      return rows.map((f) => fileView(f, detail));
    },
    openFile: async (id, p) => {
      const { file, stream } = await files.open(id, p);
      return { stream, sha256: file.sha256 };
    },
    openArchive: async (id, folder) => (await files.archive(id, folder)).stream,
    close: () => store.close(),
  };
}

function localFiles(store: Store, opts: { data?: string }, io: CliIO): FileService {
  const config = resolveConfig({ data: opts.data }, io.env, io.cwd);
  return new FileService({ store, blobs: new FsBlobStore(blobsDir(config)) });
}

// ---------------------------------------------------------------------------------------------
// files

export async function filesCommand(
  idText: string,
  opts: SourceOpts & { json?: boolean; tree?: boolean },
  io: CliIO,
): Promise<number> {
  const id = parseJobId(idText);
  const source = await sourceOf(opts, io);
  try {
    const files = await source.list(id);
    if (opts.json) {
      println(io.stdout, JSON.stringify(opts.tree ? { files, tree: treeOf(files) } : { files }, null, 2));
      return 0;
    }
    if (files.length === 0) {
      println(io.stdout, `job ${id} has no files`);
      return 0;
    }
    if (opts.tree) {
      const lines: string[] = [];
      const walk = (node: ReturnType<typeof treeOf>, depth: number) => {
        for (const c of node.children ?? []) {
          const pad = '  '.repeat(depth);
          if (c.type === 'dir') {
            lines.push(`${pad}${c.name}/  (${formatSize(c.size)})`);
            walk(c, depth + 1);
          } else {
            const f = c.file;
            const from = f?.task ? `  ${f.task}` : '';
            lines.push(`${pad}${c.name}  ${formatSize(c.size)}  ${f?.sha256.slice(0, 12) ?? ''}${from}`);
          }
        }
      };
      walk(treeOf(files), 0);
      println(io.stdout, lines.join('\n'));
      return 0;
    }
    println(
      io.stdout,
      table(
        ['PATH', 'SIZE', 'SHA256', 'KIND', 'TASK', 'NODE'],
        files.map((f) => [
          f.path,
          formatSize(f.size),
          f.sha256.slice(0, 12),
          f.kind,
          f.task ?? '',
          f.nodeId ?? '',
        ]),
      ),
    );
    return 0;
  } finally {
    await source.close();
  }
}

// ---------------------------------------------------------------------------------------------
// download

export async function downloadCommand(
  idText: string,
  filePath: string | undefined,
  opts: SourceOpts & { output?: string },
  io: CliIO,
): Promise<number> {
  const id = parseJobId(idText);
  const wanted = (filePath ?? '').replace(/^\/+|\/+$/g, '');
  const source = await sourceOf(opts, io);
  try {
    const files = await source.list(id);
    const exact = files.find((f) => f.path === wanted);
    if (exact) {
      const dir = path.resolve(io.cwd, opts.output ?? '.');
      mkdirSync(dir, { recursive: true });
      const dest = path.join(dir, path.posix.basename(exact.path));
      const { stream, sha256 } = await source.openFile(id, exact.path);
      const got = await writeAtomically(stream, dest);
      const expected = sha256 ?? exact.sha256;
      if (got.sha256 !== expected) {
        await rm(dest, { force: true });
        throw new JobhubError(
          'internal',
          `${exact.path}: checksum mismatch (got ${got.sha256}, expected ${expected})`,
        );
      }
      println(
        io.stdout,
        `${exact.path} -> ${path.relative(io.cwd, dest) || dest} (${formatSize(got.size)}, sha256 ok)`,
      );
      return 0;
    }
    const under = files.filter((f) => wanted === '' || f.path.startsWith(`${wanted}/`));
    if (under.length === 0) {
      throw new NotFoundError(wanted === '' ? `files of job ${id}` : `"${wanted}" in the files of job ${id}`);
    }
    const dir = path.resolve(io.cwd, opts.output ?? `job-${id}`);
    mkdirSync(dir, { recursive: true });
    const tmp = path.join(dir, `.jobhub-download-${randomBytes(6).toString('hex')}`);
    const archive = `${tmp}.tar.gz`;
    try {
      await pipeline(await source.openArchive(id, wanted), createWriteStream(archive, { flags: 'wx' }));
      const r = await extractArchive(archive, 'tar.gz', tmp);
      await moveInto(tmp, dir);
      const bytes = under.reduce((n, f) => n + f.size, 0);
      println(
        io.stdout,
        `${wanted || `job ${id}`}: ${r.files} file(s), ${formatSize(bytes)} -> ${path.relative(io.cwd, dir) || '.'}`,
      );
    } finally {
      await rm(archive, { force: true });
      await rm(tmp, { recursive: true, force: true });
    }
    return 0;
  } finally {
    await source.close();
  }
}

async function writeAtomically(stream: Readable, dest: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  const temp = `${dest}.jobhub-part-${randomBytes(6).toString('hex')}`;
  try {
    await pipeline(
      stream,
      new Transform({
        transform(chunk: Buffer, _e: BufferEncoding, done: TransformCallback) {
          size += chunk.length;
          hash.update(chunk);
          done(null, chunk);
        },
      }),
      createWriteStream(temp, { flags: 'wx' }),
    );
    await rename(temp, dest);
  } finally {
    await rm(temp, { force: true });
  }
  return { sha256: hash.digest('hex'), size };
}

// ---------------------------------------------------------------------------------------------
// workspace

export async function workspacePushCommand(
  archive: string,
  opts: SourceOpts & { name?: string; owner?: string; json?: boolean },
  io: CliIO,
): Promise<number> {
  const file = path.resolve(io.cwd, archive);
  if (!existsSync(file)) throw new JobhubError('bad_request', `no file ${archive}`);
  const name = opts.name ?? path.basename(file).replace(/\.(tar\.gz|tgz|tar|zip)$/i, '');
  const client = remoteClient(opts, io);
  let w: WorkspaceView;
  if (client) w = (await client.pushWorkspace(name, file, opts.owner)).workspace;
  else if (opts.owner !== undefined) {
    throw new JobhubError('bad_request', '--owner needs a server (--server): a local store has no orgs');
  } else {
    const store = await openExistingOrNewStore(opts, io);
    try {
      const { createReadStream } = await import('node:fs');
      const rec = await localFiles(store, opts, io).pushWorkspace(name, null, createReadStream(file), {
        size: (await stat(file)).size,
      });
      w = {
        ...rec,
        format: rec.format as WorkspaceView['format'],
        createdAt: new Date(rec.createdAt).toISOString(),
      };
    } finally {
      await store.close();
    }
  }
  println(
    io.stdout,
    opts.json
      ? JSON.stringify(w, null, 2)
      : `workspace ${w.id} (${w.name}, ${w.format}, ${formatSize(w.size)}) pushed`,
  );
  return 0;
}

export async function workspaceListCommand(
  opts: SourceOpts & { json?: boolean },
  io: CliIO,
): Promise<number> {
  const client = remoteClient(opts, io);
  let list: Array<Pick<WorkspaceView, 'id' | 'name' | 'format' | 'size' | 'sha256' | 'createdAt'>>;
  if (client) list = (await client.listWorkspaces()).results;
  else {
    const store = await openExistingStore({ data: opts.data }, io);
    try {
      list = (await store.listWorkspaces()).map((w) => ({
        ...w,
        format: w.format as WorkspaceView['format'],
        createdAt: new Date(w.createdAt).toISOString(),
      }));
    } finally {
      await store.close();
    }
  }
  if (opts.json) println(io.stdout, JSON.stringify({ results: list }, null, 2));
  else
    println(
      io.stdout,
      table(
        ['ID', 'NAME', 'FORMAT', 'SIZE', 'SHA256', 'CREATED'],
        list.map((w) => [w.id, w.name, w.format, formatSize(w.size), w.sha256.slice(0, 12), w.createdAt]),
      ),
    );
  return 0;
}

/** `jobhub run` makes the data folder; `workspace push` before any run makes it too. */
async function openExistingOrNewStore(opts: { data?: string }, io: CliIO): Promise<Store> {
  const config = resolveConfig({ data: opts.data }, io.env, io.cwd);
  const { SqliteStore } = await import('../../store/sqlite/index.js');
  const { storeFile } = await import('../../app/config.js');
  const store = SqliteStore.open(storeFile(config));
  await store.migrate();
  return store;
}

// ---------------------------------------------------------------------------------------------
// submit --input

/**
 * Submits held, uploads each input (`path`, named after its file, or `name=path`), then releases.
 * A failed upload stops the held job, so nothing half-fed runs.
 */
export async function submitWithInputs(
  client: ApiClient,
  /** Submits the job held (a spec, or a template): it waits for its inputs. */
  submitHeld: () => Promise<SubmitResponse>,
  inputs: readonly string[],
  io: CliIO,
): Promise<SubmitResponse> {
  const files = inputs.map((spec) => {
    const eq = spec.indexOf('=');
    const [name, file] = eq > 0 ? [spec.slice(0, eq), spec.slice(eq + 1)] : [path.basename(spec), spec];
    const full = path.resolve(io.cwd, file);
    if (!existsSync(full)) throw new JobhubError('bad_request', `--input ${spec}: no file ${file}`);
    return { name, file: full };
  });
  const { id } = await submitHeld();
  try {
    for (const f of files) await client.uploadInput(id, f.name, f.file);
  } catch (err) {
    await client.stopJob(id).catch(() => undefined);
    throw err;
  }
  const { job } = await client.releaseJob(id);
  return { id, job };
}
