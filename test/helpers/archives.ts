/**
 * Archives for tests, with any entry names (also the hostile ones real tools refuse to write):
 * tar(.gz) through tar-stream, zip written by hand (stored entries, unix modes for symlinks).
 */
import { writeFileSync } from 'node:fs';
import { crc32, gzipSync } from 'node:zlib';
import tarStream from 'tar-stream';

export interface TestEntry {
  name: string;
  /** File content (default empty); a symlink's target with `type: 'symlink'`. */
  content?: string | Buffer;
  type?: 'file' | 'dir' | 'symlink' | 'hardlink' | 'fifo';
  /** Hard link / symlink target. */
  target?: string;
  mode?: number;
}

export async function tarBuffer(entries: TestEntry[], gzip = true): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: unknown) => chunks.push(c as Buffer));
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  for (const e of entries) {
    const type = e.type ?? 'file';
    if (type === 'file') {
      const body = Buffer.from(e.content ?? '');
      pack.entry({ name: e.name, mode: e.mode ?? 0o644, size: body.length }, body);
    } else if (type === 'dir') pack.entry({ name: e.name, type: 'directory', mode: 0o755 });
    else if (type === 'symlink') pack.entry({ name: e.name, type: 'symlink', linkname: e.target ?? '' });
    else if (type === 'hardlink') pack.entry({ name: e.name, type: 'link', linkname: e.target ?? '' });
    else pack.entry({ name: e.name, type: 'fifo' });
  }
  pack.finalize();
  await done;
  const tar = Buffer.concat(chunks);
  return gzip ? gzipSync(tar) : tar;
}

/** A zip of stored (uncompressed) entries. */
export function zipBuffer(entries: TestEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const type = e.type ?? 'file';
    const name = Buffer.from(type === 'dir' && !e.name.endsWith('/') ? `${e.name}/` : e.name, 'utf8');
    const data = Buffer.from(type === 'symlink' ? (e.target ?? '') : (e.content ?? ''));
    const crc = crc32(data) >>> 0;
    const mode =
      type === 'symlink' ? 0o120777 : type === 'dir' ? 0o040755 : type === 'fifo' ? 0o010644 : 0o100644;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // utf-8 names
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt32LE(0, 10); // time, date
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4); // made by unix
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(0, 10);
    central.writeUInt32LE(0, 12);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt16LE(0, 30);
    central.writeUInt16LE(0, 32);
    central.writeUInt16LE(0, 34);
    central.writeUInt16LE(0, 36);
    central.writeUInt32LE((mode << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    const localAll = Buffer.concat([local, name, data]);
    locals.push(localAll);
    centrals.push(Buffer.concat([central, name]));
    offset += localAll.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(0, 4);
  end.writeUInt16LE(0, 6);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  end.writeUInt16LE(0, 20);
  return Buffer.concat([...locals, cd, end]);
}

export async function writeArchive(
  file: string,
  format: 'tar.gz' | 'tar' | 'zip',
  entries: TestEntry[],
): Promise<string> {
  writeFileSync(file, format === 'zip' ? zipBuffer(entries) : await tarBuffer(entries, format === 'tar.gz'));
  return file;
}
