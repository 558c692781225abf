/**
 * Graceful shutdown. SIGTERM to the server while requests are under way (a followed log stream, a
 * slow upload): the stream ends cleanly, the upload is cut after --shutdown-grace, the server exits
 * 0 and the job keeps running on its agent, picked up again by the restarted server. SIGTERM to an
 * agent whose node is draining: it lets its tasks finish, then exits 0 (without draining it stops
 * them: agent-restart.test.ts).
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it, onTestFailed } from 'vitest';
import { ADMIN, api, eventually, type Proc, startAgent, startServer } from '../helpers/cluster.js';
import { tempDir } from '../helpers/embedded.js';
import { recordFaults } from './support/fault-report.js';
import { checkAll, type JobView, tasksOf } from './support/invariants.js';
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

async function linesStored(server: string, id: number, n: number): Promise<void> {
  await eventually(async () => {
    const r = await api<{ lines: unknown[] }>(server, 'GET', `/api/v1/jobs/${id}/logs`);
    return r.lines.length >= n ? true : undefined;
  });
}

async function connectedNode(server: string): Promise<string> {
  return eventually(async () => {
    const r = await api<{ results: Array<{ id: string; connected: boolean }> }>(
      server,
      'GET',
      '/api/v1/nodes',
    );
    return r.results[0]?.connected ? r.results[0].id : undefined;
  });
}

function tickingJob(ticks: string, lines: number): string {
  return `name: through-shutdown\nstages: [{name: s, tasks: [{name: t, shell: {command: ${JSON.stringify(tickingCommand(ticks, lines))}}}]}]\n`;
}

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
    const first = await startServer({ args });
    procs.push(first);
    const agent = startAgent({ server: first.url });
    procs.push(agent);
    onTestFailed(() =>
      console.log(`server:\n${first.out().slice(-2000)}\nagent:\n${agent.out().slice(-2000)}`),
    );
    const nodeId = await connectedNode(first.url);
    const ticks = path.join(tempDir('jobhub-ticks-'), 'ticks');
    const id = await submit(first.url, tickingJob(ticks, 100));
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
    const { result, lines } = await checkAll(
      second.url,
      new Map([[id, 'succeeded']]),
      new Map([['t', 100]]),
      [nodeId],
    );
    const overlap = checkNoOverlap(ticks);
    expect(result.problems).toEqual([]);
    expect(overlap.problems).toEqual([]);
    console.log(
      `server SIGTERM: exited 0 in ${shutdownMs.toFixed(0)} ms (grace 1 s) with two uploads and a followed stream open`,
    );
    recordFaults({
      kind: 'server SIGTERM (graceful)',
      injected: 1,
      jobs: 1,
      linesChecked: lines.checked,
      lost: result.lost,
      doubled: result.doubled + overlap.doubled,
      leaked: result.leaked,
    });
  });

  it('SIGTERM to the agent of a draining node: its tasks finish first, then it exits 0', async () => {
    const server = await startServer({ args: ['--heartbeat', '300ms', '--heartbeat-timeout', '5s'] });
    procs.push(server);
    const agent = startAgent({ server: server.url });
    procs.push(agent);
    onTestFailed(() =>
      console.log(`server:\n${server.out().slice(-2000)}\nagent:\n${agent.out().slice(-2000)}`),
    );
    const nodeId = await connectedNode(server.url);
    expect(readFileSync(path.join(agent.dataDir, 'node-id'), 'utf8').trim()).toBe(nodeId);
    const ticks = path.join(tempDir('jobhub-ticks-'), 'ticks');
    const id = await submit(server.url, tickingJob(ticks, 40));
    await linesStored(server.url, id, 3);
    await api(server.url, 'POST', `/api/v1/nodes/${nodeId}/drain`);
    await agent.waitFor(/this node is draining/);
    const exited = new Promise<number | null>((resolve) => agent.child.once('exit', (c) => resolve(c)));
    agent.child.kill('SIGTERM');
    await agent.waitFor(/draining: waiting for 1 task\(s\) to finish/);
    expect(await exited).toBe(0);
    const job = await finished(server.url, id);
    expect(job.status).toBe('succeeded');
    const { result, lines } = await checkAll(server.url, new Map([[id, 'succeeded']]), new Map([['t', 40]]), [
      nodeId,
    ]);
    expect(result.problems).toEqual([]);
    expect(lines.checked).toBe(40);
    recordFaults({
      kind: 'agent SIGTERM while draining',
      injected: 1,
      jobs: 1,
      linesChecked: lines.checked,
      lost: result.lost,
      doubled: result.doubled,
      leaked: result.leaked,
    });
  });
});
