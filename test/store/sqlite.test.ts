import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite/index.js';
import { testDb } from '../helpers/store.js';
import { newJob, storeContract } from './store-contract.js';

storeContract('SqliteStore', () => testDb('sqlite'));

describe('SqliteStore: the file', () => {
  let dir: string;
  let file: string;
  let store: SqliteStore;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobhub-store-'));
    file = path.join(dir, 'jobhub.db');
    store = SqliteStore.open(file);
    await store.migrate();
  });

  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('sets WAL and the other pragmas', () => {
    const raw = new Database(file, { readonly: true });
    try {
      expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      raw.close();
    }
  });

  it('creates a missing parent directory and supports :memory:', async () => {
    const nested = path.join(dir, 'a', 'b', 'store.db');
    const s = SqliteStore.open(nested);
    await s.migrate();
    await s.close();
    expect(fs.existsSync(nested)).toBe(true);

    const mem = SqliteStore.open(':memory:');
    await mem.migrate();
    expect((await mem.createJob(newJob())).job.id).toBe(1);
    await mem.close();
  });
});
