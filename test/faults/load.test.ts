/**
 * Load: 200 concurrent API clients submit jobs, list jobs and follow job logs (Server-Sent Events)
 * for a bounded time against a real server process with 100 simulated agents (the real agent
 * protocol over real WebSockets, bench/lib/sim-agent.ts; each task is a real `true` process).
 * Checked: zero failed requests (a 5xx, a connection error or a stream that does not end counts as
 * one; the rate limit is turned off here, see docs/reliability.md), every job submitted ends
 * succeeded, the server's memory at steady state does not keep growing (RSS after a warm-up and
 * after the run), and the latency percentiles by operation are printed (not asserted: 2 shared
 * cores).
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AGENT_TOKEN as SIM_AGENT_TOKEN } from '../../bench/lib/jobhub.js';
import { SimAgent } from '../../bench/lib/sim-agent.js';
import { ADMIN, api, eventually, type Proc, startServer } from '../helpers/cluster.js';
import { recordFaults } from './support/fault-report.js';

const CLIENTS = 200;
const AGENTS = 100;
const WARMUP_MS = 4000;
const RUN_MS = 12_000;
const JOB = 'name: load\nstages: [{name: s, tasks: [{name: t, exec: {command: "true"}}]}]\n';

const procs: Proc[] = [];
const sims: SimAgent[] = [];
afterEach(async () => {
  for (const s of sims.splice(0)) s.close();
  await Promise.all(procs.splice(0).map((p) => p.kill('SIGKILL')));
});

type Op = 'submit' | 'list' | 'follow';

class Tally {
  readonly ms = new Map<Op, number[]>();
  ok = 0;
  limited = 0;
  serverErrors = 0;
  failures: string[] = [];
  readonly submitted: number[] = [];

  time(op: Op, ms: number): void {
    const list = this.ms.get(op) ?? [];
    list.push(ms);
    this.ms.set(op, list);
  }

  fail(what: string): void {
    if (this.failures.length < 20) this.failures.push(what);
    else this.failures.push('…');
  }

  table(): string {
    const pct = (xs: number[], p: number) =>
      xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? 0;
    const rows = [...this.ms].map(([op, xs]) => {
      const s = [...xs].sort((a, b) => a - b);
      return `  ${op.padEnd(7)} n=${String(s.length).padStart(6)}  p50 ${pct(s, 50).toFixed(1)} ms  p95 ${pct(s, 95).toFixed(1)} ms  p99 ${pct(s, 99).toFixed(1)} ms`;
    });
    return rows.join('\n');
  }
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
}

/** One client: submit, list, follow the logs of its last job, in turn, until `until`. */
async function client(base: string, n: number, until: number, t: Tally): Promise<void> {
  const headers = { 'x-api-token': ADMIN };
  let last: number | undefined;
  for (let i = n; Date.now() < until; i++) {
    const op: Op = i % 3 === 0 ? 'submit' : i % 3 === 1 ? 'list' : 'follow';
    const t0 = performance.now();
    try {
      let res: Response;
      if (op === 'submit') {
        res = await fetch(`${base}/api/v1/jobs`, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/yaml' },
          body: JOB,
        });
      } else if (op === 'list') {
        res = await fetch(`${base}/api/v1/jobs?limit=20`, { headers });
      } else {
        if (last === undefined) continue;
        // The stream ends when the job has ended; one that does not end in 30 s is a failure.
        res = await fetch(`${base}/api/v1/jobs/${last}/logs?follow=true`, {
          headers,
          signal: AbortSignal.timeout(30_000),
        });
      }
      const body = await res.text();
      if (res.status === 429) t.limited++;
      else if (res.status >= 500) {
        t.serverErrors++;
        t.fail(`${op}: ${res.status} ${body.slice(0, 200)}`);
      } else if (!res.ok) t.fail(`${op}: ${res.status} ${body.slice(0, 200)}`);
      else {
        t.ok++;
        t.time(op, performance.now() - t0);
        if (op === 'submit') {
          last = (JSON.parse(body) as { id: number }).id;
          t.submitted.push(last);
        }
      }
    } catch (err) {
      t.fail(`${op}: ${(err as Error).message} ${String((err as Error).cause ?? '')}`);
    }
  }
}

async function runClients(base: string, ms: number, t: Tally): Promise<void> {
  const until = Date.now() + ms;
  await Promise.all(Array.from({ length: CLIENTS }, (_, n) => client(base, n, until, t)));
}

