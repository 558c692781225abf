/**
 * Copying a whole store from SQLite into PostgreSQL (`jobhub store copy`): jobs with their stages and
 * tasks (same ids), events (same seqs), logs, nodes (watermark and instance included), tokens (hashes)
 * and the report inbox.
 *
 * The one place that knows both schemas: the Store interface has no bulk reads or writes, so the
 * source is read with its own read-only better-sqlite3 connection (one snapshot, in batches by rowid)
 * and the target is written through the PostgreSQL store's pool, in one transaction that first locks
 * every table and checks that they are empty. Afterwards the row counts are checked table by table and
 * the PostgreSQL sequences are moved past the copied ids; any failure rolls everything back.
 *
 * Both schemas use the same table and column names, so a row travels as one object: JSON columns
 * parsed, booleans as booleans (SQLite stores 0/1 and JSON text).
 */
import Database from 'better-sqlite3';
import type pg from 'pg';
import { JobhubError } from '../core/errors.js';
import { query, statement, transaction } from './postgres/connection.js';
import { PostgresStore } from './postgres/index.js';
import { MIGRATIONS as PG_MIGRATIONS } from './postgres/migrations.js';
import { toJson } from './postgres/rows.js';
import { SqliteStore } from './sqlite/index.js';
import { MIGRATIONS as SQLITE_MIGRATIONS } from './sqlite/migrations.js';

/** In copy order: a table comes after those its foreign keys point to. */
export const COPY_TABLES = [
  'users',
  'orgs',
  'memberships',
  'secrets',
  'jobs',
  'stages',
  'tasks',
  'events',
  'logs',
  'nodes',
  'tokens',
  'report_inbox',
  'files',
  'workspaces',
  'locks',
  'templates',
  'schedules',
  'backends',
  'backend_runs',
] as const;
export type CopyTable = (typeof COPY_TABLES)[number];
export type TableCounts = Record<CopyTable, number>;

/** A row: column name → value, JSON columns parsed, booleans as booleans. */
export type CopyRow = Record<string, unknown>;

interface TableSpec {
  columns: readonly string[];
  /** Columns holding JSON (SQLite: text, PostgreSQL: JSONB). */
  json: readonly string[];
  /** Columns holding booleans (SQLite: 0/1, PostgreSQL: BOOLEAN). */
  bool: readonly string[];
  /** The generated id column, whose PostgreSQL sequence must continue after the copied ids. */
  serial?: string;
}

