/**
 * Blobs on the file system: `<root>/ab/cdef…` by SHA-256. A put streams into `<root>/tmp/<random>`
 * while hashing and counting, fsyncs it, then renames it into place (atomic on one file system), so
 * a reader never sees a partial blob and a crash leaves at most a temp file (swept at start).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { JobhubError, NotFoundError } from '../core/errors.js';
import { formatSize } from '../core/size.js';
import { type BlobInfo, type BlobStore, isSha256, type PutOptions } from './blob-store.js';

/** Counts and hashes what passes; fails once more than `max` bytes came. */
class Meter extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;

  constructor(
    private readonly max: number,
    private readonly what: string,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.max) {
      done(
        new JobhubError('too_large', `${this.what} is larger than the limit of ${formatSize(this.max)}`, {
          limit: this.max,
        }),
      );
      return;
    }
    this.hash.update(chunk);
    done(null, chunk);
  }
}

export class FsBlobStore implements BlobStore {
  readonly root: string;
  private readonly tmp: string;

  constructor(root: string) {
    this.root = path.resolve(root);
    this.tmp = path.join(this.root, 'tmp');
  }

  /** Removes temp files older than `olderThanMs` (left by a crash mid-upload). */
  async sweepTemp(olderThanMs = 60 * 60 * 1000, now = Date.now()): Promise<number> {
    let removed = 0;
    let names: string[];
    try {
      names = await readdir(this.tmp);
    } catch {
      return 0;
    }
    for (const n of names) {
      const f = path.join(this.tmp, n);
      const s = await stat(f).catch(() => undefined);
      if (s && now - s.mtimeMs > olderThanMs) {
        await rm(f, { force: true });
        removed++;
      }
    }
    return removed;
  }

  async put(source: Readable | AsyncIterable<Uint8Array>, opts: PutOptions = {}): Promise<BlobInfo> {
    await mkdir(this.tmp, { recursive: true });
    const temp = path.join(this.tmp, `${Date.now()}-${randomBytes(8).toString('hex')}`);
    const meter = new Meter(opts.maxBytes ?? Number.POSITIVE_INFINITY, opts.what ?? 'the file');
    let kept = false;
    try {
      const input = source instanceof Readable ? source : Readable.from(source);
      await pipeline(input, meter, createWriteStream(temp, { flags: 'wx', mode: 0o644 }));
      // The data must be on disk before the name is: fsync (any descriptor of the file will do).
      const fh = await open(temp, 'r+');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      const sha256 = meter.hash.digest('hex');
      const size = meter.bytes;
      if (opts.expectedSize !== undefined && size !== opts.expectedSize) {
        throw new JobhubError(
          'bad_request',
          `${opts.what ?? 'the file'} was cut off: ${size} of ${opts.expectedSize} bytes came`,
        );
      }
      if (opts.expectedSha256 !== undefined && opts.expectedSha256 !== sha256) {
        throw new JobhubError(
          'bad_request',
          `${opts.what ?? 'the file'} does not match its checksum (sha256 ${sha256}, expected ${opts.expectedSha256})`,
        );
      }
      const final = this.pathOf(sha256);
      await mkdir(path.dirname(final), { recursive: true });
      await rename(temp, final);
      kept = true;
      await syncDir(path.dirname(final));
      return { sha256, size };
    } finally {
      if (!kept) await unlink(temp).catch(() => undefined);
    }
  }

  async stat(sha256: string): Promise<number | undefined> {
    if (!isSha256(sha256)) return undefined;
    const s = await stat(this.pathOf(sha256)).catch(() => undefined);
    return s?.isFile() ? s.size : undefined;
  }

  async open(sha256: string): Promise<Readable> {
    if (!isSha256(sha256)) throw new NotFoundError(`blob ${sha256}`);
    const fh = await open(this.pathOf(sha256), 'r').catch(() => undefined);
    if (!fh) throw new NotFoundError(`blob ${sha256}`);
    return fh.createReadStream();
  }

  async delete(sha256: string): Promise<void> {
    if (!isSha256(sha256)) return;
    await rm(this.pathOf(sha256), { force: true });
  }

  localPath(sha256: string): string | undefined {
    return isSha256(sha256) ? this.pathOf(sha256) : undefined;
  }

  async *list(): AsyncIterable<string> {
    let dirs: string[];
    try {
      dirs = await readdir(this.root);
    } catch {
      return;
    }
    for (const d of dirs.sort()) {
      if (!/^[0-9a-f]{2}$/.test(d)) continue;
      for (const f of (await readdir(path.join(this.root, d)).catch(() => [] as string[])).sort()) {
        const sha = d + f;
        if (isSha256(sha)) yield sha;
      }
    }
  }

  private pathOf(sha256: string): string {
    return path.join(this.root, sha256.slice(0, 2), sha256.slice(2));
  }
}

/** fsync a directory so a rename into it survives a crash (best effort: not every FS allows it). */
async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // not supported here
  }
}

/** A stream of a local file (for stores and tests). */
export function fileStream(file: string): Readable {
  return createReadStream(file);
}
