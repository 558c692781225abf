/**
 * Opening the SQLite file and the per-connection statement cache. better-sqlite3 is synchronous; the
 * store wraps its calls in async methods, so every statement here runs on the caller's thread.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';

export type Db = Database.Database;

/** Busy timeout in ms: how long a writer waits for another process's write transaction. */
export const BUSY_TIMEOUT_MS = 5000;

function isFileBacked(file: string): boolean {
  return file !== '' && file !== ':memory:' && !file.startsWith('file:');
}

/** Opens (creating if needed) the database file and its parent directory, and sets the pragmas. */
export function openDatabase(file: string): Db {
  if (isFileBacked(file)) mkdirSync(dirname(resolve(file)), { recursive: true });
  const db = new Database(file, { timeout: BUSY_TIMEOUT_MS });
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

/**
 * Prepares each SQL text once per connection and hands back the same statement afterwards. SQL texts
 * are constants (or built from fixed column whitelists); values are always bound, never spliced in.
 */
export class StatementCache {
  private readonly cache = new Map<string, Database.Statement<unknown[], unknown>>();

  constructor(readonly db: Db) {}

  get<P extends unknown[] | object = unknown[], R = unknown>(sql: string): Database.Statement<P, R> {
    let stmt = this.cache.get(sql);
    if (stmt === undefined) {
      stmt = this.db.prepare(sql);
      this.cache.set(sql, stmt);
    }
    return stmt as unknown as Database.Statement<P, R>;
  }

  /** Same, for SQL built from a fixed set of fragments: `build` runs only on the first use of `key`. */
  getBuilt<P extends unknown[] | object = unknown[], R = unknown>(
    key: string,
    build: () => string,
  ): Database.Statement<P, R> {
    const cacheKey = `built:${key}`;
    let stmt = this.cache.get(cacheKey);
    if (stmt === undefined) {
      stmt = this.db.prepare(build());
      this.cache.set(cacheKey, stmt);
    }
    return stmt as unknown as Database.Statement<P, R>;
  }

  get size(): number {
    return this.cache.size;
  }
}
