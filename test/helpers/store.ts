/**
 * Store backends for tests. SQLite always runs (a file in a temp dir); PostgreSQL runs when
 * JOBHUB_TEST_PG_URL is set (`postgres://postgres@127.0.0.1:5432/test`), each test database being a
 * fresh schema `jh_test_<random>` dropped at dispose.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { PostgresStore } from '../../src/store/postgres/index.js';
import {
  MIGRATIONS as PG_MIGRATIONS,
  runMigrations as pgMigrate,
} from '../../src/store/postgres/migrations.js';
import { openDatabase, StatementCache } from '../../src/store/sqlite/connection.js';
import { SqliteStore } from '../../src/store/sqlite/index.js';
import {
  MIGRATIONS as SQLITE_MIGRATIONS,
  runMigrations as sqliteMigrate,
} from '../../src/store/sqlite/migrations.js';

export type StoreKind = 'sqlite' | 'postgres';

/** The PostgreSQL URL of the test server, when there is one. */
export const PG_URL: string | undefined = process.env.JOBHUB_TEST_PG_URL || undefined;

export const PG_SKIP_NOTICE =
  'PostgreSQL tests skipped: set JOBHUB_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/test to run them';

/** The backends to run store tests on: SQLite always, PostgreSQL when JOBHUB_TEST_PG_URL is set. */
export function testStores(): StoreKind[] {
  return PG_URL ? ['sqlite', 'postgres'] : ['sqlite'];
}

export type TestStore = SqliteStore | PostgresStore;

/** One empty test database, and stores opened on it. */
export interface TestDb {
  kind: StoreKind;
  /** SQLite: the database file. PostgreSQL: the schema. */
  where: string;
  /** A new store on this database, not migrated; closed by `dispose` if still open. */
  open(): TestStore;
  /** Applies migrations 1..version only (the schema as an older jobhub left it). */
  migrateTo(version: number): Promise<void>;
  /** Runs SQL text directly (test data for a given schema version, raw checks). */
  raw(sql: string): Promise<void>;
  /** Closes every store opened here, then deletes the database (file or schema). */
  dispose(): Promise<void>;
}

export function randomSchema(prefix = 'jh_test_'): string {
  return `${prefix}${randomBytes(6).toString('hex')}`;
}

/** A plain client on the test server (raw SQL, LISTEN); the caller ends it. */
export async function pgClient(): Promise<pg.Client> {
  if (!PG_URL) throw new Error('JOBHUB_TEST_PG_URL is not set');
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  return client;
}

async function dropSchema(schema: string): Promise<void> {
  const c = await pgClient();
  try {
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await c.end();
  }
}

/**
 * A PostgreSQL schema for the servers of one test file (with JOBHUB_TEST_PG_URL), made before its
 * tests and dropped after them; the returned function names it ('' without PostgreSQL).
 */
export function fileSchema(prefix: string): () => string {
  const schema = PG_URL ? randomSchema(prefix) : '';
  beforeAll(async () => {
    if (!schema) return;
    const c = await pgClient();
    try {
      await c.query(`CREATE SCHEMA "${schema}"`);
    } finally {
      await c.end();
    }
  });
  afterAll(async () => {
    if (schema) await dropSchema(schema);
  });
  return () => schema;
}

function sqliteDb(): TestDb {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jobhub-store-'));
  const file = path.join(dir, 'jobhub.db');
  const stores: SqliteStore[] = [];
  const withRaw = <T>(fn: (db: ReturnType<typeof openDatabase>) => T): T => {
    const db = openDatabase(file);
    try {
      return fn(db);
    } finally {
      db.close();
    }
  };
  return {
    kind: 'sqlite',
    where: file,
    open() {
      const s = SqliteStore.open(file);
      stores.push(s);
      return s;
    },
    async migrateTo(version) {
      withRaw((db) => sqliteMigrate(new StatementCache(db), SQLITE_MIGRATIONS.slice(0, version)));
    },
    async raw(sql) {
      withRaw((db) => db.exec(sql));
    },
    async dispose() {
      for (const s of stores) await s.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function postgresDb(url: string, opts: { poolSize?: number } = {}): TestDb {
  const schema = randomSchema();
  const stores: PostgresStore[] = [];
  return {
    kind: 'postgres',
    where: schema,
    open() {
      const s = PostgresStore.open(url, { schema, poolSize: opts.poolSize ?? 4 });
      stores.push(s);
      return s;
    },
    async migrateTo(version) {
      const s = PostgresStore.open(url, { schema, poolSize: 1 });
      try {
        await pgMigrate(s.pool, { schema, migrations: PG_MIGRATIONS.slice(0, version) });
      } finally {
        await s.close();
      }
    },
    async raw(sql) {
      const s = PostgresStore.open(url, { schema, poolSize: 1 });
      try {
        await s.pool.query(sql);
      } finally {
        await s.close();
      }
    },
    async dispose() {
      for (const s of stores) await s.close();
      await dropSchema(schema);
    },
  };
}

/** An empty test database of this kind (no schema yet). */
export function testDb(kind: StoreKind): TestDb {
  if (kind === 'sqlite') return sqliteDb();
  if (!PG_URL) throw new Error(`${PG_SKIP_NOTICE} (asked for a postgres test store)`);
  return postgresDb(PG_URL);
}

/** A migrated, empty store of this kind; `dispose` closes it and deletes its database. */
export async function freshStore(
  kind: StoreKind,
): Promise<{ store: TestStore; db: TestDb; dispose(): Promise<void> }> {
  const db = testDb(kind);
  const store = db.open();
  try {
    await store.migrate();
  } catch (err) {
    await db.dispose();
    throw err;
  }
  return { store, db, dispose: () => db.dispose() };
}
