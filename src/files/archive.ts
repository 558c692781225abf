/**
 * Archives (tar.gz, tar, zip): checked whole before anything is written, then extracted safely, and
 * folders packed as tar.gz streams.
 *
 * Refused, naming the entry: a name that is absolute or has a `..` segment; a symlink whose target
 * is absolute or resolves (through the archive's own links) outside the tree; a hard link to
 * anything but a file of the archive; devices and fifos; a path that is both a link and something
 * else; more entries or bytes than the limits. Extraction writes every file at its real path (links
 * resolved through the archive's map, never through the file system), into real directories, with
 * O_EXCL|O_NOFOLLOW, and makes the symlinks last: no write ever goes through a link.
 *
 * tar-stream parses and writes tar (streaming, no temp files); yauzl reads zip (it needs the file).
 */

import { once } from 'node:events';
import { constants, createReadStream, createWriteStream, open as openFd } from 'node:fs';
import { link, lstat, mkdir, open, readdir, rename, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import tarStream from 'tar-stream';
import yauzl from 'yauzl';
import { JobhubError } from '../core/errors.js';
import { formatSize } from '../core/size.js';

export type ArchiveFormat = 'tar.gz' | 'tar' | 'zip';
export const ARCHIVE_FORMATS: readonly ArchiveFormat[] = ['tar.gz', 'tar', 'zip'];

export type EntryType = 'file' | 'dir' | 'symlink' | 'hardlink';

export interface ArchiveEntry {
  /** Canonical relative path (`a/b.txt`), as written in the archive. */
  path: string;
  type: EntryType;
  size: number;
  /** Symlink target (as written) or hard link source (a path in the archive). */
  target?: string;
  mode?: number;
}

export interface ArchiveLimits {
  /** Default 100,000. */
  maxEntries?: number;
  /** Sum of the entries' sizes. Default unlimited. */
  maxBytes?: number;
}

/** A refused archive: a 400 with a message naming the entry. */
export class ArchiveError extends JobhubError {
  constructor(message: string, entry?: string) {
    super('bad_request', message, entry === undefined ? undefined : { entry });
  }
}

/** The format from an archive's first bytes (gzip is taken as tar.gz). */
export function detectFormat(head: Buffer): ArchiveFormat | undefined {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'tar.gz';
  if (head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && (head[2] === 3 || head[2] === 5))
    return 'zip';
  if (head.length >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar') return 'tar';
  return undefined;
}

export async function detectFileFormat(file: string): Promise<ArchiveFormat | undefined> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(512);
    const { bytesRead } = await fh.read(buf, 0, 512, 0);
    return detectFormat(buf.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Reading entries

interface RawEntry {
  name: string;
  type: EntryType | 'other';
  /** For `other`: what it is. */
  kind?: string;
  size: number;
  target?: string;
  mode?: number;
  /** Reads the content (files and zip symlinks); call at most once, in order. */
  content?: () => Promise<Readable>;
}

/**
 * Calls `onEntry` for each entry, in archive order; each file's content must be consumed (or
 * skipped) before the next entry comes.
 */
async function walk(file: string, format: ArchiveFormat, onEntry: (e: RawEntry) => Promise<void>) {
  if (format === 'zip') return walkZip(file, onEntry);
  const extract = tarStream.extract();
  extract.on('entry', (h, stream, next) => {
    const type: RawEntry['type'] =
      h.type === 'file' || h.type === 'contiguous-file' || h.type === undefined || h.type === null
        ? 'file'
        : h.type === 'directory'
          ? 'dir'
          : h.type === 'symlink'
            ? 'symlink'
            : h.type === 'link'
              ? 'hardlink'
              : 'other';
    let consumed = false;
    let ended = false;
    let onEnded: (() => void) | undefined;
    const markEnded = () => {
      if (ended) return;
      ended = true;
      onEnded?.();
    };
    // Read through with an async iterator, a streamx stream closes without 'end'.
    stream.on('end', markEnded);
    stream.on('close', markEnded);
    const raw: RawEntry = {
      name: h.name,
      type,
      size: h.size ?? 0,
      ...(h.mode !== undefined ? { mode: h.mode } : {}),
      ...(h.linkname ? { target: h.linkname } : {}),
      ...(type === 'other' ? { kind: String(h.type) } : {}),
      // tar-stream's streams are streamx streams: read through node's Readable for pipeline().
      content: async () => {
        consumed = true;
        return Readable.from(stream as unknown as AsyncIterable<Buffer>, { objectMode: false });
      },
    };
    onEntry(raw).then(
      () => {
        // The next entry comes once this one is read through.
        if (ended) next();
        else {
          onEnded = () => next();
          if (!consumed) stream.resume();
        }
      },
      (err: unknown) => extract.destroy(err instanceof Error ? err : new Error(String(err))),
    );
  });
  const source = createReadStream(file);
  try {
    if (format === 'tar.gz') await pipeline(source, createGunzip(), extract);
    else await pipeline(source, extract);
  } catch (err) {
    source.destroy();
    if (err instanceof JobhubError) throw err;
    throw new ArchiveError(`the archive is not a readable ${format}: ${errorMessage(err)}`);
  }
}

function openZip(file: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => {
    yauzl.open(
      file,
      { lazyEntries: true, decodeStrings: false, validateEntrySizes: true, autoClose: true },
      (err, zip) => (err || !zip ? reject(err ?? new Error('no zip')) : resolve(zip)),
    );
  });
}

async function walkZip(file: string, onEntry: (e: RawEntry) => Promise<void>): Promise<void> {
  let zip: yauzl.ZipFile;
  try {
    zip = await openZip(file);
  } catch (err) {
    throw new ArchiveError(`the archive is not a readable zip: ${errorMessage(err)}`);
  }
  await new Promise<void>((resolve, reject) => {
    let failed = false;
    const fail = (err: unknown) => {
      if (failed) return;
      failed = true;
      zip.close();
      reject(
        err instanceof JobhubError
          ? err
          : new ArchiveError(`the archive is not a readable zip: ${errorMessage(err)}`),
      );
    };
    zip.on('error', fail);
    zip.on('end', () => {
      if (!failed) resolve();
    });
    zip.on('entry', (entry: yauzl.Entry) => {
      const rawName = entry.fileName as unknown;
      const name = Buffer.isBuffer(rawName)
        ? rawName.toString((entry.generalPurposeBitFlag & 0x800) !== 0 ? 'utf8' : 'latin1')
        : String(rawName);
      const unixMode = (entry.externalFileAttributes >>> 16) & 0xffff;
      const fmt = unixMode & 0o170000;
      const type: RawEntry['type'] = name.endsWith('/')
        ? 'dir'
        : fmt === 0o120000
          ? 'symlink'
          : fmt === 0 || fmt === 0o100000
            ? 'file'
            : fmt === 0o040000
              ? 'dir'
              : 'other';
      let opened: Readable | undefined;
      const content = () =>
        new Promise<Readable>((res, rej) =>
          zip.openReadStream(entry, (err, stream) => {
            if (err || !stream) rej(err ?? new Error('no stream'));
            else {
              opened = stream;
              res(stream);
            }
          }),
        );
      const raw: RawEntry = {
        name,
        type,
        size: entry.uncompressedSize,
        ...(unixMode & 0o7777 ? { mode: unixMode & 0o7777 } : {}),
        ...(type === 'other' ? { kind: `file of mode ${fmt.toString(8)}` } : {}),
        content,
      };
      const go = async () => {
        if (type === 'symlink') {
          // A zip keeps a symlink's target as its content.
          if (entry.uncompressedSize > 4096)
            throw new ArchiveError(`link "${name}" has a target too long`, name);
          const s = await content();
          raw.target = (await readAll(s)).toString('utf8');
          delete raw.content;
        }
        await onEntry(raw);
        if (opened && !opened.readableEnded) {
          opened.resume();
          await new Promise<void>((r) => opened?.once('end', r).once('close', r));
        }
      };
      go().then(() => {
        if (!failed) zip.readEntry();
      }, fail);
    });
    zip.readEntry();
  });
}

async function readAll(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

// ---------------------------------------------------------------------------------------------
// Checking

/** Strips `./` prefixes and a trailing `/`; refuses absolute names and `..` segments. */
function checkName(name: string): string {
  if (name.includes('\0')) throw new ArchiveError(`entry "${name}" has a NUL character in its name`, name);
  if (name.startsWith('/') || /^[A-Za-z]:[\\/]/.test(name) || name.startsWith('\\')) {
    throw new ArchiveError(`entry "${name}" has an absolute path; archives must hold relative paths`, name);
  }
  const segments = name.split(/[\\/]/);
  if (segments.includes('..')) {
    throw new ArchiveError(`entry "${name}" has ".." in its path: it would leave the folder`, name);
  }
  const clean = segments.filter((s) => s !== '' && s !== '.').join('/');
  return clean;
}

/**
 * The real path of `rel` inside the tree, with every symlink of the archive on the way resolved;
 * throws when it leaves the tree. `followLast`: resolve a link in the last component too.
 */
function realPath(rel: string, links: ReadonlyMap<string, string>, followLast: boolean, depth = 0): string {
  if (depth > 40) throw new Error('too many levels of symbolic links');
  const parts = rel.split('/');
  let cur: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (cur.length === 0) throw new Error('it leaves the folder');
      cur.pop();
      continue;
    }
    cur.push(part);
    const target = links.get(cur.join('/'));
    if (target !== undefined && (followLast || i < parts.length - 1)) {
      if (target.startsWith('/')) throw new Error('it goes through an absolute link');
      const base = cur.slice(0, -1).join('/');
      const resolved = realPath(base === '' ? target : `${base}/${target}`, links, true, depth + 1);
      cur = resolved === '' ? [] : resolved.split('/');
    }
  }
  return cur.join('/');
}

interface Checked {
  entries: ArchiveEntry[];
  links: Map<string, string>;
  bytes: number;
}

/** Reads every entry (no writes) and applies the rules. */
async function check(file: string, format: ArchiveFormat, limits: ArchiveLimits): Promise<Checked> {
  const maxEntries = limits.maxEntries ?? 100_000;
  const maxBytes = limits.maxBytes ?? Number.POSITIVE_INFINITY;
  const entries: ArchiveEntry[] = [];
  let bytes = 0;
  await walk(file, format, async (raw) => {
    const name = checkName(raw.name);
    if (name === '') return; // the archive's own root (`./`)
    if (raw.type === 'other') {
      throw new ArchiveError(`entry "${raw.name}" is a ${raw.kind ?? 'special file'}: not allowed`, raw.name);
    }
    if (entries.length >= maxEntries) {
      throw new ArchiveError(`the archive has more than ${maxEntries} entries`);
    }
    if (raw.type === 'file') {
      bytes += raw.size;
      if (bytes > maxBytes) {
        throw new ArchiveError(`the archive holds more than ${formatSize(maxBytes)} once extracted`);
      }
    }
    const e: ArchiveEntry = { path: name, type: raw.type, size: raw.type === 'file' ? raw.size : 0 };
    if (raw.mode !== undefined) e.mode = raw.mode;
    if (raw.target !== undefined) e.target = raw.target;
    entries.push(e);
  });
  const links = new Map<string, string>();
  for (const e of entries) {
    if (e.type !== 'symlink') continue;
    const target = e.target ?? '';
    if (target === '' || target.startsWith('/') || /^[A-Za-z]:[\\/]/.test(target)) {
      throw new ArchiveError(
        `link "${e.path}" points to the absolute path "${target}": links must stay inside the archive`,
        e.path,
      );
    }
    links.set(e.path, target);
  }
  const kinds = new Map<string, EntryType>();
  for (const e of entries) {
    const before = kinds.get(e.path);
    if (before && before !== e.type && (before === 'symlink' || e.type === 'symlink')) {
      throw new ArchiveError(
        `entry "${e.path}" is both a link and a ${before === 'symlink' ? e.type : before}`,
        e.path,
      );
    }
    kinds.set(e.path, e.type);
  }
  for (const e of entries) {
    try {
      if (e.type === 'symlink') {
        const dir = path.posix.dirname(e.path);
        realPath(dir === '.' ? (e.target ?? '') : `${dir}/${e.target ?? ''}`, links, true);
      } else realPath(e.path, links, false);
    } catch (err) {
      const what =
        e.type === 'symlink'
          ? `link "${e.path}" -> "${e.target ?? ''}" points out of the archive (${errorMessage(err)})`
          : `entry "${e.path}" goes through a link out of the archive (${errorMessage(err)})`;
      throw new ArchiveError(what, e.path);
    }
    if (e.type === 'hardlink') {
      const target = checkName(e.target ?? '');
      const t = realPath(target, links, true);
      const found = entries.some((x) => x.type === 'file' && realPath(x.path, links, false) === t);
      if (!found) {
        throw new ArchiveError(
          `hard link "${e.path}" must point to a file of the archive (not "${e.target}")`,
          e.path,
        );
      }
    }
  }
  return { entries, links, bytes };
}

/** Every entry of an archive, checked; throws ArchiveError (nothing is written either way). */
export async function listArchive(
  file: string,
  format: ArchiveFormat,
  limits: ArchiveLimits = {},
): Promise<ArchiveEntry[]> {
  return (await check(file, format, limits)).entries;
}

// ---------------------------------------------------------------------------------------------
// Extracting

/** Fails the stream when it carries more than `max` bytes (a header that lied about its size). */
class Limit extends Transform {
  private n = 0;
  constructor(
    private readonly max: number,
    private readonly what: string,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, done: TransformCallback): void {
    this.n += chunk.length;
    if (this.n > this.max) done(new ArchiveError(`entry "${this.what}" is larger than it says`, this.what));
    else done(null, chunk);
  }
}

/**
 * The content of one regular file of an archive, by its path (`jobhub.yaml`, `a/b.txt`; the last
 * entry of that name wins, as in extraction); undefined when there is none. Only that entry is
 * read into memory, refused (too_large) over `maxBytes`.
 */
export async function readArchiveFile(
  file: string,
  format: ArchiveFormat,
  name: string,
  maxBytes: number,
): Promise<Buffer | undefined> {
  let found: Buffer | undefined;
  await walk(file, format, async (raw) => {
    if (raw.type !== 'file' || checkName(raw.name) !== name || !raw.content) return;
    if (raw.size > maxBytes)
      throw new JobhubError('too_large', `"${name}" in the archive is larger than ${formatSize(maxBytes)}`);
    found = await readAll((await raw.content()).pipe(new Limit(raw.size, name)));
  });
  return found;
}

/**
 * Checks the whole archive, then extracts it into `dest`, a directory that must not exist yet (it
 * is made here). On a refused archive nothing is written; on a failure midway `dest` is removed.
 */
export async function extractArchive(
  file: string,
  format: ArchiveFormat,
  dest: string,
  limits: ArchiveLimits = {},
): Promise<{ files: number; bytes: number }> {
  const { entries, links } = await check(file, format, limits);
  const root = path.resolve(dest);
  await mkdir(path.dirname(root), { recursive: true });
  await mkdir(root); // fails when it exists: extraction always starts from nothing
  const made = new Set<string>(['']);
  const ensureDir = async (rel: string) => {
    if (made.has(rel)) return;
    await ensureDir(path.posix.dirname(rel) === '.' ? '' : path.posix.dirname(rel));
    const full = path.join(root, rel);
    const st = await lstat(full).catch(() => undefined);
    if (!st) await mkdir(full);
    else if (!st.isDirectory()) throw new ArchiveError(`entry "${rel}" is both a file and a folder`, rel);
    made.add(rel);
  };
  let files = 0;
  let bytes = 0;
  try {
    const filesAt = new Map<string, string>();
    await walk(file, format, async (raw) => {
      const name = checkName(raw.name);
      if (name === '' || raw.type === 'symlink' || raw.type === 'hardlink' || raw.type === 'other') return;
      const real = realPath(name, links, false);
      if (raw.type === 'dir') {
        await ensureDir(real);
        return;
      }
      const parent = path.posix.dirname(real);
      await ensureDir(parent === '.' ? '' : parent);
      const full = path.join(root, real);
      const st = await lstat(full).catch(() => undefined);
      if (st?.isDirectory()) throw new ArchiveError(`entry "${name}" is both a folder and a file`, name);
      if (st) await rm(full, { force: true }); // a later entry of the same name wins
      const mode = raw.mode !== undefined && (raw.mode & 0o111) !== 0 ? 0o755 : 0o644;
      const fd = await new Promise<number>((resolve, reject) =>
        openFd(
          full,
          constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
          mode,
          (e, n) => (e ? reject(e) : resolve(n)),
        ),
      );
      const out = createWriteStream('', { fd, autoClose: true });
      const content = raw.content ? await raw.content() : undefined;
      if (content) await pipeline(content, new Limit(raw.size, name), out);
      else await new Promise<void>((resolve, reject) => out.once('error', reject).end(resolve));
      filesAt.set(name, real);
      files++;
      bytes += raw.size;
    });
    for (const e of entries) {
      if (e.type === 'hardlink') {
        const real = realPath(e.path, links, false);
        const parent = path.posix.dirname(real);
        await ensureDir(parent === '.' ? '' : parent);
        const source = realPath(checkName(e.target ?? ''), links, true);
        await rm(path.join(root, real), { force: true });
        await link(path.join(root, source), path.join(root, real));
        files++;
      }
    }
    for (const e of entries) {
      if (e.type !== 'symlink') continue;
      const parent = path.posix.dirname(e.path);
      const realParent = parent === '.' ? '' : realPath(parent, links, true);
      await ensureDir(realParent);
      const at = path.join(root, realParent, path.posix.basename(e.path));
      await rm(at, { force: true });
      await symlink(e.target ?? '', at);
    }
    return { files, bytes };
  } catch (err) {
    await rm(root, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Moves everything in `from` into `to` (made if missing; same file system), merging folders; a
 * file of the same name in `to` is replaced. `from` is removed afterwards.
 */
export async function moveInto(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const name of await readdir(from)) {
    const src = path.join(from, name);
    const dst = path.join(to, name);
    const [s, d] = await Promise.all([lstat(src), lstat(dst).catch(() => undefined)]);
    if (d?.isDirectory() && s.isDirectory()) {
      await moveInto(src, dst);
      continue;
    }
    if (d) await rm(dst, { recursive: true, force: true });
    await rename(src, dst);
  }
  await rm(from, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------
// Packing

export interface PackEntry {
  /** Path inside the archive. */
  name: string;
  size: number;
  mtime?: Date;
  mode?: number;
  open(): Promise<Readable>;
}

/** A tar.gz stream of the entries, packed one after another as the reader reads. */
export function packTarGz(entries: AsyncIterable<PackEntry> | Iterable<PackEntry>): Readable {
  const pack = tarStream.pack();
  const out = new PassThrough();
  (async () => {
    for await (const e of entries) {
      const source = await e.open();
      let written = 0;
      await new Promise<void>((resolve, reject) => {
        const sink = pack.entry(
          { name: e.name, size: e.size, mode: e.mode ?? 0o644, mtime: e.mtime ?? new Date(), type: 'file' },
          (err) => (err ? reject(err) : resolve()),
        );
        (async () => {
          for await (const chunk of source) {
            written += (chunk as Buffer).length;
            if (!sink.write(chunk as Buffer)) await once(sink as unknown as NodeJS.EventEmitter, 'drain');
          }
          if (written !== e.size) throw new Error(`${e.name}: ${written} bytes, expected ${e.size}`);
          (sink as unknown as { end(): void }).end();
        })().catch(reject);
      });
    }
    pack.finalize();
  })().catch((err: unknown) => pack.destroy(err instanceof Error ? err : new Error(String(err))));
  const packed = Readable.from(pack as unknown as AsyncIterable<Buffer>, { objectMode: false });
  pipeline(packed, createGzip(), out).catch((err: unknown) =>
    out.destroy(err instanceof Error ? err : new Error(String(err))),
  );
  return out;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
