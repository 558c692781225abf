/**
 * Slow clients (slowloris) do not starve others: hundreds of connections that send their headers a
 * byte at a time, or a body that never ends, hold sockets, not the server; a normal client's
 * requests still answer while they hang on, and the server closes them at its header and request
 * deadlines (--headers-timeout, --request-timeout; defaults in src/app/server-config.ts).
 */
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultServerConfig, resolveServerConfig } from '../../src/app/server-config.js';
import { ADMIN, api, type Proc, startServer } from '../helpers/cluster.js';
import { recordFaults } from './support/fault-report.js';

const procs: Proc[] = [];
const sockets: Socket[] = [];
const timers: NodeJS.Timeout[] = [];
afterEach(async () => {
  for (const t of timers.splice(0)) clearInterval(t);
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(procs.splice(0).map((p) => p.kill('SIGKILL')));
});

interface Slow {
  /** Resolves when the server closed the connection, with what it answered (if anything). */
  closed: Promise<string>;
}

/** A connection that dribbles `text` one byte every `everyMs` and never finishes it. */
function dribble(port: number, text: string, everyMs: number): Slow {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  let answer = '';
  socket.on('data', (b) => {
    answer += b.toString();
  });
  socket.on('error', () => {});
  let i = 0;
  const timer = setInterval(() => {
    // Never the last byte: the request is never complete.
    if (i < text.length - 1 && !socket.destroyed) socket.write(text[i++] ?? '');
  }, everyMs);
  timers.push(timer);
  const closed = new Promise<string>((resolve) =>
    socket.on('close', () => {
      clearInterval(timer);
      resolve(answer);
    }),
  );
  return { closed };
}

describe('slow clients', () => {
  it('has deadlines for slow clients by default, configurable, checked', () => {
    expect(defaultServerConfig().http).toEqual({
      headersTimeoutMs: 20_000,
      requestTimeoutMs: 600_000,
      keepAliveTimeoutMs: 72_000,
    });
    const c = resolveServerConfig(
      { headersTimeout: '2s', requestTimeout: '0' },
      { JOBHUB_KEEP_ALIVE_TIMEOUT: '5s' },
      '/',
    );
    expect(c.http).toEqual({ headersTimeoutMs: 2000, requestTimeoutMs: 0, keepAliveTimeoutMs: 5000 });
    expect(() => resolveServerConfig({ headersTimeout: 'soon' }, {}, '/')).toThrow(
      /--headers-timeout "soon"/,
    );
    expect(() => resolveServerConfig({ headersTimeout: '2m', requestTimeout: '1m' }, {}, '/')).toThrow(
      /--headers-timeout must not be longer than --request-timeout/,
    );
  });

  it('300 slowloris connections do not starve a normal client, and are cut at the deadlines', async () => {
    const server = await startServer({ args: ['--headers-timeout', '2s', '--request-timeout', '4s'] });
    procs.push(server);
    const headers = `GET /api/v1/jobs HTTP/1.1\r\nHost: x\r\nX-Api-Token: ${ADMIN}\r\nX-Padding: ${'a'.repeat(200)}\r\n\r\n`;
    const body = 'name: slow\nstages: [{name: s, tasks: [{name: t, shell: {command: "true"}}]}]\n';
    const post = `POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nX-Api-Token: ${ADMIN}\r\nContent-Type: application/yaml\r\nContent-Length: ${body.length + 1000}\r\n\r\n`;
    const slow: Slow[] = [];
    for (let i = 0; i < 150; i++) slow.push(dribble(server.port, headers, 100));
    for (let i = 0; i < 150; i++) {
      // Headers at once, then a body a byte at a time that never reaches its length.
      const s = dribble(server.port, `${post}${body}${'#'.repeat(1000)}`, 100);
      slow.push(s);
    }
    // While they hang on: a normal client's requests answer (each must complete within the test).
    let normal = 0;
    let serverErrors = 0;
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${server.url}/api/v1/jobs?limit=5`, { headers: { 'x-api-token': ADMIN } });
      if (res.status >= 500) serverErrors++;
      expect(res.status).toBe(200);
      await res.arrayBuffer();
      normal++;
    }
    const submitted = await api<{ id: number }>(server.url, 'POST', '/api/v1/jobs', body);
    expect(submitted.id).toBeGreaterThan(0);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    // The server cuts every one of them at its deadline: a 408 or a closed socket.
    const answers = await Promise.all(slow.map((s) => s.closed));
    const answered408 = answers.filter((a) => a.startsWith('HTTP/1.1 408')).length;
    const answered5xx = answers.filter((a) => /^HTTP\/1\.1 5/.test(a)).length;
    expect(answered5xx).toBe(0);
    expect(answered408 + answers.filter((a) => a === '').length).toBe(300);
    recordFaults({
      kind: 'slowloris connections',
      injected: slow.length,
      serverErrors: serverErrors + answered5xx,
    });
    expect(normal).toBe(20);
  }, 60_000);
});
