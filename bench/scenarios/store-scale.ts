/**
 * 5. Store at scale: N finished jobs in the store, then the list API's latency.
 *
 * A real single-task job is run first (server + agent); the server is stopped and that job's rows
 * (job, stage, task and its events) are copied N−1 times directly into the store (INSERT … SELECT,
 * one statement per table), varying id, status (90% succeeded, 9% failed, 1% stopped), owner
 * (100 owners) and times (2 s apart, ending now). The server is then started again on that store
 * and queried over HTTP, one request at a time: first page, page 500 (`start`, as the API's `next`
 * links do), page 500 by cursor, status filter, owner filter, one job's detail.
 *
 * SQLite gets no ANALYZE (jobhub runs none); PostgreSQL is ANALYZEd, as its autovacuum would.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import {
  api,
  type StoreKind,
  startAgent,
  startServer,
  submit,
  waitFinished,
  waitForNodes,
} from '../lib/jobhub.js';
import type { Ctx, Scenario, ScenarioResult, Table, Target } from '../lib/scenario.js';
import { PG_URL, pgQuery, pgSchema } from '../lib/services.js';
import { dist, fmt, type Metric, metric } from '../lib/stats.js';

const OWNERS = 100;
/** One job in this many belongs to `rare-team` (0.01%): an owner filter that finds few rows. */
const RARE_EVERY = 10_000;
export const TEMPLATE =
  'name: stored\nowner: {id: "0", name: team-0, type: org}\nlabels: {team: bench}\n' +
  'stages: [{name: s, tasks: [{name: t, exec: {command: "true"}}]}]\n';

const STATUS_SQL = (i: string) =>
  `(CASE WHEN ${i} % 100 < 90 THEN 'succeeded' WHEN ${i} % 100 < 99 THEN 'failed' ELSE 'stopped' END)`;

/** Column list of a table, in order. */
type Columns = string[];

/**
 * The SELECT list that copies template row `t` for job `i`: overrides by column name, times
 * (`*_at`, `ts`) shifted by `shift`, everything else as the template has it.
 */
function selectList(
  cols: Columns,
  overrides: Record<string, string>,
  shift: string,
  skip: string[] = [],
): string {
  return cols
    .filter((c) => !skip.includes(c))
    .map((c) => {
      if (overrides[c] !== undefined) return overrides[c];
      if (c.endsWith('_at') || c === 'ts') return `t.${c} + ${shift}`;
      return `t.${c}`;
    })
    .join(', ');
}

function jobOverrides(kind: StoreKind, i: string, t0: string): Record<string, string> {
  const status = STATUS_SQL(i);
  return {
    id: i,
    status,
    owner_json:
      kind === 'sqlite'
        ? `(CASE WHEN ${i} % ${RARE_EVERY} = 7 THEN json_object('id', 'rare', 'name', 'rare-team', 'type', 'org')
             ELSE json_object('id', CAST(${i} % ${OWNERS} AS TEXT), 'name', 'team-' || (${i} % ${OWNERS}), 'type', 'org') END)`
        : `(CASE WHEN ${i} % ${RARE_EVERY} = 7 THEN jsonb_build_object('id', 'rare', 'name', 'rare-team', 'type', 'org')
             ELSE jsonb_build_object('id', (${i} % ${OWNERS})::text, 'name', 'team-' || (${i} % ${OWNERS}), 'type', 'org') END)`,
    created_at: `${t0} + ${i} * 2000`,
  };
}

function childOverrides(i: string, table: 'stages' | 'tasks' | 'events'): Record<string, string> {
  const status = STATUS_SQL(i);
  if (table === 'events')
    return { job_id: i, to_state: `(CASE WHEN t.to_state = 'succeeded' THEN ${status} ELSE t.to_state END)` };
  const o: Record<string, string> = {
    job_id: i,
    status: `(CASE WHEN t.status = 'succeeded' THEN ${status} ELSE t.status END)`,
  };
  if (table === 'tasks') {
    o.exit_code = `(CASE WHEN ${i} % 100 >= 90 AND ${i} % 100 < 99 THEN 1 ELSE t.exit_code END)`;
  }
  return o;
}

