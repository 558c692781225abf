/**
 * An agent restarted with tasks running (docs/reliability.md, "Agent restart"): tasks do not survive
 * their agent. SIGKILL: the tasks' processes outlive the agent until a new agent of the node starts
 * and kills them; the server counts the attempts as lost. SIGTERM: the agent stops its tasks (grace,
 * then kill) and reports them lost. Either way the job retries or fails as its spec says, no
 * process is left and the job's locks are released.
 */
import { describe, expect, it } from 'vitest';
import { findTaggedPids } from '../../src/agent/reaper.js';
import { api, type ServerProc, startAgent } from '../helpers/cluster.js';
import {
  checkFaultRun,
  finished,
  killedAfterEach,
  linesStored,
  startOneAgentCluster,
  submitJob,
} from './support/fault-run.js';
import { type EventView, type Expectation, type JobView, tasksOf } from './support/invariants.js';
import { tickingCommand } from './support/overlap.js';

const procs = killedAfterEach();
const SERVER_ARGS = ['--heartbeat', '300ms', '--heartbeat-timeout', '3s'];

/** Two jobs on one agent: `retried` (retries 1, holds lock `env`) and `once` (no retries). */
async function twoJobs(server: ServerProc, ticks: string) {
  // A daemon that left the task's process group (setsid): only its tag finds it.
  const cmd = JSON.stringify(`setsid sleep 1000 >/dev/null 2>&1 </dev/null & ${tickingCommand(ticks, 40)}`);
  const retried = await submitJob(
    server.url,
    `name: retried\nlocks: [env]\nstages: [{name: s, tasks: [{name: t, retries: {count: 1, backoff: 100ms}, shell: {command: ${cmd}}}]}]\n`,
  );
  const once = await submitJob(
    server.url,
    `name: once\nstages: [{name: s, tasks: [{name: t, shell: {command: ${cmd}}}]}]\n`,
  );
  for (const id of [retried, once]) await linesStored(server.url, id, 3);
  // How they end once their agent is back: `retried` at its second attempt, `once` with its task lost.
  const expected = new Map<number, Expectation>([
    [retried, 'succeeded'],
    [once, 'failed'],
  ]);
  return { retried, once, expected, plan: new Map([['t', 40]]) };
}

describe('agent restart with tasks running', () => {
  it('SIGKILL: the restarted agent kills what the old one left; the attempts are lost, retried or failed as the spec says', async () => {
    const { server, agent: first, nodeId, ticks } = await startOneAgentCluster(procs, SERVER_ARGS);
    const { dataDir } = first;
    const { retried, once, expected, plan } = await twoJobs(server, ticks);
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
    const { records } = await checkFaultRun(server.url, {
      kind: 'agent SIGKILL + restart',
      injected: 1,
      expected,
      plan,
      nodeIds: [nodeId],
      ticks,
    });
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
  });

  it('SIGTERM: the agent stops its tasks, exits 0, and the attempts are lost, retried or failed as the spec says', async () => {
    const { server, agent: first, nodeId, ticks } = await startOneAgentCluster(procs, SERVER_ARGS);
    const { dataDir } = first;
    const { retried, once, expected, plan } = await twoJobs(server, ticks);
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
    await checkFaultRun(server.url, {
      kind: 'agent SIGTERM + restart',
      injected: 1,
      expected,
      plan,
      nodeIds: [nodeId],
      ticks,
    });
  });
});
