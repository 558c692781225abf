import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { eventually, type ServerProc, startAgent, startServer } from '../helpers/cluster.js';
import { tempDir } from '../helpers/embedded.js';
import { fileSchema, PG_SKIP_NOTICE, PG_URL } from '../helpers/store.js';
import {
  CountingClient,
  faultSeed,
  jobMix,
  MIX_LINES,
  pause,
  seededRandom,
  submitMix,
  untilJobEvent,
} from './support/crash-harness.js';
import { checkFaultRun, killedAfterEach } from './support/fault-run.js';
import { type Expectation, type JobView, tasksOf } from './support/invariants.js';

/** Kills per backend: enough to land at different points of the mix, few enough to stay fast. */
const KILLS = Number(process.env.JOBHUB_FAULT_KILLS ?? 4);

const procs = killedAfterEach();
const schema = fileSchema('jh_crash_');
if (!PG_URL) console.warn(`server-crash: ${PG_SKIP_NOTICE}`);

async function killLoop(backend: 'SQLite' | 'PostgreSQL', serverArgs: string[]): Promise<void> {
  const rng = seededRandom(faultSeed(`server SIGKILL (${backend})`));
  const env = { JOBHUB_SERVER_KEY: 'server-crash-test-key' };
  let server: ServerProc = await startServer({ args: serverArgs, env });
  procs.push(server);
  const client = new CountingClient(server.url);
  const agents = ['crash-a', 'crash-b'].map((name) => startAgent({ server: server.url, name }));
  procs.push(...agents);
  const nodeIds = await client.nodeIds(['crash-a', 'crash-b']);
  const expected = new Map<number, Expectation>();
  await submitMix(client, jobMix('w0', 'crash-lock'), expected);
  for (let k = 1; k <= KILLS; k++) {
    await pause(rng.between(50, 1500));
    await server.kill('SIGKILL');
    server = await startServer({ args: serverArgs, env, dataDir: server.dataDir, port: server.port });
    procs.push(server);
    await submitMix(client, jobMix(`w${k}`, 'crash-lock'), expected);
  }
  await client.allFinal(expected.keys(), 90_000).catch((err: unknown) => {
    const tails = agents.map(
      (a) => `agent (exit ${a.child.exitCode ?? a.child.signalCode}):\n${a.out().slice(-2000)}`,
    );
    throw new Error(`${String(err)}\n${tails.join('\n')}`);
  });
  const { lines } = await checkFaultRun(server.url, {
    kind: `server SIGKILL (${backend})`,
    injected: KILLS,
    expected,
    plan: MIX_LINES,
    nodeIds,
    clientErrors: client.errors,
  });
  expect(lines.checked).toBeGreaterThan(0);
}

describe('server SIGKILL at random points of a job mix', () => {
  it('loses nothing on SQLite', { timeout: 120_000 }, async () => {
    await killLoop('SQLite', []);
  });

  it.skipIf(!PG_URL)('loses nothing on PostgreSQL', { timeout: 120_000 }, async () => {
    await killLoop('PostgreSQL', ['--database', PG_URL ?? '', '--database-schema', schema()]);
  });
});

describe('server SIGKILL: regressions', () => {
  const env = { JOBHUB_SERVER_KEY: 'server-crash-test-key' };
  const args = ['--heartbeat-timeout', '30s'];

  async function restart(server: ServerProc): Promise<ServerProc> {
    await server.kill('SIGKILL');
    const next = await startServer({ args, env, dataDir: server.dataDir, port: server.port });
    procs.push(next);
    return next;
  }

  it('gives work to an agent whose acknowledged reports are past the watermark the crash kept from being saved', async () => {
    const first = await startServer({ args, env });
    procs.push(first);
    const client = new CountingClient(first.url);
    const wm = startAgent({ server: first.url, name: 'wm' });
    procs.push(wm);
    await client.nodeIds(['wm']);
    // Reports 0.5 s apart: the watermark saved 200 ms after the first ones is behind the last ones.
    const spec =
      'name: wm\nstages: [{name: s, tasks: [{name: t, shell: {command: "echo line 1; sleep 0.5; echo line 2"}}]}]\n';
    const before = await client.submit(spec);
    await untilJobEvent(first.url, before, (e) => e.type === 'job.status' && e.to === 'succeeded');
    // Frozen within milliseconds of the last report: before its watermark is saved (200 ms later).
    first.child.kill('SIGSTOP');
    await restart(first);
    const after = await client.submit(spec);
    await client.allFinal([after], 20_000).catch(async (err: unknown) => {
      const nodes = await client.request('GET', '/api/v1/nodes');
      const id = (nodes.json as { results: Array<{ id: string }> }).results[0]?.id;
      const ev = await client.request('GET', `/api/v1/nodes/${id}/events`);
      throw new Error(`${String(err)}\n${JSON.stringify(ev.json)}\n${wm.out()}`);
    });
    expect(await client.status(after)).toBe('succeeded');
    expect(client.errors).toEqual([]);
  });

  it("sends a running stopper's stop again after a restart, instead of waiting for it forever", async () => {
    const flag = path.join(tempDir('jobhub-crash-flag-'), 'go');
    let server = await startServer({ args, env });
    procs.push(server);
    const client = new CountingClient(server.url);
    const agents = new Map(['sa', 'sb'].map((name) => [name, startAgent({ server: server.url, name })]));
    procs.push(...agents.values());
    await client.nodeIds(['sa', 'sb']);
    const id = await client.submit(`name: stopper-restart
nodeAssignments: [{name: a}, {name: b}]
pipelines: [{stages: [svc]}, {stages: [load]}, {stages: [stop]}]
stages:
  - name: svc
    type: longRunning
    selectors: [{name: a}]
    tasks:
      - name: service
        longRunning: true
        shell: {command: "touch up.flag; while true; do sleep 0.05; done"}
        ready: {interval: 50ms, tasks: [{shell: {command: "test -f up.flag"}}]}
  - {name: load, selectors: [{name: b}], tasks: [{name: loader, shell: {command: "while [ ! -f ${flag} ]; do sleep 0.05; done"}}]}
  - {name: stop, type: stopper, selectors: [{name: a}], tasks: [{name: stop, stopper: {stage: svc, task: service}}]}
`);
    const task = (job: JobView, name: string) => tasksOf(job).find((t) => t.name === name);
    const job = async () =>
      (await client.request('GET', `/api/v1/jobs/${id}`)).json as JobView & {
        placement: Array<{ assignment: string; nodeName: string }>;
      };
    const running = await eventually(async () => {
      const j = await job();
      return task(j, 'service')?.status === 'ready' && task(j, 'loader')?.status === 'running'
        ? j
        : undefined;
    });
    const holder = agents.get(running.placement.find((p) => p.assignment === 'a')?.nodeName ?? '');
    if (!holder) throw new Error(`no agent for assignment a: ${JSON.stringify(running.placement)}`);
    // The service's agent is frozen: the stop the stopper sends cannot reach it.
    holder.child.kill('SIGSTOP');
    try {
      server = await restart(server);
      writeFileSync(flag, '');
      await eventually(async () => (task(await job(), 'stop')?.status === 'running' ? true : undefined));
      // The server that sent the stop dies before the agent is back: the next one must send it again.
      server = await restart(server);
    } finally {
      holder.child.kill('SIGCONT');
    }
    await client.allFinal([id], 20_000);
    const end = await job();
    expect(end.status, JSON.stringify(end)).toBe('succeeded');
    expect(task(end, 'service')?.status).toBe('stopped');
  });
});