export function fillSqlite(file: string, n: number): { seconds: number; events: number } {
  const t = performance.now();
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = OFF');
    db.pragma('foreign_keys = ON');
    const cols = (table: string): Columns =>
      (
        db.prepare(`SELECT name FROM pragma_table_info('${table}') ORDER BY cid`).all() as Array<{
          name: string;
        }>
      ).map((r) => r.name);
    const tpl = db.prepare('SELECT id, created_at FROM jobs ORDER BY id LIMIT 1').get() as {
      id: number;
      created_at: number;
    };
    if (!tpl) throw new Error('no template job in the store');
    const t0 = Date.now() - (n + 10) * 2000;
    const shift = `(${t0} + n.i * 2000 - ${tpl.created_at})`;
    db.transaction(() => {
      db.exec('CREATE TEMP TABLE n (i INTEGER PRIMARY KEY)');
      db.prepare(
        'WITH RECURSIVE c(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM c WHERE i < ?) INSERT INTO n SELECT i FROM c',
      ).run(tpl.id + 1, tpl.id + n - 1);
      const jc = cols('jobs');
      db.exec(
        `INSERT INTO jobs (${jc.join(', ')}) SELECT ${selectList(jc, jobOverrides('sqlite', 'n.i', String(t0)), shift)}
           FROM n, jobs t WHERE t.id = ${tpl.id} ORDER BY n.i`,
      );
      for (const table of ['stages', 'tasks'] as const) {
        const c = cols(table);
        db.exec(
          `INSERT INTO ${table} (${c.join(', ')}) SELECT ${selectList(c, childOverrides('n.i', table), shift)}
             FROM n, ${table} t WHERE t.job_id = ${tpl.id} ORDER BY n.i`,
        );
      }
      const ec = cols('events').filter((c) => c !== 'seq');
      db.exec(
        `INSERT INTO events (${ec.join(', ')}) SELECT ${selectList(ec, childOverrides('n.i', 'events'), shift)}
           FROM n, events t WHERE t.job_id = ${tpl.id} ORDER BY n.i, t.seq`,
      );
    })();
    const events = (db.prepare('SELECT count(*) AS c FROM events').get() as { c: number }).c;
    db.pragma('wal_checkpoint(TRUNCATE)');
    return { seconds: (performance.now() - t) / 1000, events };
  } finally {
    db.close();
  }
}

export async function fillPostgres(schema: string, n: number): Promise<{ seconds: number; events: number }> {
  const t = performance.now();
  const q = (sql: string) => pgQuery(sql, [], PG_URL);
  const cols = async (table: string): Promise<Columns> =>
    (
      await pgQuery<{ column_name: string }>(
        'SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position',
        [schema, table],
      )
    ).map((r) => r.column_name);
  const s = `"${schema}"`;
  const tpl = (
    await pgQuery<{ id: string; created_at: string }>(
      `SELECT id, created_at FROM ${s}.jobs ORDER BY id LIMIT 1`,
    )
  )[0];
  if (!tpl) throw new Error('no template job in the store');
  const t0 = Date.now() - (n + 10) * 2000;
  const shift = `(${t0} + n.i * 2000 - ${tpl.created_at})`;
  const series = `generate_series(${Number(tpl.id) + 1}, ${Number(tpl.id) + n - 1}) AS n(i)`;
  const jc = await cols('jobs');
  await q(
    `INSERT INTO ${s}.jobs (${jc.join(', ')}) SELECT ${selectList(jc, jobOverrides('postgres', 'n.i', String(t0)), shift)}
       FROM ${series}, ${s}.jobs t WHERE t.id = ${tpl.id} ORDER BY n.i`,
  );
  for (const table of ['stages', 'tasks'] as const) {
    const c = await cols(table);
    await q(
      `INSERT INTO ${s}.${table} (${c.join(', ')}) SELECT ${selectList(c, childOverrides('n.i', table), shift)}
         FROM ${series}, ${s}.${table} t WHERE t.job_id = ${tpl.id} ORDER BY n.i`,
    );
  }
  const ec = (await cols('events')).filter((c) => c !== 'seq');
  await q(
    `INSERT INTO ${s}.events (${ec.join(', ')}) SELECT ${selectList(ec, childOverrides('n.i', 'events'), shift)}
       FROM ${series}, ${s}.events t WHERE t.job_id = ${tpl.id} ORDER BY n.i, t.seq`,
  );
  await q(`SELECT setval(pg_get_serial_sequence('${s}.jobs', 'id'), (SELECT max(id) FROM ${s}.jobs))`);
  await q(`ANALYZE ${s}.stages; ANALYZE ${s}.tasks; ANALYZE ${s}.events`);
  // Jobs that accumulated one by one would have been vacuumed by autovacuum on the way (migration 8
  // has it vacuum jobs after every 1% of new rows); a bulk load has not, and without a current
  // visibility map paging by `start` reads every skipped row's heap page. VACUUM runs on its own.
  await q(`VACUUM ANALYZE ${s}.jobs`);
  const events = Number((await pgQuery<{ c: string }>(`SELECT count(*) AS c FROM ${s}.events`))[0]?.c ?? 0);
  return { seconds: (performance.now() - t) / 1000, events };
}

