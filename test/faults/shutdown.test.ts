/**
 * Graceful shutdown. SIGTERM to the server while requests are under way (a followed log stream, a
 * slow upload): the stream ends cleanly, the upload is cut after --shutdown-grace, the server exits
 * 0 and the job keeps running on its agent, picked up again by the restarted server. SIGTERM to an
 * agent whose node is draining: it lets its tasks finish, then exits 0 (without draining it stops
 * them: agent-restart.test.ts).
 */
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ADMIN, api, eventually, startServer } from '../helpers/cluster.js';
import {
  checkFaultRun,
  finished,
  killedAfterEach,
  linesStored,
  startOneAgentCluster,
  submitJob,
  tickingJob,
} from './support/fault-run.js';
import { tasksOf } from './support/invariants.js';

const procs = killedAfterEach();

/** A connection that has had one request answered (so the server has parsed from it). */
async function rawConnection(port: number) {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  let text = '';
  socket.on('data', (b) => {
    text += b.toString();
  });
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  await eventually(async () => (/\r\n\r\n[\s\S]*\}/.test(text) ? true : undefined), 10_000);
  const seen = text.length;
  return { socket, closed, answer: () => text.slice(seen) };
}

describe('graceful shutdown', () => {
  it('SIGTERM to the server: a followed stream ends cleanly, a slow upload is cut after the grace, exit 0, the job runs on', async () => {
    const args = ['--heartbeat', '300ms', '--heartbeat-timeout', '10s', '--shutdown-grace', '1s'];
    const { server: first, nodeId, ticks } = await startOneAgentCluster(procs, args);
    const id = await submitJob(first.url, tickingJob('through-shutdown', ticks, 100));
    await linesStored(first.url, id, 5);

    // A followed log stream, read as it comes.
    const stream = await fetch(`${first.url}/api/v1/jobs/${id}/logs?follow=true`, {
      headers: { 'x-api-token': ADMIN },
    });
    expect(stream.status).toBe(200);
    const reading = (async () => {
      const reader = stream.body?.getReader();
      let bytes = 0;
      for (;;) {
        const { done, value } = (await reader?.read()) ?? { done: true, value: undefined };
        if (done) return bytes;
        bytes += value?.length ?? 0;
      }
    })();
    // Two uploads under way: one finishes after the SIGTERM (it is answered), one never does (it is
    // cut after the grace). Each connection first answers a request, so the server has it.
    const body =
      'name: finished-while-stopping\nstages: [{name: s, tasks: [{name: t, shell: {command: "true"}}]}]\n';
    const head = (length: number) =>
      `POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nX-Api-Token: ${ADMIN}\r\nContent-Type: application/yaml\r\nContent-Length: ${length}\r\n\r\n`;
    const finishing = await rawConnection(first.port);
    const endless = await rawConnection(first.port);
    finishing.socket.write(`${head(body.length)}${body.slice(0, 10)}`);
    endless.socket.write(`${head(100_000)}name: never-finished\n`);

    const t0 = performance.now();
    const exited = first.kill('SIGTERM');
    await first.waitFor(/SIGTERM: stopping the server/);
    finishing.socket.write(body.slice(10));
    const code = await exited;
    const shutdownMs = performance.now() - t0;
    expect(code).toBe(0);
    // The stream ended as a stream ends (no error), after carrying lines.
    expect(await reading).toBeGreaterThan(0);
    await Promise.all([finishing.closed, endless.closed]);
    expect(finishing.answer()).toMatch(/^HTTP\/1\.1 201 /);
    expect(endless.answer()).toBe('');
    // Bounded: the grace (1 s) and a margin, not the upload's 10-minute request timeout.
    expect(shutdownMs).toBeLessThan(8000);

    // The task ran on while no server was there; the restarted server picks the job up.
    const second = await startServer({ args, dataDir: first.dataDir, port: first.port });
    procs.push(second);
    const job = await finished(second.url, id);
    expect(job.status).toBe('succeeded');
    expect(tasksOf(job)[0]?.attempt).toBe(1);
    await checkFaultRun(second.url, {
      kind: 'server SIGTERM (graceful)',
      injected: 1,
      expected: new Map([[id, 'succeeded']]),
      plan: new Map([['t', 100]]),
      nodeIds: [nodeId],
      ticks,
    });
    console.log(
      `server SIGTERM: exited 0 in ${shutdownMs.toFixed(0)} ms (grace 1 s) with two uploads and a followed stream open`,
    );
  });

  it('SIGTERM to the agent of a draining node: its tasks finish first, then it exits 0', async () => {
    const { server, agent, nodeId, ticks } = await startOneAgentCluster(procs, [
      '--heartbeat',
      '300ms',
      '--heartbeat-timeout',
      '5s',
    ]);
    const id = await submitJob(server.url, tickingJob('through-shutdown', ticks, 40));
    await linesStored(server.url, id, 3);
    await api(server.url, 'POST', `/api/v1/nodes/${nodeId}/drain`);
    await agent.waitFor(/this node is draining/);
    const exited = new Promise<number | null>((resolve) => agent.child.once('exit', (c) => resolve(c)));
    agent.child.kill('SIGTERM');
    await agent.waitFor(/draining: waiting for 1 task\(s\) to finish/);
    expect(await exited).toBe(0);
    const job = await finished(server.url, id);
    expect(job.status).toBe('succeeded');
    const { lines } = await checkFaultRun(server.url, {
      kind: 'agent SIGTERM while draining',
      injected: 1,
      expected: new Map([[id, 'succeeded']]),
      plan: new Map([['t', 40]]),
      nodeIds: [nodeId],
    });
    expect(lines.checked).toBe(40);
  });
});
