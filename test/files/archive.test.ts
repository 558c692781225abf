/** Archives: hostile entries are refused before anything is written; good ones extract exactly. */
import {
  existsSync,
  lstatSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ArchiveError,
  detectFileFormat,
  extractArchive,
  listArchive,
  packTarGz,
  readArchiveFile,
} from '../../src/files/archive.js';
import { cleanRelPath, globToRegExp, parseDescriptor } from '../../src/files/paths.js';
import { type TestEntry, writeArchive } from '../helpers/archives.js';
import { tempDir } from '../helpers/embedded.js';

let dir: string;
beforeEach(() => {
  dir = tempDir('jobhub-archive-');
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Every file and folder under `root`, relative, sorted ('' when missing). */
function tree(root: string): string[] {
  if (!existsSync(root)) return [];
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const n of readdirSync(d).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      const st = lstatSync(path.join(d, n));
      out.push(
        st.isSymbolicLink() ? `${r} -> ${readlinkSync(path.join(d, n))}` : st.isDirectory() ? `${r}/` : r,
      );
      if (st.isDirectory()) walk(path.join(d, n), r);
    }
  };
  walk(root, '');
  return out;
}

const GOOD: TestEntry[] = [
  { name: 'README.md', content: '# compendium\n' },
  { name: 'data/', type: 'dir' },
  { name: 'data/input.csv', content: 'a,b\n1,2\n' },
  { name: './scripts/run.sh', content: '#!/bin/sh\necho hi\n', mode: 0o755 },
  { name: 'latest', type: 'symlink', target: 'data/input.csv' },
  { name: 'data/up', type: 'symlink', target: '../README.md' },
];