const QUERIES = [
  'first page',
  'page 500',
  'status=failed',
  'owner',
  'job detail',
  'page 500 (cursor)',
  'owner (rare)',
] as const;
type QueryName = (typeof QUERIES)[number];
/** The queries issue 5's target names; the others are shown for information. */
const TARGET_QUERIES: readonly QueryName[] = [
  'first page',
  'page 500',
  'status=failed',
  'owner',
  'job detail',
];

function route(q: QueryName, n: number, rnd: () => number): string {
  switch (q) {
    case 'first page':
      return '/api/v1/jobs';
    case 'page 500':
      return '/api/v1/jobs?limit=100&start=49901';
    case 'page 500 (cursor)':
      return `/api/v1/jobs?limit=100&cursor=${Buffer.from(String(n - 499 * 100 + 1)).toString('base64url')}`;
    case 'status=failed':
      return '/api/v1/jobs?status=failed';
    case 'owner':
      return `/api/v1/jobs?owner=team-${Math.floor(rnd() * OWNERS)}`;
    case 'owner (rare)':
      return '/api/v1/jobs?owner=rare-team';
    case 'job detail':
      return `/api/v1/jobs/${1 + Math.floor(rnd() * n)}`;
  }
}

async function timeGet(url: string): Promise<number> {
  const t = performance.now();
  const res = await fetch(url, {
    headers: { 'x-api-token': 'bench-admin-token' },
    signal: AbortSignal.timeout(30_000),
  });
  await res.arrayBuffer();
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
  return performance.now() - t;
}

async function runStore(ctx: Ctx, store: StoreKind, n: number, samples: number, budgetMs: number) {
  const { scope } = ctx;
  const dataDir = scope.tempDir(`store-${store}`);
  const schema = store === 'postgres' ? pgSchema(scope, ctx.runId, 'scale') : undefined;
  const serverOpts = { store, dataDir, ...(schema ? { pgUrl: PG_URL, pgSchema: schema } : {}) };
  // 1. One real job, to copy.
  {
    const server = await startServer(scope, serverOpts);
    const agent = startAgent(scope, server, { dataDir: scope.tempDir('agent-store'), concurrency: 8 });
    try {
      await waitForNodes(server.url, 1);
      await submit(server.url, TEMPLATE);
      await waitFinished(server.url, 1, 30_000);
    } finally {
      await Promise.all([agent.stop(), server.proc.stop()]);
    }
  }
  // 2. Bulk copies, server stopped.
  const fill =
    store === 'sqlite'
      ? fillSqlite(path.join(dataDir, 'jobhub.db'), n)
      : await fillPostgres(schema as string, n);
  const size =
    store === 'sqlite'
      ? statSync(path.join(dataDir, 'jobhub.db')).size / 1e6
      : Number(
          (
            await pgQuery<{ b: string }>(
              `SELECT sum(pg_total_relation_size(c.oid)) AS b FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = $1 AND c.relkind = 'r'`,
              [schema],
            )
          )[0]?.b ?? 0,
        ) / 1e6;
  ctx.log(
    `  ${store}: ${n.toLocaleString('en-US')} jobs, ${fill.events.toLocaleString('en-US')} events inserted in ${fmt(fill.seconds)} s (${fmt(size)} MB)`,
  );
  // 3. The server on the full store; the queries.
  const t0 = performance.now();
  const server = await startServer(scope, serverOpts);
  const startSeconds = (performance.now() - t0) / 1000;
  try {
    const total = (await api<{ results: Array<{ id: number }> }>(server.url, 'GET', '/api/v1/jobs?limit=1'))
      .results[0]?.id;
    if (total !== n) throw new Error(`expected newest job id ${n}, the API says ${total}`);
    let seed = 42;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const reps: Array<Record<QueryName, number[]>> = [];
    for (let rep = 0; rep < ctx.reps; rep++) {
      const times = Object.fromEntries(QUERIES.map((q) => [q, [] as number[]])) as Record<
        QueryName,
        number[]
      >;
      const spent = Object.fromEntries(QUERIES.map((q) => [q, 0])) as Record<QueryName, number>;
      // Warm-up round (not counted), then rounds over every query in turn.
      for (const q of QUERIES) await timeGet(server.url + route(q, n, rnd));
      for (let i = 0; i < samples; i++) {
        let any = false;
        for (const q of QUERIES) {
          if (spent[q] > budgetMs) continue;
          const ms = await timeGet(server.url + route(q, n, rnd));
          times[q].push(ms);
          spent[q] += ms;
          any = true;
        }
        if (!any) break;
      }
      reps.push(times);
    }
    return { fill, size, startSeconds, reps };
  } finally {
    await server.proc.stop();
  }
}

