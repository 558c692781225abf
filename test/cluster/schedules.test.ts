/**
 * Cron schedules on real servers: with two replicas on one PostgreSQL, every tick fires exactly once
 * (read from the audit events the scheduler writes, one per job it made); a server down over several
 * ticks fires the overdue one once when it comes back, then goes on; pause stops it. The CLI sets,
 * lists and pauses schedules.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  api,
  eventually,
  type Proc,
  runCli,
  type ServerProc,
  startAgent,
  startServer,
} from '../helpers/cluster.js';

const PG = process.env.JOBHUB_TEST_PG_URL;
if (!PG)
  console.warn(
    'schedule tests on two PostgreSQL replicas skipped: set JOBHUB_TEST_PG_URL=postgres://... to run them',
  );

const procs: Proc[] = [];
const schemas: string[] = [];
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.kill('SIGKILL')));
});
afterAll(async () => {
  if (!PG || schemas.length === 0) return;
  const c = new pg.Client({ connectionString: PG });
  await c.connect();
  for (const s of schemas) await c.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  await c.end();
});

const TEMPLATE = `name: tick
params:
  size: {type: number, default: 1}
stages:
  - name: s
    tasks: [{name: t, shell: {command: "echo size=$JOBHUB_PARAM_SIZE"}}]
`;

const cli = (server: ServerProc, args: string[]) => runCli(server.url, args);

/** The ticks the scheduler fired, from its audit events: tick time and job id, in order. */
async function fired(server: string): Promise<Array<{ tick: string; jobId: number }>> {
  const r = await api<{
    events: Array<{ jobId?: number; data: { action: string; schedule?: string; tick?: string } }>;
  }>(server, 'GET', '/api/v1/events?type=audit&limit=10000');
  return r.events
    .filter((e) => e.data.action === 'job.submit' && e.data.schedule === 'tick')
    .map((e) => ({ tick: e.data.tick ?? '', jobId: e.jobId ?? 0 }));
}

/** The same, read from a stopped server's SQLite file. */
async function firedIn(dataDir: string): Promise<Array<{ tick: string; jobId: number }>> {
  const { SqliteStore } = await import('../../src/store/sqlite/index.js');
  const store = SqliteStore.open(path.join(dataDir, 'jobhub.db'));
  try {
    const events = await store.listEvents({ types: ['audit'], limit: 10_000 });
    return events
      .filter((e) => e.data?.action === 'job.submit' && e.data?.schedule === 'tick')
      .map((e) => ({ tick: String(e.data?.tick), jobId: e.jobId ?? 0 }));
  } finally {
    await store.close();
  }
}

async function setUp(server: ServerProc): Promise<void> {
  await api(server.url, 'POST', '/api/v1/templates', TEMPLATE);
  const set = cli(server, ['schedule', 'set', 'tick', '--cron', '*/2 * * * * *', '--param', 'size=3']);
  expect(set.code, set.stderr).toBe(0);
  expect(set.stdout).toMatch(
    /scheduled template tick \(newest version\): "\*\/2 \* \* \* \* \*" in UTC, next /,
  );
}

describe('schedules', () => {
  it.skipIf(!PG)(
    'fire once per tick across two replicas on one PostgreSQL',
    async () => {
      const schema = `jh_sched_${randomBytes(4).toString('hex')}`;
      schemas.push(schema);
      const c = new pg.Client({ connectionString: PG });
      await c.connect();
      await c.query(`CREATE SCHEMA ${schema}`);
      await c.end();
      const replica = async () => {
        const s = await startServer({
          args: ['--database', PG ?? '', '--database-schema', schema],
          env: { JOBHUB_SERVER_KEY: 'schedules-test-key' },
        });
        procs.push(s);
        return s;
      };
      const a = await replica();
      const b = await replica();
      procs.push(startAgent({ server: `${a.url},${b.url}`, args: ['--concurrency', '4'] }));
      await setUp(a);
      const ticks = await eventually(async () => {
        const f = await fired(a.url);
        return f.length >= 4 ? f : undefined;
      }, 20_000);
      const paused = cli(b, ['schedule', 'pause', 'tick']);
      expect(paused.code, paused.stderr).toBe(0);
      const atPause = (await fired(a.url)).length;
      // Each tick once: distinct ticks, two seconds apart, one job each.
      const all = await fired(a.url);
      expect(new Set(all.map((f) => f.tick)).size).toBe(all.length);
      expect(new Set(all.map((f) => f.jobId)).size).toBe(all.length);
      const times = ticks.map((t) => Date.parse(t.tick));
      for (let i = 1; i < times.length; i++) expect((times[i] ?? 0) - (times[i - 1] ?? 0)).toBe(2000);
      // The jobs ran with the schedule's parameters, as the template's jobs.
      const job = await api<{ status: string; params: Record<string, unknown>; template: { name: string } }>(
        a.url,
        'GET',
        `/api/v1/jobs/${ticks[0]?.jobId}`,
      );
      expect(job.params).toEqual({ size: 3 });
      expect(job.template.name).toBe('tick');
      // Paused: nothing more (beyond a tick already claimed when the pause came).
      await new Promise((r) => setTimeout(r, 3000));
      expect((await fired(a.url)).length).toBeLessThanOrEqual(atPause + 1);
      const list = cli(a, ['schedule', 'list']);
      expect(list.stdout).toMatch(/tick\s+newest\s+\*\/2 \* \* \* \* \*\s+UTC\s+paused\s+job \d+ at/);
    },
    60_000,
  );

  it('a server down over several ticks fires the overdue one once when it is back, then goes on', async () => {
    let server = await startServer();
    procs.push(server);
    procs.push(startAgent({ server: server.url, args: ['--concurrency', '4'] }));
    await setUp(server);
    await eventually(async () => ((await fired(server.url)).length >= 1 ? true : undefined), 10_000);
    await server.kill('SIGKILL');
    const before = new Set((await firedIn(server.dataDir)).map((f) => f.jobId));
    await new Promise((r) => setTimeout(r, 5000)); // two or three ticks pass
    server = await startServer({ dataDir: server.dataDir, port: server.port });
    procs.push(server);
    const upAt = Date.now();
    const after = await eventually(async () => {
      const f = (await fired(server.url)).filter((x) => !before.has(x.jobId));
      return f.length >= 2 ? f : undefined;
    }, 15_000);
    // The ticks that fell while it was down: only one fires, once, when it is back.
    const missed = after.filter((x) => Date.parse(x.tick) < upAt);
    expect(missed.length).toBe(1);
    const all = await fired(server.url);
    expect(new Set(all.map((x) => x.tick)).size).toBe(all.length);
    expect(Date.parse(after[1]?.tick ?? '')).toBeGreaterThan(upAt);
  }, 60_000);
});
