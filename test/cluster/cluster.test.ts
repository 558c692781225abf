import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  api,
  eventually,
  NetnsLab,
  type Proc,
  type ServerProc,
  startAgent,
  startServer,
} from '../helpers/cluster.js';
import { pidsWithEnv } from '../helpers/embedded.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

interface JobView {
  id: number;
  status: string;
  reason: string | null;
  placement: Array<{ assignment: string; ip: string; nodeId: string }> | null;
  stages: Array<{
    name: string;
    status: string;
    nodes: Array<{
      name: string;
      tasks: Array<{ id: number; name: string; status: string; text: string | null }>;
    }>;
  }>;
}

const procs: Proc[] = [];
const markers: string[] = [];
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.kill('SIGKILL')));
  for (const m of markers.splice(0))
    for (const pid of pidsWithEnv('TEST_MARKER', m)) process.kill(pid, 'SIGKILL');
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

async function submit(server: string, spec: string): Promise<number> {
  const r = await api<{ id: number }>(server, 'POST', '/api/v1/jobs', spec);
  return r.id;
}

function getJob(server: string, id: number): Promise<JobView> {
  return api<JobView>(server, 'GET', `/api/v1/jobs/${id}`);
}

const FINAL = new Set(['succeeded', 'failed', 'stopped']);
function finished(server: string, id: number, timeoutMs = 60_000): Promise<JobView> {
  return eventually(async () => {
    const j = await getJob(server, id);
    return FINAL.has(j.status) ? j : undefined;
  }, timeoutMs);
}

function taskOf(job: JobView, stage: string, node: string, name: string) {
  const t = job.stages
    .find((s) => s.name === stage)
    ?.nodes.find((n) => n.name === node)
    ?.tasks.find((x) => x.name === name);
  if (!t) throw new Error(`no task ${stage}/${node}/${name}`);
  return t;
}

async function nodeCount(server: string, n: number): Promise<void> {
  await eventually(async () => {
    const r = await api<{ results: Array<{ connected: boolean }> }>(server, 'GET', '/api/v1/nodes');
    return r.results.filter((x) => x.connected).length >= n ? true : undefined;
  });
}

const netns = NetnsLab.create();
afterAll(() => netns.lab?.destroy());