/** The latest schema (migration 5 in both backends). */
const TABLES: Readonly<Record<CopyTable, TableSpec>> = {
  users: { columns: ['id', 'name', 'server_admin', 'created_at'], json: [], bool: ['server_admin'] },
  orgs: { columns: ['id', 'name', 'created_at'], json: [], bool: [] },
  memberships: { columns: ['org_id', 'user_id', 'role'], json: [], bool: [] },
  secrets: { columns: ['org_id', 'name', 'ciphertext', 'created_at', 'updated_at'], json: [], bool: [] },
  jobs: {
    columns: [
      'id',
      'name',
      'status',
      'owner_json',
      'labels_json',
      'raw_spec',
      'spec_json',
      'placement_json',
      'created_at',
      'started_at',
      'ended_at',
      'reason',
      'waiting_for',
      'stop_requested',
      'retry_of',
      'submitter',
      'held',
      'params_json',
      'template_name',
      'template_version',
    ],
    json: ['owner_json', 'labels_json', 'spec_json', 'placement_json', 'params_json'],
    bool: ['stop_requested', 'held'],
    serial: 'id',
  },
  stages: {
    columns: ['job_id', 'name', 'idx', 'status', 'started_at', 'ready_at', 'ended_at'],
    json: [],
    bool: [],
  },
  tasks: {
    columns: [
      'job_id',
      'id',
      'stage',
      'node',
      'name',
      'idx',
      'long_running',
      'status',
      'attempt',
      'node_id',
      'started_at',
      'ready_at',
      'ended_at',
      'exit_code',
      'text',
      'node_instance',
    ],
    json: [],
    bool: ['long_running'],
  },
  events: {
    columns: [
      'seq',
      'ts',
      'type',
      'job_id',
      'node_id',
      'stage',
      'task_id',
      'from_state',
      'to_state',
      'data_json',
    ],
    json: ['data_json'],
    bool: [],
    serial: 'seq',
  },
  logs: {
    columns: ['id', 'job_id', 'task_id', 'attempt', 'seq', 'ts', 'stream', 'text'],
    json: [],
    bool: [],
    serial: 'id',
  },
  nodes: {
    columns: ['id', 'name', 'state', 'info_json', 'registered_at', 'last_seen_at', 'report_seq', 'instance'],
    json: ['info_json'],
    bool: [],
  },
  tokens: {
    columns: [
      'id',
      'kind',
      'name',
      'hash',
      'user_id',
      'scope',
      'act_for',
      'created_at',
      'expires_at',
      'revoked_at',
    ],
    json: [],
    bool: ['act_for'],
  },
  report_inbox: {
    columns: ['id', 'node_id', 'seq', 'body_json', 'created_at'],
    json: ['body_json'],
    bool: [],
    serial: 'id',
  },
  files: {
    columns: ['job_id', 'path', 'size', 'sha256', 'kind', 'task_id', 'node_id', 'created_at'],
    json: [],
    bool: [],
  },
  locks: { columns: ['name', 'capacity', 'created_at'], json: [], bool: [] },
  templates: {
    columns: [
      'name',
      'version',
      'sha256',
      'raw_spec',
      'description',
      'owner_json',
      'pushed_by',
      'created_at',
    ],
    json: ['owner_json'],
    bool: [],
  },
  schedules: {
    columns: [
      'template',
      'template_version',
      'cron',
      'timezone',
      'params_json',
      'owner_json',
      'submitter',
      'paused',
      'next_at',
      'last_at',
      'last_job_id',
      'last_error',
      'created_at',
    ],
    json: ['params_json', 'owner_json'],
    bool: ['paused'],
  },
  workspaces: {
    columns: ['id', 'name', 'sha256', 'size', 'format', 'owner_json', 'created_at'],
    json: ['owner_json'],
    bool: [],
  },
  backends: {
    columns: ['id', 'kind', 'config_json', 'sealed_token', 'source', 'updated_at'],
    json: ['config_json'],
    bool: [],
  },
  backend_runs: {
    columns: [
      'job_id',
      'task_id',
      'attempt',
      'backend_id',
      'keys_json',
      'output_offset',
      'log_seq',
      'report_json',
      'updated_at',
    ],
    json: ['keys_json', 'report_json'],
    bool: [],
  },
};

/** The schema version both sides must be at: the column lists above are the latest schema's. */
const SCHEMA_VERSION = 10;

/** Reads a whole store, table by table, in batches, from one consistent snapshot. */
export interface Exportable {
  schemaVersion(): Promise<number>;
  counts(): Promise<TableCounts>;
  /** The highest id each generated-id table ever handed out (may be above its largest row's). */
  sequences(): Promise<Partial<Record<CopyTable, number>>>;
  /** The rows of `table`, in id (insertion) order, `batchSize` at a time. */
  rows(table: CopyTable, batchSize: number): AsyncIterable<CopyRow[]>;
  close(): Promise<void>;
}

/** Writes a whole store: everything inside one `load`, which is all or nothing. */
export interface Importable {
  schemaVersion(): Promise<number>;
  load<T>(fn: (writer: ImportWriter) => Promise<T>): Promise<T>;
}

export interface ImportWriter {
  counts(): Promise<TableCounts>;
  insert(table: CopyTable, rows: CopyRow[]): Promise<void>;
  /**
   * Moves each generated-id sequence past the largest id in its table and past `atLeast`; returns the
   * next id each will hand out.
   */
  continueSequences(atLeast: Partial<Record<CopyTable, number>>): Promise<Partial<Record<CopyTable, number>>>;
}

export interface CopyReport {
  /** Rows copied, per table (equal to the counts in both stores afterwards). */
  copied: TableCounts;
  /** The next id of each generated-id table in the target. */
  next: Partial<Record<CopyTable, number>>;
  ms: number;
}