describe('archives', () => {
  for (const format of ['tar.gz', 'tar', 'zip'] as const) {
    it(`extracts a good ${format} exactly: files, folders, modes, links inside the tree`, async () => {
      const file = await writeArchive(path.join(dir, `good.${format}`), format, GOOD);
      expect(await detectFileFormat(file)).toBe(format);
      const entries = await listArchive(file, format);
      expect(entries.map((e) => `${e.type} ${e.path}`)).toEqual([
        'file README.md',
        'dir data',
        'file data/input.csv',
        'file scripts/run.sh',
        'symlink latest',
        'symlink data/up',
      ]);
      const dest = path.join(dir, 'out');
      const r = await extractArchive(file, format, dest);
      expect(r.files).toBe(3);
      expect(tree(dest)).toEqual([
        'README.md',
        'data/',
        'data/input.csv',
        'data/up -> ../README.md',
        'latest -> data/input.csv',
        'scripts/',
        'scripts/run.sh',
      ]);
      expect(readFileSync(path.join(dest, 'latest'), 'utf8')).toBe('a,b\n1,2\n');
      expect(readFileSync(path.join(dest, 'data/up'), 'utf8')).toBe('# compendium\n');
      if (format !== 'zip') expect(lstatSync(path.join(dest, 'scripts/run.sh')).mode & 0o111).not.toBe(0);
    });

    const hostile: Array<[string, TestEntry[], RegExp]> = [
      [
        '../../etc/passwd',
        [
          { name: 'ok.txt', content: 'fine' },
          { name: '../../etc/passwd', content: 'root::0:0::/:/bin/sh\n' },
        ],
        /entry "\.\.\/\.\.\/etc\/passwd" has "\.\." in its path/,
      ],
      [
        'an absolute path',
        [
          { name: 'ok.txt', content: 'fine' },
          { name: '/tmp/jobhub-absolute-test', content: 'x' },
        ],
        /entry "\/tmp\/jobhub-absolute-test" has an absolute path/,
      ],
      [
        'a link to an absolute path',
        [{ name: 'etc', type: 'symlink', target: '/etc' }],
        /link "etc" points to the absolute path "\/etc"/,
      ],
      [
        'a link climbing out',
        [
          { name: 'a/b', type: 'dir' },
          { name: 'a/b/out', type: 'symlink', target: '../../../outside' },
        ],
        /link "a\/b\/out" -> "\.\.\/\.\.\/\.\.\/outside" points out of the archive/,
      ],
      [
        'a chain of links that only escapes when followed',
        [
          { name: 'l1', type: 'symlink', target: '.' },
          { name: 'sub/l2', type: 'symlink', target: '../l1/..' },
        ],
        /link "sub\/l2" -> "\.\.\/l1\/\.\." points out of the archive/,
      ],
      [
        'a file written through a link inside the archive',
        [
          { name: 'dir', type: 'symlink', target: 'sub/../..' },
          { name: 'dir/x', content: 'x' },
        ],
        /points out of the archive|goes through a link out of the archive/,
      ],
    ];
    for (const [what, entries, message] of hostile) {
      it(`refuses a ${format} with ${what}, naming the entry, and writes nothing`, async () => {
        const file = await writeArchive(path.join(dir, `bad.${format}`), format, entries);
        const err = await listArchive(file, format).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ArchiveError);
        expect((err as Error).message).toMatch(message);
        const dest = path.join(dir, 'nested', 'deeper', 'out');
        await expect(extractArchive(file, format, dest)).rejects.toThrow(message);
        expect(existsSync(dest)).toBe(false);
        expect(tree(path.join(dir, 'nested'))).toEqual([]);
        expect(existsSync(path.join(dir, 'etc'))).toBe(false);
        expect(existsSync('/tmp/jobhub-absolute-test')).toBe(false);
        expect(existsSync(path.join(dir, 'outside'))).toBe(false);
      });
    }
  }

  it('refuses devices and fifos, hard links to nothing, and too many bytes', async () => {
    const fifo = await writeArchive(path.join(dir, 'fifo.tar.gz'), 'tar.gz', [{ name: 'p', type: 'fifo' }]);
    await expect(listArchive(fifo, 'tar.gz')).rejects.toThrow(/entry "p" is a fifo: not allowed/);
    const hard = await writeArchive(path.join(dir, 'hard.tar'), 'tar', [
      { name: 'h', type: 'hardlink', target: '../../etc/shadow' },
    ]);
    await expect(listArchive(hard, 'tar')).rejects.toThrow(/"\.\." in its path/);
    const big = await writeArchive(path.join(dir, 'big.zip'), 'zip', [
      { name: 'a', content: 'x'.repeat(2000) },
    ]);
    await expect(listArchive(big, 'zip', { maxBytes: 1000 })).rejects.toThrow(
      /more than 1000 B once extracted/,
    );
  });

  it('extracts a hard link to a file of the archive', async () => {
    const file = await writeArchive(path.join(dir, 'h.tar'), 'tar', [
      { name: 'a.txt', content: 'A' },
      { name: 'b.txt', type: 'hardlink', target: 'a.txt' },
    ]);
    const dest = path.join(dir, 'out');
    await extractArchive(file, 'tar', dest);
    expect(readFileSync(path.join(dest, 'b.txt'), 'utf8')).toBe('A');
  });

  it('says what is wrong with a file that is not an archive', async () => {
    const file = path.join(dir, 'not.tar.gz');
    writeFileSync(file, Buffer.from([0x1f, 0x8b, 1, 2, 3, 4, 5]));
    await expect(listArchive(file, 'tar.gz')).rejects.toThrow(/the archive is not a readable tar\.gz/);
    writeFileSync(file, 'hello');
    expect(await detectFileFormat(file)).toBeUndefined();
  });

  it('packs entries into a tar.gz stream that extracts to the same bytes', async () => {
    const big = Buffer.alloc(300_000, 7);
    const stream = packTarGz([
      {
        name: 'a/one.txt',
        size: 3,
        open: async () => (await import('node:stream')).Readable.from([Buffer.from('one')]),
      },
      {
        name: 'b.bin',
        size: big.length,
        open: async () => (await import('node:stream')).Readable.from([big]),
      },
    ]);
    const file = path.join(dir, 'packed.tar.gz');
    const { createWriteStream } = await import('node:fs');
    const { pipeline } = await import('node:stream/promises');
    await pipeline(stream, createWriteStream(file));
    const dest = path.join(dir, 'unpacked');
    await extractArchive(file, 'tar.gz', dest);
    expect(readFileSync(path.join(dest, 'a/one.txt'), 'utf8')).toBe('one');
    expect(readFileSync(path.join(dest, 'b.bin')).equals(big)).toBe(true);
  });
});

