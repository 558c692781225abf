/**
 * The connection pool, named statements and transactions. Every connection of a store's pool runs
 * with `search_path` set to the store's schema (given at connect time, in the startup packet), parses
 * BIGINT as a JS number, and prepares each named statement once.
 *
 * SQL texts are constants (or built from fixed fragments and whitelisted identifiers); values are
 * always bound parameters, never spliced in.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { JobhubError } from '../../core/errors.js';

export type Pool = pg.Pool;
/** A pooled connection inside a transaction, or the pool itself for a single-statement read. */
export type Db = pg.Pool | pg.PoolClient;

export const DEFAULT_POOL_SIZE = 10;

const INT8_OID = 20;

/**
 * BIGINT (ids, seqs, epoch-ms times, COUNT(*)) as a JS number: every value jobhub stores is far below
 * 2^53. Per pool, so other users of `pg` in the process keep the default (string) parser.
 */
const TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === INT8_OID && format !== 'binary') return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format);
  }) as pg.CustomTypesConfig['getTypeParser'],
};

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Checks a schema name (letters, digits, `_`; at most 63 characters) and quotes it for SQL text. */
export function quoteSchema(schema: string): string {
  if (!SCHEMA_NAME.test(schema)) {
    throw new JobhubError(
      'bad_request',
      `"${schema}" is not a usable PostgreSQL schema name (letters, digits and _, at most 63 characters)`,
    );
  }
  return `"${schema}"`;
}

export interface PoolOptions {
  schema?: string | undefined;
  poolSize?: number | undefined;
}

/**
 * A pool on `url`. With a schema, the `options` startup parameter sets `search_path` to it alone (an
 * `options` already in the URL is kept: the URL's parameters would otherwise override ours).
 */
export function openPool(url: string, opts: PoolOptions = {}): pg.Pool {
  let connectionString = url;
  let options: string | undefined;
  if (opts.schema !== undefined) {
    options = `-c search_path=${quoteSchema(opts.schema)}`;
    if (/[?&]options=/.test(url)) {
      const parsed = new URL(url);
      const given = parsed.searchParams.get('options');
      parsed.searchParams.delete('options');
      connectionString = parsed.toString();
      if (given) options = `${given} ${options}`;
    }
  }
  const pool = new pg.Pool({
    connectionString,
    max: opts.poolSize ?? DEFAULT_POOL_SIZE,
    types: TYPES,
    application_name: 'jobhub',
    ...(options === undefined ? {} : { options }),
  });
  // An idle connection that breaks (server restart, network) is dropped by the pool; without a
  // listener its 'error' would be an uncaught exception. The next checkout opens a new connection.
  pool.on('error', () => {});
  return pool;
}

/** A named statement: PostgreSQL parses and plans it once per connection. */
export interface Statement {
  readonly name: string;
  readonly text: string;
}

/**
 * Names a statement after its label and a hash of its text, so two texts never share a name (pg
 * refuses that) and names stay below PostgreSQL's 63 characters.
 */
export function statement(label: string, text: string): Statement {
  const hash = createHash('sha1').update(text).digest('hex').slice(0, 12);
  return { name: `jh_${label.slice(0, 40)}_${hash}`, text };
}

/** Statements built from fixed fragments: `build` runs only on the first use of `key`. */
export class StatementCache {
  private readonly cache = new Map<string, Statement>();

  get(key: string, build: () => string): Statement {
    let st = this.cache.get(key);
    if (st === undefined) {
      st = statement(key.replace(/[^A-Za-z0-9_]+/g, '_'), build());
      this.cache.set(key, st);
    }
    return st;
  }
}

/**
 * PostgreSQL text cannot hold NUL characters, which a task's output (or a message quoting it) may
 * contain: they are stored as U+FFFD rather than failing the whole transaction.
 */
export function withoutNul(text: string): string {
  return text.includes('\u0000') ? text.replaceAll('\u0000', '\uFFFD') : text;
}

function bindable(value: unknown): unknown {
  if (typeof value === 'string') return withoutNul(value);
  if (Array.isArray(value)) return value.map((v: unknown) => (typeof v === 'string' ? withoutNul(v) : v));
  return value;
}

/** Runs a named statement; returns its rows. */
export async function query<R extends pg.QueryResultRow>(
  db: Db,
  st: Statement,
  values: unknown[] = [],
): Promise<R[]> {
  const res = await db.query<R>({ name: st.name, text: st.text, values: values.map(bindable) });
  return res.rows;
}

/**
 * Runs `fn` in one transaction (BEGIN … COMMIT) on one pooled connection; ROLLBACK when it throws.
 * A connection whose ROLLBACK failed is closed rather than given back to the pool.
 */
export async function transaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  // The pool listens for errors only on idle connections: one lost while checked out (PostgreSQL
  // restarted) would be an unhandled 'error' event and end the process. The query fails anyway.
  const onError = (err: Error) => {
    broken = err;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    try {
      await client.query('ROLLBACK');
    } catch (rollbackErr) {
      broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
    }
    throw err;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}