/** Once no job is active any more: how many did not succeed (of all the server's jobs). */
async function notSucceeded(base: string): Promise<number> {
  await eventually(async () => {
    const active = await api<{ results: unknown[] }>(
      base,
      'GET',
      '/api/v1/jobs?status=queued,running,stopping&limit=1',
    );
    return active.results.length === 0 ? true : undefined;
  }, 60_000);
  const bad = await api<{ results: unknown[] }>(base, 'GET', '/api/v1/jobs?status=failed,stopped&limit=1000');
  return bad.results.length;
}

describe('load', () => {
  it(`${CLIENTS} API clients and ${AGENTS} simulated agents: no failed request, every job done, memory flat`, async () => {
    const server = await startServer({
      args: ['--rate-limit', '0', ...(process.env.LOAD_ARGS ?? '').split(' ').filter(Boolean)],
      env: { JOBHUB_AGENT_TOKEN: SIM_AGENT_TOKEN },
    });
    procs.push(server);
    const pid = server.child.pid ?? 0;
    for (let i = 0; i < AGENTS; i += 25) {
      const batch = Array.from({ length: 25 }, (_, j) => new SimAgent(server.url, `sim-${i + j}`, 4));
      sims.push(...batch);
      await Promise.all(batch.map((s) => s.connect()));
    }
    const rssIdle = rssMb(pid);
    const warm = new Tally();
    await runClients(server.url, WARMUP_MS, warm);
    await notSucceeded(server.url);
    const rssWarm = rssMb(pid);
    const t = new Tally();
    await runClients(server.url, RUN_MS, t);
    const failedJobs = await notSucceeded(server.url);
    const rssAfter = rssMb(pid);
    const started = sims.reduce((n, s) => n + s.started, 0);
    console.log(
      [
        `load: ${CLIENTS} clients, ${AGENTS} simulated agents, ${RUN_MS / 1000}s after a ${WARMUP_MS / 1000}s warm-up`,
        `  answers ok ${t.ok}, 429 ${t.limited}, 5xx ${t.serverErrors}, failed ${t.failures.length}; jobs ${t.submitted.length} (not succeeded ${failedJobs}); tasks started by the agents ${started}`,
        `  server RSS: idle ${rssIdle.toFixed(0)} MB, after warm-up ${rssWarm.toFixed(0)} MB, after the run ${rssAfter.toFixed(0)} MB`,
        t.table(),
      ].join('\n'),
    );
    recordFaults({
      kind: `load (${CLIENTS} clients, ${AGENTS} agents)`,
      injected: t.ok + t.limited + t.failures.length,
      jobs: t.submitted.length,
      lost: failedJobs,
      serverErrors: t.serverErrors,
    });
    expect(warm.failures).toEqual([]);
    expect(t.failures).toEqual([]);
    expect(t.serverErrors).toBe(0);
    expect(failedJobs).toBe(0);
    expect(t.submitted.length).toBeGreaterThan(100);
    expect(t.ms.get('follow')?.length ?? 0).toBeGreaterThan(100);
    // Flat: the run after the warm-up (three times as long) adds at most a bounded amount.
    expect(rssAfter - rssWarm).toBeLessThan(150);
    for (const s of sims) expect(s.error).toBeUndefined();
  }, 120_000);
});

describe('regressions found by the load test', () => {
  it('a followed stream that ends with its connection says so (Connection: close), so no client reuses the socket', async () => {
    const server = await startServer();
    procs.push(server);
    // No agent: the job waits queued; stopping it ends it, so its log stream ends at once.
    const { id } = await api<{ id: number }>(server.url, 'POST', '/api/v1/jobs', JOB);
    await api(server.url, 'POST', `/api/v1/jobs/${id}/stop`);
    const socket = connect(server.port, '127.0.0.1');
    let text = '';
    socket.on('data', (b) => {
      text += b.toString();
    });
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.write(
      `GET /api/v1/jobs/${id}/logs?follow=true HTTP/1.1\r\nHost: x\r\nX-Api-Token: ${ADMIN}\r\n\r\n`,
    );
    await closed; // the server ends the connection with the stream...
    const head = text.slice(0, text.indexOf('\r\n\r\n')).toLowerCase();
    expect(head).toMatch(/^http\/1\.1 200/);
    // ...and said it would: a keep-alive promise here made pooled clients fail ("other side closed").
    expect(head).toMatch(/\r\nconnection: close(\r\n|$)/);
  });
});