describe('one file of an archive', () => {
  it("reads a file by its path (o2r's jobhub.yaml), in every format, without writing anything", async () => {
    const entries: TestEntry[] = [
      { name: 'sub/jobhub.yaml', content: 'not this one' },
      { name: './jobhub.yaml', content: 'name: x\n' },
      { name: 'big.bin', content: Buffer.alloc(4096) },
    ];
    for (const format of ['tar.gz', 'tar', 'zip'] as const) {
      const file = await writeArchive(path.join(dir, `a.${format}`), format, entries);
      expect((await readArchiveFile(file, format, 'jobhub.yaml', 1024))?.toString()).toBe('name: x\n');
      expect((await readArchiveFile(file, format, 'sub/jobhub.yaml', 1024))?.toString()).toBe('not this one');
      expect(await readArchiveFile(file, format, 'missing.yaml', 1024)).toBeUndefined();
      await expect(readArchiveFile(file, format, 'big.bin', 1024)).rejects.toMatchObject({
        code: 'too_large',
      });
    }
    expect(readdirSync(dir).sort()).toEqual(['a.tar', 'a.tar.gz', 'a.zip']);
  });
});

describe('paths, descriptors and globs', () => {
  it('cleans relative paths and refuses those that leave their folder', () => {
    expect(cleanRelPath('./a//b/')).toBe('a/b');
    expect(() => cleanRelPath('../x')).toThrow(/contains "\.\."/);
    expect(() => cleanRelPath('a/../../x')).toThrow(/contains "\.\."/);
    expect(() => cleanRelPath('/etc/passwd')).toThrow(/absolute path/);
    expect(() => cleanRelPath('.')).toThrow(/names the folder itself/);
  });

  it('parses job:ID:source:destination', () => {
    expect(parseDescriptor('job:12:outputs/r.csv:in/data.csv')).toEqual({
      jobId: 12,
      source: 'outputs/r.csv',
      to: 'in/data.csv',
    });
    expect(parseDescriptor('job:3:/data/big.Rdata')).toEqual({
      jobId: 3,
      source: 'data/big.Rdata',
      to: 'big.Rdata',
    });
    expect(() => parseDescriptor('job:x:a:b')).toThrow(/"x" is not a job id/);
    expect(() => parseDescriptor('job:1:a:/etc/passwd')).toThrow(
      /destination "\/etc\/passwd" is an absolute path/,
    );
    expect(() => parseDescriptor('job:1:a:../b')).toThrow(/destination "\.\.\/b" contains "\.\."/);
    expect(() => parseDescriptor('ERC:lnj82:/a:/b')).toThrow(/ERC descriptors are not supported/);
    expect(() => parseDescriptor('job:1')).toThrow(/is not a file descriptor/);
  });

  it('matches globs like a shell, directories with what is under them', () => {
    const m = (g: string, p: string) => globToRegExp(g).test(p);
    expect(m('*.csv', 'a.csv')).toBe(true);
    expect(m('*.csv', 'd/a.csv')).toBe(false);
    expect(m('**/*.csv', 'd/e/a.csv')).toBe(true);
    expect(m('**/*.csv', 'a.csv')).toBe(true);
    expect(m('out', 'out/x/y.txt')).toBe(true);
    expect(m('result-?.{txt,log}', 'result-1.log')).toBe(true);
    expect(m('result-?.{txt,log}', 'result-10.log')).toBe(false);
    expect(m('[ab].txt', 'b.txt')).toBe(true);
  });
});
