/**
 * The agent's data folder (outbox and task working directories) full, a small tmpfs, while a job
 * prints lines: the agent keeps running (reports it cannot write to its outbox are kept in memory
 * until acknowledged), jobs started meanwhile run, no line is lost or doubled, and once space is
 * freed new jobs run. (A task whose working directory cannot be created is not reached here: on
 * tmpfs a directory takes no space.)
 */
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it, onTestFailed } from 'vitest';
import { eventually, type Proc, startAgent, startServer } from '../helpers/cluster.js';
import { CountingClient, printLines } from './support/crash-harness.js';
import { checkFaultRun } from './support/fault-run.js';
import type { Expectation } from './support/invariants.js';
import { canMount, fillDisk, smallDisk, unmountSmallDisks } from './support/small-disk.js';

if (!canMount) console.warn('agent-disk: the full-disk test needs root (mount -t tmpfs); skipped');

const procs: Proc[] = [];
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.kill('SIGKILL')));
  unmountSmallDisks();
});

async function storedLines(client: CountingClient, job: number): Promise<number> {
  const r = await client.request('GET', `/api/v1/jobs/${job}/logs?limit=1000`);
  return (r.json as { lines: unknown[] }).lines.length;
}

describe('agent disk faults', () => {
  it.skipIf(!canMount)(
    'a full agent data folder: the agent lives, no acknowledged line lost, new jobs run after',
    { timeout: 30_000 },
    async () => {
      const data = smallDisk('8m');
      const server = await startServer();
      procs.push(server);
      const client = new CountingClient(server.url);
      const agent = startAgent({ server: server.url, name: 'fulldisk', dataDir: data });
      procs.push(agent);
      onTestFailed(() => {
        console.log(`server said:\n${server.out().slice(-3000)}\nagent said:\n${agent.out().slice(-3000)}`);
      });
      const [nodeId = ''] = await client.nodeIds(['fulldisk']);
      const during = await client.submit(`name: during
stages: [{name: s, tasks: [{name: printer, shell: {command: "${printLines(60, '0.05')}"}}]}]
`);
      await eventually(async () => ((await storedLines(client, during)) >= 3 ? true : undefined));
      const filler = fillDisk(data);
      // tmpfs directories take no blocks: a task started now gets its working directory and runs.
      const whileFull = await client.submit(`name: while-full
stages: [{name: s, tasks: [{name: nodir, workingDir: sub/dir, shell: {command: "${printLines(3)}"}}]}]
`);
      // The disk stays full (topped up) while the printer reports 15 more lines and the other job ends.
      const before = await storedLines(client, during);
      await eventually(async () => {
        fillDisk(data);
        const more = (await storedLines(client, during)) - before;
        const over = (await client.status(whileFull)) === 'succeeded';
        return more >= 15 && over && agent.out().includes('outbox: cannot write') ? true : undefined;
      }, 10_000);
      expect(await client.status(during)).toBe('running');
      rmSync(filler);
      const after = await client.submit(`name: after
stages: [{name: s, tasks: [{name: late, shell: {command: "${printLines(5)}"}}]}]
`);
      await client.allFinal([during, after, whileFull], 20_000);
      expect(agent.out()).toContain('outbox: writing to disk works again');
      const expected = new Map<number, Expectation>([
        [during, 'succeeded'],
        [after, 'succeeded'],
        [whileFull, 'succeeded'],
      ]);
      const plan = new Map([
        ['printer', 60],
        ['late', 5],
        ['nodir', 3],
      ]);
      await checkFaultRun(server.url, {
        kind: 'full disk (agent data)',
        injected: 1,
        expected,
        plan,
        nodeIds: [nodeId],
        clientErrors: client.errors,
      });
      expect(agent.child.exitCode).toBeNull();
    },
  );
});