export interface CopyOptions {
  /** Rows per batch (default 500). */
  batchSize?: number;
  /** Called after each batch. */
  onProgress?: (table: CopyTable, copied: number, total: number) => void;
}

function emptyCounts(): TableCounts {
  return Object.fromEntries(COPY_TABLES.map((t) => [t, 0])) as TableCounts;
}

function describeCounts(counts: Partial<TableCounts>): string {
  return Object.entries(counts)
    .filter(([, n]) => n !== 0)
    .map(([t, n]) => `${n} ${t}`)
    .join(', ');
}

// ---- SQLite: the source --------------------------------------------------------------------------

/** Exportable over a SQLite file, through a read-only connection of its own. */
export function sqliteExportable(file: string): Exportable {
  if (file === '' || file === ':memory:') {
    throw new JobhubError('bad_request', 'cannot copy an in-memory SQLite store: it has no file');
  }
  const db = new Database(file, { readonly: true, fileMustExist: true });
  // One read transaction for the whole export: every read sees the same snapshot (WAL).
  db.exec('BEGIN');
  let closed = false;
  const fromRow = (spec: TableSpec, r: Record<string, unknown>): CopyRow => {
    const row: CopyRow = {};
    for (const c of spec.columns) {
      const v = r[c];
      if (spec.json.includes(c)) row[c] = v === null ? null : (JSON.parse(String(v)) as unknown);
      else if (spec.bool.includes(c)) row[c] = v === null ? null : v !== 0;
      else row[c] = v;
    }
    return row;
  };
  return {
    async schemaVersion() {
      const r = db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null };
      return r.v ?? 0;
    },
    async counts() {
      const counts = emptyCounts();
      for (const t of COPY_TABLES) {
        counts[t] = (db.prepare(`SELECT COUNT(*) AS n FROM ${t}`).get() as { n: number }).n;
      }
      return counts;
    },
    async sequences() {
      const rows = db.prepare('SELECT name, seq FROM sqlite_sequence').all() as Array<{
        name: string;
        seq: number;
      }>;
      const out: Partial<Record<CopyTable, number>> = {};
      for (const r of rows) {
        if ((COPY_TABLES as readonly string[]).includes(r.name)) out[r.name as CopyTable] = r.seq;
      }
      return out;
    },
    async *rows(table, batchSize) {
      const spec = TABLES[table];
      const stmt = db.prepare(
        `SELECT rowid AS _rowid_, ${spec.columns.join(', ')} FROM ${table} WHERE rowid > ? ORDER BY rowid LIMIT ?`,
      );
      let after = 0;
      for (;;) {
        const batch = stmt.all(after, batchSize) as Array<Record<string, unknown>>;
        const last = batch.at(-1);
        if (last === undefined) return;
        after = Number(last._rowid_);
        yield batch.map((r) => fromRow(spec, r));
        if (batch.length < batchSize) return;
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      db.exec('COMMIT');
      db.close();
    },
  };
}

// ---- PostgreSQL: the target ----------------------------------------------------------------------

const PG_VERSION = statement('copy_version', 'SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations');
const PG_SETVAL = statement('copy_setval', 'SELECT setval(pg_get_serial_sequence($1, $2), $3, $4)');

