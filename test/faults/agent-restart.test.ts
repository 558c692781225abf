/**
 * An agent restarted with tasks running (docs/reliability.md, "Agent restart"): tasks do not survive
 * their agent. SIGKILL: the tasks' processes outlive the agent until a new agent of the node starts
 * and kills them; the server counts the attempts as lost. SIGTERM: the agent stops its tasks (grace,
 * then kill) and reports them lost. Either way the job retries or fails as its spec says, no
 * process is left and the job's locks are released.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, onTestFailed } from 'vitest';
import { findTaggedPids } from '../../src/agent/reaper.js';
import { api, eventually, type Proc, type ServerProc, startAgent, startServer } from '../helpers/cluster.js';
import { tempDir } from '../helpers/embedded.js';
import { recordFaults } from './support/fault-report.js';
import { checkAll, type EventView, type JobView, tasksOf } from './support/invariants.js';
import { checkNoOverlap, tickingCommand } from './support/overlap.js';

const procs: Proc[] = [];
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.kill('SIGKILL')));
});

async function submit(server: string, spec: string): Promise<number> {
  return (await api<{ id: number }>(server, 'POST', '/api/v1/jobs', spec)).id;
}

const FINAL = new Set(['succeeded', 'failed', 'stopped']);
function finished(server: string, id: number): Promise<JobView> {
  return eventually(async () => {
    const j = await api<JobView>(server, 'GET', `/api/v1/jobs/${id}`);
    return FINAL.has(j.status) ? j : undefined;
  }, 60_000);
}

async function connected(server: string, instance?: string): Promise<void> {
  await eventually(async () => {
    const r = await api<{ results: Array<{ connected: boolean; state: string; instance?: string }> }>(
      server,
      'GET',
      '/api/v1/nodes',
    );
    const n = r.results[0];
    return n?.connected && n.state !== 'down' && (instance === undefined || n.instance !== instance)
      ? true
      : undefined;
  });
}

/** Two jobs on one agent: `retried` (retries 1, holds lock `env`) and `once` (no retries). */
async function twoJobs(server: ServerProc, ticks: string) {
  // A daemon that left the task's process group (setsid): only its tag finds it.
  const cmd = JSON.stringify(`setsid sleep 1000 >/dev/null 2>&1 </dev/null & ${tickingCommand(ticks, 40)}`);
  const retried = await submit(
    server.url,
    `name: retried\nlocks: [env]\nstages: [{name: s, tasks: [{name: t, retries: {count: 1, backoff: 100ms}, shell: {command: ${cmd}}}]}]\n`,
  );
  const once = await submit(
    server.url,
    `name: once\nstages: [{name: s, tasks: [{name: t, shell: {command: ${cmd}}}]}]\n`,
  );
  for (const id of [retried, once]) {
    await eventually(async () => {
      const r = await api<{ lines: unknown[] }>(server.url, 'GET', `/api/v1/jobs/${id}/logs`);
      return r.lines.length >= 3 ? true : undefined;
    });
  }
  return { retried, once };
}