export const storeScale: Scenario = {
  name: 'store',
  title: '5. Store at scale',
  timeoutMs: (quick) => (quick ? 60_000 : 20 * 60_000),
  async run(ctx): Promise<ScenarioResult> {
    const n = ctx.quick ? 100_000 : 1_000_000;
    const samples = ctx.quick ? 60 : 200;
    const budgetMs = ctx.quick ? 4000 : 30_000;
    ctx.log(
      `  ${n.toLocaleString('en-US')} jobs per store${ctx.quick ? ' (quick; the full run uses 1,000,000)' : ''}`,
    );
    const stores: StoreKind[] = ['sqlite', 'postgres'];
    const metrics: Record<string, Metric> = {};
    const raw: Record<string, unknown> = {};
    const rows: string[][] = [];
    const targets: Target[] = [];
    const errors: string[] = [];
    for (const store of stores) {
      const name = store === 'sqlite' ? 'SQLite' : 'PostgreSQL';
      let r: Awaited<ReturnType<typeof runStore>>;
      try {
        r = await runStore(ctx, store, n, samples, budgetMs);
      } catch (err) {
        if (ctx.scope.closed) throw err;
        errors.push(`${name}: ${String(err).split('\n')[0]}`);
        ctx.log(`  FAILED ${name}: ${String(err).split('\n').slice(0, 4).join(' | ')}`);
        continue;
      }
      raw[store] = {
        insertSeconds: r.fill.seconds,
        events: r.fill.events,
        sizeMb: r.size,
        serverStartSeconds: r.startSeconds,
        samples: r.reps,
      };
      let worstP99 = 0;
      for (const q of QUERIES) {
        const ds = r.reps.map((t) => dist(t[q]));
        const p50 = metric(
          'ms',
          'lower',
          ds.map((d) => d.p50),
        );
        const p99 = metric(
          'ms',
          'lower',
          ds.map((d) => d.p99),
        );
        metrics[`${store}.${q}.p50`] = p50;
        metrics[`${store}.${q}.p99`] = p99;
        if (TARGET_QUERIES.includes(q)) worstP99 = Math.max(worstP99, p99.median);
        const count = ds.map((d) => d.n).join('/');
        rows.push([
          name,
          TARGET_QUERIES.includes(q) ? q : `${q} (extra)`,
          fmt(p50.median),
          fmt(p99.median),
          count,
        ]);
        ctx.log(`  ${name} ${q}: p50 ${fmt(p50.median)} ms, p99 ${fmt(p99.median)} ms (${count} samples)`);
      }
      targets.push({
        what: `list API at ${n.toLocaleString('en-US')} jobs, worst p99 of the 5 queries, jobhub (${name})`,
        goal: '≤ 20 ms' + (ctx.quick ? ' (at 1,000,000 jobs)' : ''),
        measured: `${fmt(worstP99)} ms`,
        met: ctx.quick ? null : worstP99 <= 20,
      });
      rows.push([
        name,
        '(store)',
        `${fmt(r.size)} MB`,
        `filled in ${fmt(r.fill.seconds)} s`,
        `server start ${fmt(r.startSeconds)} s`,
      ]);
    }
    const table: Table = {
      title: `Store at scale: ${n.toLocaleString('en-US')} finished jobs (each with its stage, task and 8 events), one request at a time, ms`,
      head: ['store', 'query', 'p50', 'p99', 'samples'],
      rows,
    };
    return {
      params: {
        jobs: n,
        samplesPerQuery: samples,
        budgetMsPerQuery: budgetMs,
        owners: OWNERS,
        reps: ctx.reps,
      },
      metrics,
      raw,
      tables: [table],
      targets,
      notes: [
        ...errors.map((e) => `FAILED ${e}`),
        'Rows are copies of a real finished single-task job (job, stage, task, and the events that job has), inserted directly with INSERT … SELECT while the server is stopped.',
        'PostgreSQL: after the bulk load the jobs table is vacuumed (VACUUM ANALYZE), as autovacuum would have done while the jobs accumulated one by one; SQLite needs nothing of the kind.',
        "page 500 is `start=49901&limit=100` (what the API's own `next` links use). Extras, not part of the target: the same page by `cursor`, and an owner with 0.01% of the jobs (`rare-team`).",
        'The owner filter uses 100 owners with 1% of the jobs each, picked at random per request.',
        `Each query is sampled up to ${samples} times per repetition, or until it has used ${budgetMs / 1000} s; the sample counts are shown.`,
        ...(ctx.quick
          ? ['Quick mode: 100,000 jobs, so the ≤ 20 ms target (stated at 1,000,000) is not judged.']
          : []),
      ],
    };
  },
};
