/**
 * SIGKILL of an agent mid-task (its task is lost, the job fails, its lock is released, the node
 * comes back, no process of the task is left: the agent's spawn helper ends the process groups when
 * the agent dies, the next agent of the node reaps anything tagged that escaped), and SIGKILL of a
 * task's own process (the task fails with the signal in its reason; a retry runs as the spec says).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'vitest';
import { findTaggedPids } from '../../src/agent/reaper.js';
import { eventually, startAgent, startServer } from '../helpers/cluster.js';
import { tempDir } from '../helpers/embedded.js';
import { CountingClient, printLines } from './support/crash-harness.js';
import { checkFaultRun, killedAfterEach } from './support/fault-run.js';
import type { Expectation } from './support/invariants.js';

const procs = killedAfterEach();

/** A fast heartbeat, so that a dead agent is declared down in about 2 s. */
const SERVER_ARGS = ['--heartbeat', '500ms', '--heartbeat-timeout', '2s'];

/** The process group leader among a job's tagged processes: the task's main process. */
function mainPidOf(nodeId: string, jobId: number): number | undefined {
  return findTaggedPids(`${nodeId}/${jobId}/`).find((pid) => {
    try {
      // /proc/<pid>/stat: "pid (comm) state ppid pgrp ..."; comm may hold spaces, so read after ')'.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return Number(fields[2]) === pid;
    } catch {
      return false;
    }
  });
}

async function linesSoFar(client: CountingClient, id: number): Promise<number> {
  const r = await client.request('GET', `/api/v1/jobs/${id}/logs`);
  return r.status === 200 ? (r.json as { lines: unknown[] }).lines.length : 0;
}

describe('agent and task crashes', () => {
  it('SIGKILL of an agent: its task is lost, the lock released, the node back, no process left', {
    timeout: 60_000,
  }, async () => {
    const server = await startServer({ args: SERVER_ARGS });
    procs.push(server);
    const client = new CountingClient(server.url);
    const first = startAgent({ server: server.url, name: 'victim' });
    procs.push(first);
    const [nodeId = ''] = await client.nodeIds(['victim']);
    const lost = await client.submit(`name: lost
locks: [agent-crash-lock]
stages: [{name: s, tasks: [{name: doomed, shell: {command: "${printLines(400, '0.05')}"}}]}]
`);
    const next = await client.submit(`name: next
locks: [agent-crash-lock]
stages: [{name: s, tasks: [{name: after, shell: {command: "${printLines(10)}"}}]}]
`);
    await eventually(async () => ((await linesSoFar(client, lost)) >= 5 ? true : undefined));
    await first.kill('SIGKILL');
    await client.allFinal([lost], 20_000);
    const second = startAgent({ server: server.url, name: 'victim', dataDir: first.dataDir });
    procs.push(second);
    await client.allFinal([next], 30_000);
    const expected = new Map<number, Expectation>([
      [
        lost,
        (job) =>
          job.status === 'failed' && /lost/.test(job.reason ?? '')
            ? undefined
            : `${job.status} (${job.reason}), expected failed with the task lost`,
      ],
      [next, 'succeeded'],
    ]);
    const plan = new Map([
      ['doomed', 400],
      ['after', 10],
    ]);
    await checkFaultRun(server.url, {
      kind: 'agent SIGKILL',
      injected: 1,
      expected,
      plan,
      nodeIds: [nodeId],
      clientErrors: client.errors,
    });
  });

  it('SIGKILL of a task process: the task fails with the signal; a task with retries runs again', {
    timeout: 60_000,
  }, async () => {
    const server = await startServer();
    procs.push(server);
    const client = new CountingClient(server.url);
    procs.push(startAgent({ server: server.url, name: 'tasks' }));
    const [nodeId = ''] = await client.nodeIds(['tasks']);
    const marker = path.join(tempDir('jobhub-crash-marker-'), 'second');
    const killed = await client.submit(`name: killed
pipelines: [{stages: [s]}, {stages: [later]}]
stages:
  - {name: s, tasks: [{name: victim, shell: {command: "${printLines(5, '0.01')}; sleep 100"}}]}
  - {name: later, tasks: [{name: never, shell: {command: "true"}}]}
`);
    const retried = await client.submit(`name: retried
stages:
  - name: s
    tasks:
      - name: phoenix
        retries: {count: 1, backoff: 10ms}
        shell: {command: "if [ -f ${marker} ]; then ${printLines(8, '0.01')}; exit 0; fi; touch ${marker}; sleep 100"}
`);
    let injected = 0;
    for (const id of [killed, retried]) {
      const pid = await eventually(async () => mainPidOf(nodeId, id));
      if (id === killed)
        await eventually(async () => ((await linesSoFar(client, id)) >= 5 ? true : undefined));
      process.kill(pid, 'SIGKILL');
      injected++;
    }
    await client.allFinal([killed, retried], 30_000);
    const expected = new Map<number, Expectation>([
      [
        killed,
        (job) => {
          const stages = new Map(job.stages.map((s) => [s.name, s.nodes.flatMap((n) => n.tasks)]));
          const victim = stages.get('s')?.[0];
          const never = stages.get('later')?.[0];
          if (job.status !== 'failed') return `${job.status}, expected failed`;
          if (!/SIGKILL/.test(victim?.text ?? '')) return `task text ${victim?.text}, expected the signal`;
          if (never?.status !== 'skipped')
            return `the later stage's task is ${never?.status}, expected skipped`;
          return undefined;
        },
      ],
      [
        retried,
        (job) => {
          const task = job.stages[0]?.nodes[0]?.tasks[0];
          return job.status === 'succeeded' && task?.attempt === 2
            ? undefined
            : `${job.status} at attempt ${task?.attempt}, expected succeeded at attempt 2`;
        },
      ],
    ]);
    const plan = new Map([
      ['victim', 5],
      ['phoenix', 8],
    ]);
    await checkFaultRun(server.url, {
      kind: 'task process SIGKILL',
      injected,
      expected,
      plan,
      nodeIds: [nodeId],
      clientErrors: client.errors,
    });
  });
});
