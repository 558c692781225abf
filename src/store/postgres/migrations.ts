/**
 * Migration runner. Migrations are numbered from 1, append-only, and each runs in its own transaction
 * together with its `schema_migrations` row, under a transaction-scoped advisory lock with a fixed
 * key: replicas starting together apply each migration exactly once (the others wait for the lock,
 * then see the version recorded and skip it). Creating the schema and the `schema_migrations` table
 * happens under the same lock, as `CREATE ... IF NOT EXISTS` alone races.
 */
import type pg from 'pg';
import { JobhubError } from '../../core/errors.js';
import { query, quoteSchema, statement, transaction } from './connection.js';
import * as m0001 from './migrations/0001_init.js';
import * as m0002 from './migrations/0002_cluster.js';
import * as m0003 from './migrations/0003_inbox.js';
import * as m0004 from './migrations/0004_security.js';
import * as m0005 from './migrations/0005_files.js';
import * as m0006 from './migrations/0006_locks.js';
import * as m0007 from './migrations/0007_templates.js';
import * as m0008 from './migrations/0008_list_paging.js';
import * as m0009 from './migrations/0009_schedules.js';
import * as m0010 from './migrations/0010_backends.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Every migration, in order. Append new ones at the end; never edit or reorder released ones. */
export const MIGRATIONS: readonly Migration[] = [
  { version: m0001.VERSION, name: m0001.NAME, sql: m0001.SQL },
  { version: m0002.VERSION, name: m0002.NAME, sql: m0002.SQL },
  { version: m0003.VERSION, name: m0003.NAME, sql: m0003.SQL },
  { version: m0004.VERSION, name: m0004.NAME, sql: m0004.SQL },
  { version: m0005.VERSION, name: m0005.NAME, sql: m0005.SQL },
  { version: m0006.VERSION, name: m0006.NAME, sql: m0006.SQL },
  { version: m0007.VERSION, name: m0007.NAME, sql: m0007.SQL },
  { version: m0008.VERSION, name: m0008.NAME, sql: m0008.SQL },
  { version: m0009.VERSION, name: m0009.NAME, sql: m0009.SQL },
  { version: m0010.VERSION, name: m0010.NAME, sql: m0010.SQL },
];

/** The advisory lock key migrations run under ('jobhub' and 'm' in ASCII): the same in every schema. */
export const MIGRATION_LOCK_KEY = '0x6a6f62687562006d';
const LOCK_KEY = BigInt(MIGRATION_LOCK_KEY).toString();

const LOCK = statement('migrate_lock', 'SELECT pg_advisory_xact_lock($1::bigint)');
const SCHEMA_EXISTS = statement('migrate_schema', 'SELECT 1 FROM pg_namespace WHERE nspname = $1');
const CREATE_TABLE = `
CREATE TABLE IF NOT EXISTS schema_migrations (
  version    INTEGER PRIMARY KEY,
  name       TEXT    NOT NULL,
  applied_at BIGINT  NOT NULL
)`;
const SELECT_VERSION = statement('migrate_has', 'SELECT version FROM schema_migrations WHERE version = $1');
const SELECT_MAX = statement('migrate_max', 'SELECT MAX(version) AS version FROM schema_migrations');
const INSERT_VERSION = statement(
  'migrate_insert',
  'INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)',
);
const SELECT_ALL = statement(
  'migrate_all',
  'SELECT version, name, applied_at FROM schema_migrations ORDER BY version',
);

export interface AppliedMigration {
  version: number;
  name: string;
  appliedAt: number;
}

export interface MigrateOptions {
  /** The schema the pool's connections use (their search_path); created when missing. */
  schema?: string | undefined;
  migrations?: readonly Migration[];
  now?: () => number;
}

function checkOrder(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw new JobhubError('internal', `migration ${m.name} has version ${m.version}, expected ${i + 1}`);
    }
  });
}

/**
 * Applies the migrations not yet recorded; returns the versions this call applied (empty when the
 * schema was already current). Refuses a database migrated by a newer jobhub.
 */
export async function runMigrations(pool: pg.Pool, opts: MigrateOptions = {}): Promise<number[]> {
  const migrations = opts.migrations ?? MIGRATIONS;
  const now = opts.now ?? Date.now;
  checkOrder(migrations);

  await transaction(pool, async (c) => {
    await query(c, LOCK, [LOCK_KEY]);
    // Checked first: CREATE SCHEMA IF NOT EXISTS wants the CREATE privilege even when it exists.
    if (opts.schema !== undefined && (await query(c, SCHEMA_EXISTS, [opts.schema])).length === 0) {
      await c.query(`CREATE SCHEMA ${quoteSchema(opts.schema)}`);
    }
    await c.query(CREATE_TABLE);
    const newest = (await query<{ version: number | null }>(c, SELECT_MAX))[0]?.version ?? 0;
    if (newest > migrations.length) {
      throw new JobhubError(
        'store_error',
        `database schema version ${newest} is newer than this jobhub knows (${migrations.length})`,
        { schema: opts.schema ?? null, version: newest, known: migrations.length },
      );
    }
  });

  const applied: number[] = [];
  for (const m of migrations) {
    const ran = await transaction(pool, async (c) => {
      await query(c, LOCK, [LOCK_KEY]);
      if ((await query(c, SELECT_VERSION, [m.version])).length > 0) return false;
      await c.query(m.sql); // DDL only, no values: several statements in one simple query
      await query(c, INSERT_VERSION, [m.version, m.name, now()]);
      return true;
    });
    if (ran) applied.push(m.version);
  }
  return applied;
}

/** The recorded migrations, oldest first. */
export async function appliedMigrations(pool: pg.Pool): Promise<AppliedMigration[]> {
  const rows = await query<{ version: number; name: string; applied_at: number }>(pool, SELECT_ALL);
  return rows.map((r) => ({ version: r.version, name: r.name, appliedAt: r.applied_at }));
}
