/**
 * Migration runner. Migrations are numbered from 1, append-only, and each runs in its own
 * `BEGIN IMMEDIATE` transaction together with its `schema_migrations` row, so two processes opening
 * the same file at once apply each migration exactly once: the second waits for the write lock, then
 * sees the version recorded and skips it.
 */
import { JobhubError } from '../../core/errors.js';
import type { StatementCache } from './connection.js';
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

const CREATE_TABLE = `
CREATE TABLE IF NOT EXISTS schema_migrations (
  version    INTEGER PRIMARY KEY,
  name       TEXT    NOT NULL,
  applied_at INTEGER NOT NULL
)`;
const SELECT_VERSION = 'SELECT version FROM schema_migrations WHERE version = ?';
const SELECT_MAX = 'SELECT MAX(version) AS version FROM schema_migrations';
const INSERT_VERSION = 'INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)';

export interface AppliedMigration {
  version: number;
  name: string;
  appliedAt: number;
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
export function runMigrations(
  st: StatementCache,
  migrations: readonly Migration[] = MIGRATIONS,
  now: () => number = Date.now,
): number[] {
  checkOrder(migrations);
  const { db } = st;
  db.transaction(() => db.exec(CREATE_TABLE)).immediate();

  const newest = st.get<[], { version: number | null }>(SELECT_MAX).get()?.version ?? 0;
  if (newest > migrations.length) {
    throw new JobhubError(
      'store_error',
      `database schema version ${newest} is newer than this jobhub knows (${migrations.length})`,
      { file: db.name, version: newest, known: migrations.length },
    );
  }

  const applied: number[] = [];
  for (const m of migrations) {
    const ran = db
      .transaction(() => {
        if (st.get<[number], { version: number }>(SELECT_VERSION).get(m.version)) return false;
        db.exec(m.sql);
        st.get<[number, string, number]>(INSERT_VERSION).run(m.version, m.name, now());
        return true;
      })
      .immediate();
    if (ran) applied.push(m.version);
  }
  return applied;
}

/** The recorded migrations, oldest first. */
export function appliedMigrations(st: StatementCache): AppliedMigration[] {
  return st
    .get<[], { version: number; name: string; applied_at: number }>(
      'SELECT version, name, applied_at FROM schema_migrations ORDER BY version',
    )
    .all()
    .map((r) => ({ version: r.version, name: r.name, appliedAt: r.applied_at }));
}