/** Importable over a PostgreSQL store's pool (the store's schema). */
export function postgresImportable(pool: pg.Pool): Importable {
  const inserts = Object.fromEntries(
    COPY_TABLES.map((t) => {
      const cols = TABLES[t].columns.join(', ');
      // The batch is one JSON array of row objects: one parameter whatever the batch size.
      return [
        t,
        statement(
          `copy_insert_${t}`,
          `INSERT INTO ${t} (${cols}) SELECT ${cols} FROM jsonb_populate_recordset(NULL::${t}, $1::jsonb)`,
        ),
      ];
    }),
  ) as Record<CopyTable, ReturnType<typeof statement>>;
  const counters = Object.fromEntries(
    COPY_TABLES.map((t) => [t, statement(`copy_count_${t}`, `SELECT COUNT(*) AS n FROM ${t}`)]),
  ) as Record<CopyTable, ReturnType<typeof statement>>;
  return {
    async schemaVersion() {
      return (await query<{ v: number }>(pool, PG_VERSION))[0]?.v ?? 0;
    },
    load(fn) {
      return transaction(pool, async (c) => {
        // Nobody writes while the copy runs (readers may read).
        await c.query(`LOCK TABLE ${COPY_TABLES.join(', ')} IN EXCLUSIVE MODE`);
        return fn({
          async counts() {
            const counts = emptyCounts();
            for (const t of COPY_TABLES) counts[t] = (await query<{ n: number }>(c, counters[t]))[0]?.n ?? 0;
            return counts;
          },
          async insert(table, rows) {
            if (rows.length > 0) await query(c, inserts[table], [toJson(rows)]);
          },
          async continueSequences(atLeast) {
            const next: Partial<Record<CopyTable, number>> = {};
            for (const t of COPY_TABLES) {
              const col = TABLES[t].serial;
              if (col === undefined) continue;
              const max = (await c.query<{ m: number }>(`SELECT COALESCE(MAX(${col}), 0) AS m FROM ${t}`))
                .rows[0]?.m;
              const high = Math.max(max ?? 0, atLeast[t] ?? 0);
              // setval(…, n, true): the next id is n + 1; (…, 1, false): the next id is 1.
              await query(c, PG_SETVAL, [t, col, Math.max(high, 1), high > 0]);
              next[t] = high + 1;
            }
            return next;
          },
        });
      });
    },
  };
}

// ---- The copy --------------------------------------------------------------------------------------

/**
 * Copies everything from `from` into the empty `to`. Refuses (JobhubError `conflict`) a target that
 * holds anything. Both stores must be migrated to the current schema. The target is written in one
 * transaction: on any error nothing of the copy stays.
 */
export async function copyStore(
  from: SqliteStore | Exportable,
  to: PostgresStore | Importable,
  opts: CopyOptions = {},
): Promise<CopyReport> {
  const started = Date.now();
  const batchSize = Math.max(1, opts.batchSize ?? 500);
  const source = from instanceof SqliteStore ? sqliteExportable(from.file) : from;
  const target = to instanceof PostgresStore ? postgresImportable(to.pool) : to;
  try {
    const [sourceVersion, targetVersion] = [await source.schemaVersion(), await target.schemaVersion()];
    if (sourceVersion !== SCHEMA_VERSION || targetVersion !== SCHEMA_VERSION) {
      throw new JobhubError(
        'store_error',
        `store copy needs both stores at schema version ${SCHEMA_VERSION} ` +
          `(source ${sourceVersion}, target ${targetVersion}): open each with this jobhub first`,
        { source: sourceVersion, target: targetVersion, expected: SCHEMA_VERSION },
      );
    }
    // The column lists above are written for this many migrations on each side.
    if (SQLITE_MIGRATIONS.length !== SCHEMA_VERSION || PG_MIGRATIONS.length !== SCHEMA_VERSION) {
      throw new JobhubError(
        'internal',
        'store copy does not know the latest schema: update src/store/copy.ts',
      );
    }
    const total = await source.counts();
    const sequences = await source.sequences();
    return await target.load(async (w) => {
      const present = await w.counts();
      if (COPY_TABLES.some((t) => present[t] > 0)) {
        throw new JobhubError(
          'conflict',
          `the target store is not empty (${describeCounts(present)}): copy only into an empty database or schema`,
          { ...present },
        );
      }
      const copied = emptyCounts();
      for (const t of COPY_TABLES) {
        for await (const batch of source.rows(t, batchSize)) {
          await w.insert(t, batch);
          copied[t] += batch.length;
          opts.onProgress?.(t, copied[t], total[t]);
        }
      }
      const after = await w.counts();
      const wrong = COPY_TABLES.filter((t) => after[t] !== total[t] || copied[t] !== total[t]);
      if (wrong.length > 0) {
        throw new JobhubError(
          'store_error',
          `copy check failed: ${wrong.map((t) => `${t}: source ${total[t]}, copied ${copied[t]}, target ${after[t]}`).join('; ')}`,
        );
      }
      const next = await w.continueSequences(sequences);
      return { copied, next, ms: Date.now() - started };
    });
  } finally {
    if (source !== from) await source.close();
  }
}
