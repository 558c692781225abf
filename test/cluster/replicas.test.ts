import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { api, eventually, type Proc, type ServerProc, startAgent, startServer } from '../helpers/cluster.js';
import { tempDir } from '../helpers/embedded.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/jobhub.js');
const PG = process.env.JOBHUB_TEST_PG_URL;
if (!PG) console.warn('PostgreSQL replica tests skipped: set JOBHUB_TEST_PG_URL=postgres://... to run them');

interface Job {
  id: number;
  status: string;
  stages: Array<{ nodes: Array<{ tasks: Array<{ id: number; status: string }> }> }>;
}
interface Ev {
  type: string;
  taskId?: number;
  from?: string;
  to?: string;
}

const FINAL = new Set(['succeeded', 'failed', 'stopped']);
const procs: Proc[] = [];
let schema = '';

beforeAll(async () => {
  if (!PG) return;
  schema = `jh_rep_${randomBytes(4).toString('hex')}`;
  const c = new pg.Client({ connectionString: PG });
  await c.connect();
  await c.query(`CREATE SCHEMA ${schema}`);
  await c.end();
});
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.kill('SIGKILL')));
});
afterAll(async () => {
  if (!PG) return;
  const c = new pg.Client({ connectionString: PG });
  await c.connect();
  await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await c.end();
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

async function replica(schemaName: string): Promise<ServerProc> {
  const s = await startServer({
    args: [
      '--database',
      PG ?? '',
      '--database-schema',
      schemaName,
      '--heartbeat',
      '500ms',
      '--heartbeat-timeout',
      '4s',
    ],
    env: { JOBHUB_SERVER_KEY: 'replicas-test-key' },
  });
  procs.push(s);
  return s;
}

function finished(server: string, id: number, timeoutMs = 90_000): Promise<Job> {
  return eventually(async () => {
    const j = await api<Job>(server, 'GET', `/api/v1/jobs/${id}`);
    return FINAL.has(j.status) ? j : undefined;
  }, timeoutMs);
}

async function events(server: string, id: number): Promise<Ev[]> {
  return (await api<{ events: Ev[] }>(server, 'GET', `/api/v1/jobs/${id}/events?limit=10000`)).events;
}

/** Each task of the job went queued -> running exactly once (no retries are in these specs). */
async function startedOnce(server: string, id: number): Promise<void> {
  const evs = await events(server, id);
  const starts = new Map<number, number>();
  for (const e of evs) {
    if (e.type === 'task.status' && e.to === 'running' && e.taskId !== undefined) {
      starts.set(e.taskId, (starts.get(e.taskId) ?? 0) + 1);
    }
  }
  expect(
    [...starts.values()].every((n) => n === 1),
    `job ${id}: ${JSON.stringify([...starts])}`,
  ).toBe(true);
}

async function leaderOf(servers: ServerProc[]): Promise<ServerProc> {
  return eventually(async () => servers.find((s) => /holding the scheduling lease/.test(s.out())));
}

describe.skipIf(!PG)('server replicas on one PostgreSQL', () => {
  it('two replicas and three agents run the example benchmark and 200 jobs submitted through both, each task once', async () => {
    const a = await replica(schema);
    const b = await replica(schema);
    const port = String(await freePort());
    for (const [i, role] of ['database', 'loader', 'loader'].entries()) {
      const servers = i % 2 === 0 ? `${a.url},${b.url}` : `${b.url},${a.url}`;
      const agent = startAgent({ server: servers, role, name: `${role}-${i}`, env: { BENCH_PORT: port } });
      procs.push(agent);
    }
    await eventually(async () => {
      const r = await api<{ results: Array<{ state: string }> }>(a.url, 'GET', '/api/v1/nodes');
      return r.results.length === 3 && r.results.every((n) => n.state === 'idle') ? true : undefined;
    });
    const bench = await api<{ id: number }>(
      b.url,
      'POST',
      '/api/v1/jobs',
      readFileSync(path.join(ROOT, 'examples/benchmark.yaml'), 'utf8'),
    );
    const small =
      'name: small\nstages: [{name: s, tasks: [{name: t, shell: {command: "echo $JOBHUB_JOB_ID"}}]}]\n';
    const ids: number[] = [];
    for (let i = 0; i < 200; i += 20) {
      const batch = await Promise.all(
        Array.from({ length: 20 }, (_, k) =>
          api<{ id: number }>(k % 2 === 0 ? a.url : b.url, 'POST', '/api/v1/jobs', small),
        ),
      );
      ids.push(...batch.map((x) => x.id));
    }
    expect((await finished(a.url, bench.id)).status).toBe('succeeded');
    await startedOnce(a.url, bench.id);
    for (const id of ids) {
      const job = await finished(id % 2 === 0 ? a.url : b.url, id);
      expect(job.status, `job ${id}`).toBe('succeeded');
      await startedOnce(b.url, id);
    }
    const counts = await (await fetch(`${b.url}/metrics`)).text();
    expect(counts).toMatch(/^jobhub_jobs\{status="succeeded"\} 201$/m);
  });

  it('SIGKILL of the replica holding the lease mid-job: the other takes over; nothing lost or doubled', async () => {
    const s2 = `${schema}_b`;
    const c = new pg.Client({ connectionString: PG });
    await c.connect();
    await c.query(`CREATE SCHEMA ${s2}`);
    await c.end();
    const first = await replica(s2);
    const second = await replica(s2);
    const agent = startAgent({ server: `${first.url},${second.url}` });
    procs.push(agent);
    await eventually(async () => {
      const r = await api<{ results: Array<{ state: string }> }>(second.url, 'GET', '/api/v1/nodes');
      return r.results.length === 1 && r.results[0]?.state === 'idle' ? true : undefined;
    });
    const leader = await leaderOf([first, second]);
    const other = leader === first ? second : first;
    const spec =
      'name: across\nstages:\n  - {name: a, tasks: [{name: t, shell: {command: "for i in $(seq 1 40); do echo line $i; sleep 0.05; done"}}]}\n  - {name: b, needs: [a], tasks: [{name: t, shell: {command: "echo after"}}]}\n';
    const { id } = await api<{ id: number }>(other.url, 'POST', '/api/v1/jobs', spec);
    await eventually(async () => {
      const logs = await api<{ lines: unknown[] }>(other.url, 'GET', `/api/v1/jobs/${id}/logs`);
      return logs.lines.length >= 5 ? true : undefined;
    });
    await leader.kill('SIGKILL');
    const job = await finished(other.url, id);
    expect(job.status).toBe('succeeded');
    const logs = await api<{ lines: Array<{ text: string; task: string }> }>(
      other.url,
      'GET',
      `/api/v1/jobs/${id}/logs`,
    );
    expect(logs.lines.map((l) => l.text)).toEqual([
      ...Array.from({ length: 40 }, (_, i) => `line ${i + 1}`),
      'after',
    ]);
    await startedOnce(other.url, id);
    expect(other.out()).toMatch(/holding the scheduling lease/);
    const c2 = new pg.Client({ connectionString: PG });
    await c2.connect();
    await c2.query(`DROP SCHEMA IF EXISTS ${s2} CASCADE`);
    await c2.end();
  });

  it("jobhub store copy moves a laptop's history into PostgreSQL, where a server serves it", async () => {
    const dir = tempDir('jobhub-copy-');
    const s3 = `${schema}_c`;
    const run = spawnSync(
      process.execPath,
      [BIN, 'run', path.join(ROOT, 'examples/hello.yaml'), '--data', dir],
      { encoding: 'utf8' },
    );
    expect(run.status).toBe(0);
    const target = `${PG}${PG?.includes('?') ? '&' : '?'}schema=${s3}`;
    const copy = spawnSync(process.execPath, [BIN, 'store', 'copy', '--from', dir, '--to', target], {
      encoding: 'utf8',
    });
    expect(copy.status, copy.stderr).toBe(0);
    expect(copy.stdout).toMatch(/jobs\s+1/);
    const again = spawnSync(process.execPath, [BIN, 'store', 'copy', '--from', dir, '--to', target], {
      encoding: 'utf8',
    });
    expect(again.status).toBe(2); // the target is not empty any more
    const server = await replica(s3);
    const jobs = await api<{ results: Array<{ name: string; status: string }> }>(
      server.url,
      'GET',
      '/api/v1/jobs',
    );
    expect(jobs.results.map((j) => [j.name, j.status])).toEqual([['hello', 'succeeded']]);
    const logs = await api<{ lines: Array<{ text: string }> }>(server.url, 'GET', '/api/v1/jobs/1/logs');
    expect(logs.lines.length).toBeGreaterThan(0);
    const c = new pg.Client({ connectionString: PG });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${s3} CASCADE`);
    await c.end();
  });
});