describe('agent restart with tasks running', () => {
  it('SIGKILL: the restarted agent kills what the old one left; the attempts are lost, retried or failed as the spec says', async () => {
    const server = await startServer({ args: ['--heartbeat', '300ms', '--heartbeat-timeout', '3s'] });
    procs.push(server);
    const dataDir = tempDir('jobhub-agent-');
    const first = startAgent({ server: server.url, dataDir });
    procs.push(first);
    onTestFailed(() =>
      console.log(`server:\n${server.out().slice(-2000)}\nagent:\n${first.out().slice(-2000)}`),
    );
    await connected(server.url);
    const nodeId = readFileSync(path.join(dataDir, 'node-id'), 'utf8').trim();
    const ticks = path.join(tempDir('jobhub-ticks-'), 'ticks');
    const { retried, once } = await twoJobs(server, ticks);
    await first.kill('SIGKILL');
    // The tasks' process groups die with their agent (its spawn helper kills them), but the
    // daemons that left their group outlive it...
    const orphans = findTaggedPids(`${nodeId}/`);
    expect(orphans.length).toBeGreaterThan(0);
    // ...until the next agent of this node starts: it kills them before it takes any task.
    const second = startAgent({ server: server.url, dataDir });
    procs.push(second);
    await second.waitFor(/killed \d+ process\(es\) left by an earlier agent/);
    const jobs = new Map([
      [retried, await finished(server.url, retried)],
      [once, await finished(server.url, once)],
    ]);
    const r = jobs.get(retried);
    const o = jobs.get(once);
    expect(r?.status).toBe('succeeded');
    expect(tasksOf(r as JobView)[0]?.attempt).toBe(2);
    expect(o?.status).toBe('failed');
    expect(tasksOf(o as JobView)[0]?.status).toBe('lost');
    expect(o?.reason).toMatch(/lost/);
    const { records, result, lines } = await checkAll(
      server.url,
      new Map([
        [retried, 'succeeded'],
        [once, 'failed'],
      ]),
      new Map([['t', 40]]),
      [nodeId],
    );
    const overlap = checkNoOverlap(ticks);
    expect(result.problems).toEqual([]);
    expect(overlap.problems).toEqual([]);
    // The job ends as soon as its task is lost, not after the 15 s cleanup timeout: the job.cleanup
    // decided while the agent was being reconciled reaches it (it used to be dropped).
    const events = (records.find((x) => x.job.id === once)?.events ?? []) as Array<
      EventView & { ts?: string }
    >;
    const lostAt = Date.parse(events.find((e) => e.type === 'task.status' && e.to === 'lost')?.ts ?? '');
    const endedAt = Date.parse(events.find((e) => e.type === 'job.status' && e.to === 'failed')?.ts ?? '');
    expect(endedAt - lostAt).toBeLessThan(5000);
    const locks = await api<{ results: Array<{ name: string; holders: unknown[] }> }>(
      server.url,
      'GET',
      '/api/v1/locks',
    );
    expect(locks.results.find((l) => l.name === 'env')?.holders ?? []).toEqual([]);
    recordFaults({
      kind: 'agent SIGKILL + restart',
      injected: 1,
      jobs: 2,
      linesChecked: lines.checked,
      lost: result.lost,
      doubled: result.doubled + overlap.doubled,
      leaked: result.leaked,
    });
  });

  it('SIGTERM: the agent stops its tasks, exits 0, and the attempts are lost, retried or failed as the spec says', async () => {
    const server = await startServer({ args: ['--heartbeat', '300ms', '--heartbeat-timeout', '3s'] });
    procs.push(server);
    const dataDir = tempDir('jobhub-agent-');
    const first = startAgent({ server: server.url, dataDir });
    procs.push(first);
    onTestFailed(() =>
      console.log(`server:\n${server.out().slice(-2000)}\nagent:\n${first.out().slice(-2000)}`),
    );
    await connected(server.url);
    const nodeId = readFileSync(path.join(dataDir, 'node-id'), 'utf8').trim();
    const ticks = path.join(tempDir('jobhub-ticks-'), 'ticks');
    const { retried, once } = await twoJobs(server, ticks);
    expect(await first.kill('SIGTERM')).toBe(0);
    // Nothing of its tasks outlives a stopped agent.
    expect(findTaggedPids(`${nodeId}/`)).toEqual([]);
    const o = await finished(server.url, once);
    expect(o.status).toBe('failed');
    expect(tasksOf(o)[0]?.status).toBe('lost');
    const second = startAgent({ server: server.url, dataDir });
    procs.push(second);
    const r = await finished(server.url, retried);
    expect(r.status).toBe('succeeded');
    expect(tasksOf(r)[0]?.attempt).toBe(2);
    const { result, lines } = await checkAll(
      server.url,
      new Map([
        [retried, 'succeeded'],
        [once, 'failed'],
      ]),
      new Map([['t', 40]]),
      [nodeId],
    );
    const overlap = checkNoOverlap(ticks);
    expect(result.problems).toEqual([]);
    expect(overlap.problems).toEqual([]);
    recordFaults({
      kind: 'agent SIGTERM + restart',
      injected: 1,
      jobs: 2,
      linesChecked: lines.checked,
      lost: result.lost,
      doubled: result.doubled + overlap.doubled,
      leaked: result.leaked,
    });
  });
});
