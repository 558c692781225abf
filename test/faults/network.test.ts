/**
 * Network faults between an agent and the server, injected by a TCP proxy in the test
 * (support/tcp-proxy.ts): a cut link restored before the heartbeat timeout, a delayed link, a
 * half-open link (blackhole) held past the timeout, and the agent's heartbeats delayed past the
 * timeout and then arriving. Checked each time: a task never runs twice at once (the tasks tick
 * into a file, support/overlap.ts), every log line stored once, the job ends as it should, no task
 * process left, and a node that comes back after being declared down stops what was given up.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { api, eventually } from '../helpers/cluster.js';
import { recordFaults } from './support/fault-report.js';
import {
  checkFaultRun,
  finished,
  killedAfterEach,
  linesStored,
  startOneAgentCluster,
  submitJob,
  tickingJob,
} from './support/fault-run.js';
import { type JobView, readJob, tasksOf } from './support/invariants.js';
import { TcpProxy } from './support/tcp-proxy.js';

const HEARTBEAT = ['--heartbeat', '300ms', '--heartbeat-timeout', '1500ms', '--stop-grace', '1s'];

const procs = killedAfterEach();
const proxies: TcpProxy[] = [];
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});

/** A server, a proxy in front of it and one agent that reaches the server only through the proxy. */
async function proxiedCluster() {
  let proxy: TcpProxy | undefined;
  const cluster = await startOneAgentCluster(procs, HEARTBEAT, async (server) => {
    proxy = await TcpProxy.start({ host: '127.0.0.1', port: server.port });
    proxies.push(proxy);
    return proxy.url;
  });
  if (!proxy) throw new Error('no proxy');
  return { ...cluster, proxy };
}

interface NodeView {
  id: string;
  state: string;
  connected: boolean;
}

/** Waits until the (only) node is as `want` says. */
function nodeState(server: string, want: (n: NodeView) => boolean, timeoutMs = 30_000): Promise<NodeView> {
  return eventually(async () => {
    const r = await api<{ results: NodeView[] }>(server, 'GET', '/api/v1/nodes');
    const n = r.results[0];
    return n && want(n) ? n : undefined;
  }, timeoutMs);
}

describe('network faults between agent and server', () => {
  it('a link cut (twice) and a delayed link, each under the timeout: the task runs on, once, every line stored once', async () => {
    const { server, proxy, agent, nodeId, ticks } = await proxiedCluster();
    const id = await submitJob(server.url, tickingJob('cut-link', ticks, 80));
    await linesStored(server.url, id, 5);
    proxy.delay(150);
    await linesStored(server.url, id, 15);
    proxy.delay(0);
    for (let cut = 1; cut <= 2; cut++) {
      const refusedBefore = proxy.accepted;
      proxy.set('cut');
      // The agent noticed and tried again (and was refused) at least once: then the link comes back.
      await eventually(async () => (proxy.accepted > refusedBefore ? true : undefined));
      proxy.set('forward');
      await nodeState(server.url, (n) => n.connected);
      await linesStored(server.url, id, 15 + cut * 10);
    }
    const job = await finished(server.url, id);
    expect(job.status).toBe('succeeded');
    const [task] = tasksOf(job);
    expect(task?.attempt).toBe(1); // never given up, never restarted
    expect(agent.out()).toMatch(/lost the connection/);
    const { lines } = await checkFaultRun(server.url, {
      kind: 'link cut (under timeout)',
      injected: proxy.injected.get('cut') ?? 0,
      expected: new Map([[id, 'succeeded']]),
      plan: new Map([['t', 80]]),
      nodeIds: [nodeId],
      ticks,
    });
    expect(lines.checked).toBe(80);
    recordFaults({ kind: 'link delayed 150 ms', injected: proxy.injected.get('delay') ?? 0 });
  });

  it('a half-open link (blackhole) past the timeout: the agent stops its task itself, the retry never overlaps it', async () => {
    const { server, proxy, agent, nodeId, ticks } = await proxiedCluster();
    const id = await submitJob(server.url, tickingJob('half-open', ticks, 60, { retries: 1 }));
    await linesStored(server.url, id, 5);
    proxy.set('blackhole');
    // The agent hears nothing: it stops what runs (before the server could give it up)...
    await agent.waitFor(/stopping every task: no contact with the server/);
    // ...and the server hears nothing: the node is down, its task lost.
    await nodeState(server.url, (n) => n.state === 'down');
    proxy.set('forward');
    const job = await finished(server.url, id);
    expect(job.status).toBe('succeeded');
    expect(tasksOf(job)[0]?.attempt).toBe(2);
    const record = await readJob(server.url, id);
    expect(record.events.some((e) => e.type === 'task.status' && e.to === 'lost')).toBe(true);
    const { overlap } = await checkFaultRun(server.url, {
      kind: 'half-open link (blackhole)',
      injected: proxy.injected.get('blackhole') ?? 0,
      expected: new Map([[id, 'succeeded']]),
      plan: new Map([['t', 60]]),
      nodeIds: [nodeId],
      ticks,
    });
    expect(overlap?.attempts).toBe(2);
  });

  it('heartbeats delayed past the timeout, then arriving: the node is told its task was given up and stops it; the retry waits for it', async () => {
    const { server, proxy, agent, nodeId, ticks } = await proxiedCluster();
    // The task ignores SIGTERM: stopping the given-up attempt takes the stop grace (1 s), and its
    // retry on the same node must wait for it.
    const id = await submitJob(
      server.url,
      tickingJob('late-heartbeats', ticks, 60, { retries: 1, stubborn: true }),
    );
    await linesStored(server.url, id, 5);
    // Only the agent's side is held: it keeps hearing the server, so it does not stop its task.
    proxy.set('stall', 'upstream');
    await nodeState(server.url, (n) => n.state === 'down');
    const lost = await eventually(async () => {
      const j = await api<JobView>(server.url, 'GET', `/api/v1/jobs/${id}`);
      const t = tasksOf(j)[0];
      return t && (t.attempt > 1 || t.status === 'lost') ? t : undefined;
    });
    expect(lost).toBeDefined();
    expect(agent.out()).not.toMatch(/stopping every task/);
    proxy.set('forward'); // the held heartbeats and reports arrive, late
    const job = await finished(server.url, id);
    expect(job.status).toBe('succeeded');
    expect(tasksOf(job)[0]?.attempt).toBe(2);
    const record = await readJob(server.url, id);
    // The late report of the given-up attempt was recorded as superseded, not applied.
    expect(record.events.filter((e) => e.type === 'task.superseded').length).toBeGreaterThan(0);
    const { overlap } = await checkFaultRun(server.url, {
      kind: 'heartbeats delayed past timeout',
      injected: proxy.injected.get('stall') ?? 0,
      expected: new Map([[id, 'succeeded']]),
      plan: new Map([['t', 60]]),
      nodeIds: [nodeId],
      ticks,
    });
    expect(overlap?.attempts).toBe(2);
  });
});
