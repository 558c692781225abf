/**
 * A small disk for the full-disk fault tests: a tmpfs mounted at a new folder (root only), a filler
 * that takes every byte left on it, and the unmount for afterEach.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from '../../helpers/embedded.js';

/** Mounting a tmpfs needs root; the tests skip (with a notice) otherwise. */
export const canMount = process.getuid?.() === 0;

const mounts: string[] = [];

/** A tmpfs of `size` (e.g. '8m') at a new folder. */
export function smallDisk(size: string): string {
  const dir = path.join(tempDir('jobhub-disk-'), 'data');
  mkdirSync(dir);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  mounts.push(dir);
  return dir;
}

/** Unmounts every small disk made so far (lazily: a process may still hold a file there). */
export function unmountSmallDisks(): void {
  for (const m of mounts.splice(0)) spawnSync('umount', ['-l', m]);
}

/**
 * Grows a filler file in `dir` until the disk is full, to the last byte; returns its path. Called
 * again, it takes whatever was freed meanwhile.
 */
export function fillDisk(dir: string): string {
  const file = path.join(dir, 'filler');
  const fd = openSync(file, 'a');
  try {
    for (const size of [64 * 1024, 1]) {
      const chunk = Buffer.alloc(size, 1);
      try {
        for (;;) writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
    }
  } finally {
    closeSync(fd);
  }
  return file;
}