describe('a cluster: server and agent processes', () => {
  it(`runs the example benchmark on a database and two loader agents${netns.lab ? ', each in its own network namespace' : ` (no netns: ${netns.why})`}`, async () => {
    const server = await startServer();
    procs.push(server);
    const lab = netns.lab;
    const port = String(await freePort());
    const ips: string[] = [];
    for (const [i, role] of ['database', 'loader', 'loader'].entries()) {
      const place = lab?.add(10 + i);
      if (place) ips.push(place.ip);
      const agent = startAgent({
        server: lab ? `http://${lab.gateway}:${server.port}` : server.url,
        role,
        name: `${role}-${i}`,
        env: { BENCH_PORT: port }, // tasks inherit it: the benchmark's server listens there
        ...(place ? { netns: place.ns } : {}),
      });
      procs.push(agent);
    }
    await nodeCount(server.url, 3);
    const spec = readFileSync(path.join(ROOT, 'examples/benchmark.yaml'), 'utf8');
    const id = await submit(server.url, spec);
    const job = await finished(server.url, id);
    expect(job.status, JSON.stringify(job)).toBe('succeeded');
    const placement = job.placement ?? [];
    expect(placement.map((p) => p.assignment)).toEqual(['db', 'loader1', 'loader2']);
    if (lab) {
      expect(new Set(placement.map((p) => p.ip)).size).toBe(3);
      for (const p of placement) expect(ips).toContain(p.ip);
    }
    const logs = await api<{ lines: Array<{ task: string; text: string }> }>(
      server.url,
      'GET',
      `/api/v1/jobs/${id}/logs`,
    );
    const load = logs.lines.filter((l) => l.task.startsWith('load/'));
    expect(load.map((l) => l.text)).toEqual([
      expect.stringMatching(/^2000 requests, 0 failed/),
      expect.stringMatching(/^2000 requests, 0 failed/),
    ]);
    expect(logs.lines.find((l) => l.task === 'report/db/count')?.text).toBe(
      'the server answered 4000 requests',
    );
    const nodes = await api<{ results: Array<{ addr: { ip: string; remoteAddr: string } }> }>(
      server.url,
      'GET',
      '/api/v1/nodes',
    );
    if (lab) expect(new Set(nodes.results.map((n) => n.addr.ip)).size).toBe(3);
  });

  it('declares a SIGKILLed agent down: its task is lost and the job fails', async () => {
    const server = await startServer({ args: ['--heartbeat', '300ms', '--heartbeat-timeout', '1500ms'] });
    procs.push(server);
    const marker = randomUUID();
    markers.push(marker);
    const agent = startAgent({ server: server.url, role: 'any' });
    procs.push(agent);
    await nodeCount(server.url, 1);
    const id = await submit(
      server.url,
      `name: doomed\nstages: [{name: s, tasks: [{name: t, env: {TEST_MARKER: "${marker}"}, shell: {command: "sleep 1000"}}]}]\n`,
    );
    await eventually(async () =>
      (await getJob(server.url, id)).stages[0]?.status === 'running' ? true : undefined,
    );
    await agent.kill('SIGKILL');
    const job = await finished(server.url, id);
    expect(job.status).toBe('failed');
    const t = taskOf(job, 's', 'local', 't');
    expect(t.status).toBe('lost');
    expect(t.text).toMatch(/is down: no heartbeat/);
    const node = await api<{ results: Array<{ state: string }> }>(server.url, 'GET', '/api/v1/nodes');
    expect(node.results[0]?.state).toBe('down');
  });

  it('a node that comes back after being declared down stops what was given up; its late report is superseded', async () => {
    const server = await startServer({ args: ['--heartbeat', '300ms', '--heartbeat-timeout', '1500ms'] });
    procs.push(server);
    const marker = randomUUID();
    markers.push(marker);
    const agent = startAgent({ server: server.url });
    procs.push(agent);
    await nodeCount(server.url, 1);
    const id = await submit(
      server.url,
      `name: partitioned\nstages: [{name: s, tasks: [{name: t, env: {TEST_MARKER: "${marker}"}, shell: {command: "sleep 1000"}}]}]\n`,
    );
    await eventually(async () => (pidsWithEnv('TEST_MARKER', marker).length > 0 ? true : undefined));
    agent.child.kill('SIGSTOP'); // frozen: no heartbeats, as if cut off
    const job = await finished(server.url, id);
    expect(taskOf(job, 's', 'local', 't').status).toBe('lost');
    expect(pidsWithEnv('TEST_MARKER', marker).length).toBeGreaterThan(0); // still running on the frozen node
    agent.child.kill('SIGCONT');
    await eventually(async () => (pidsWithEnv('TEST_MARKER', marker).length === 0 ? true : undefined));
    const events = await eventually(async () => {
      const r = await api<{ events: Array<{ type: string; data?: { report?: string } }> }>(
        server.url,
        'GET',
        `/api/v1/jobs/${id}/events`,
      );
      return r.events.some((e) => e.type === 'task.superseded') ? r.events : undefined;
    });
    expect(events.find((e) => e.type === 'task.superseded')?.data?.report).toBe('task.exited');
    const nodes = await eventually(async () => {
      const r = await api<{ results: Array<{ state: string; connected: boolean }> }>(
        server.url,
        'GET',
        '/api/v1/nodes',
      );
      return r.results[0]?.connected && r.results[0].state !== 'down' ? r.results : undefined;
    });
    expect(nodes[0]?.state).toBe('idle');
    expect((await getJob(server.url, id)).status).toBe('failed'); // nothing changed the ended job
  });

  it('runs at most --concurrency tasks at once on an agent; the rest wait their turn', async () => {
    const server = await startServer();
    procs.push(server);
    procs.push(startAgent({ server: server.url, args: ['--concurrency', '2'] }));
    await nodeCount(server.url, 1);
    const ids = await Promise.all(
      [1, 2, 3].map((n) =>
        submit(
          server.url,
          `name: slot${n}\nstages: [{name: s, pipelines: [{tasks: [a, b]}], tasks: [{name: a, shell: {command: "sleep 0.3"}}, {name: b, shell: {command: "sleep 0.3"}}]}]\n`,
        ),
      ),
    );
    // The process times the agent reported (a start may wait there for a slot after its dispatch).
    const spans: Array<[number, number]> = [];
    for (const id of ids) {
      const job = await finished(server.url, id);
      expect(job.status).toBe('succeeded');
      const view = await api<{
        stages: Array<{ nodes: Array<{ tasks: Array<{ startedAt: string; endedAt: string }> }> }>;
      }>(server.url, 'GET', `/api/v1/jobs/${id}`);
      for (const t of view.stages[0]?.nodes[0]?.tasks ?? [])
        spans.push([Date.parse(t.startedAt), Date.parse(t.endedAt)]);
    }
    expect(spans).toHaveLength(6);
    // At every start, count the tasks running then.
    const most = Math.max(...spans.map(([s]) => spans.filter(([a, b]) => a <= s && s < b).length));
    expect(most).toBe(2);
  });

  it('loses nothing when the server is killed and restarted mid-job', async () => {
    const first = await startServer();
    procs.push(first);
    const agent = startAgent({ server: first.url });
    procs.push(agent);
    await nodeCount(first.url, 1);
    const id = await submit(
      first.url,
      'name: across-restart\nstages: [{name: s, tasks: [{name: t, shell: {command: "for i in $(seq 1 40); do echo line $i; sleep 0.05; done"}}]}]\n',
    );
    await eventually(async () => {
      const logs = await api<{ lines: unknown[] }>(first.url, 'GET', `/api/v1/jobs/${id}/logs`);
      return logs.lines.length >= 5 ? true : undefined;
    });
    await first.kill('SIGKILL');
    const second: ServerProc = await startServer({ dataDir: first.dataDir, port: first.port });
    procs.push(second);
    const job = await finished(second.url, id);
    expect(job.status, JSON.stringify(job)).toBe('succeeded');
    const logs = await api<{ lines: Array<{ text: string }> }>(second.url, 'GET', `/api/v1/jobs/${id}/logs`);
    expect(logs.lines.map((l) => l.text)).toEqual(Array.from({ length: 40 }, (_, i) => `line ${i + 1}`));
  });
});
