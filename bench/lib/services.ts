/** The machine's PostgreSQL and Redis: URLs, fresh names per run, cleanup. */
import { Redis } from 'ioredis';
import pg from 'pg';
import type { Scope } from './scope.js';

export const PG_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

export async function pgQuery<T extends pg.QueryResultRow = pg.QueryResultRow>(
  sql: string,
  params: unknown[] = [],
  url = PG_URL,
): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

/** A schema name unique to this run; dropped (CASCADE) when the scope closes. */
export function pgSchema(scope: Scope, runId: string, what: string): string {
  const name = `bench_${runId}_${what}`
    .replace(/[^A-Za-z0-9_]/g, '_')
    .toLowerCase()
    .slice(0, 63);
  scope.defer(`drop schema ${name}`, async () => {
    await pgQuery(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
  });
  return name;
}

/** Schemas left by earlier runs that died before cleaning up (their name says bench_). */
export async function dropStaleSchemas(keepRunId: string): Promise<string[]> {
  const rows = await pgQuery<{ nspname: string }>(
    "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'bench\\_%' ESCAPE '\\'",
  );
  const dropped: string[] = [];
  for (const r of rows) {
    if (r.nspname.startsWith(`bench_${keepRunId}_`)) continue;
    await pgQuery(`DROP SCHEMA IF EXISTS "${r.nspname}" CASCADE`);
    dropped.push(r.nspname);
  }
  return dropped;
}

export async function pgVersion(): Promise<string> {
  const rows = await pgQuery<{ v: string }>("SELECT current_setting('server_version') AS v").catch(
    () => [] as { v: string }[],
  );
  return rows[0]?.v ?? 'unreachable';
}

export async function redisVersion(): Promise<string> {
  const r = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await r.connect();
    const info = await r.info('server');
    return /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
  } catch {
    return 'unreachable';
  } finally {
    r.disconnect();
  }
}

/** Deletes every Redis key under `prefix` (SCAN, not KEYS). */
export async function redisDeletePrefix(prefix: string): Promise<number> {
  const r = new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
  let n = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) n += await r.del(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
  return n;
}
