/**
 * jobhub as a user runs it: the real CLI (`bin/jobhub.js server`, `bin/jobhub.js agent`) as child
 * processes, spoken to over its REST API.
 */
import path from 'node:path';
import type { Proc } from './procs.js';
import { sleep } from './procs.js';
import type { Scope } from './scope.js';

/** This repository. */
export const ROOT = path.resolve(import.meta.dirname, '../..');
/** The jobhub checkout under test (this repository unless `--jobhub=DIR`). */
let jobhubRoot = ROOT;
let BIN = path.join(ROOT, 'bin/jobhub.js');

export function setJobhubRoot(dir: string): void {
  jobhubRoot = path.resolve(dir);
  BIN = path.join(jobhubRoot, 'bin/jobhub.js');
}

export function getJobhubRoot(): string {
  return jobhubRoot;
}
export const ADMIN_TOKEN = 'bench-admin-token';
export const AGENT_TOKEN = 'bench-agent-token';

/** A single-task job that spawns `true`: the work unit of every scenario unless it says otherwise. */
export const TRUE_JOB = 'name: t\nstages: [{name: s, tasks: [{name: t, exec: {command: "true"}}]}]\n';

export type StoreKind = 'sqlite' | 'postgres';

export interface ServerOpts {
  store: StoreKind;
  /** SQLite data folder (also used by a PostgreSQL server for its own files). */
  dataDir: string;
  pgUrl?: string;
  pgSchema?: string;
  args?: string[];
}

export interface Server {
  proc: Proc;
  url: string;
  opts: ServerOpts;
}

/** Signs job tokens and seals secrets; a server on PostgreSQL refuses to start without one. */
export const SERVER_KEY = 'bench-server-key';

export async function startServer(scope: Scope, opts: ServerOpts): Promise<Server> {
  // The per-token rate limit (200/s by default) guards a shared server against one client; the
  // benchmark measures the orchestrator at full speed from one admin token, so it is turned off.
  const args = [
    BIN,
    'server',
    '--port',
    '0',
    '--host',
    '127.0.0.1',
    '--data',
    opts.dataDir,
    '--rate-limit',
    '0',
  ];
  if (opts.store === 'postgres') {
    if (!opts.pgUrl || !opts.pgSchema) throw new Error('postgres server needs pgUrl and pgSchema');
    args.push('--database', opts.pgUrl, '--database-schema', opts.pgSchema);
  }
  args.push(...(opts.args ?? []));
  const proc = scope.spawn(`server-${opts.store}`, process.execPath, args, {
    env: { JOBHUB_ADMIN_TOKEN: ADMIN_TOKEN, JOBHUB_AGENT_TOKEN: AGENT_TOKEN, JOBHUB_SERVER_KEY: SERVER_KEY },
  });
  const m = await proc.waitFor(/listening on [^\s:]+:(\d+)/, 60_000);
  return { proc, url: `http://127.0.0.1:${m[1]}`, opts };
}

export interface AgentOpts {
  dataDir: string;
  concurrency?: number;
  role?: string;
  name?: string;
  args?: string[];
  env?: Record<string, string>;
}

export function startAgent(scope: Scope, server: Server, opts: AgentOpts): Proc {
  const args = [BIN, 'agent', '--server', server.url, '--token', AGENT_TOKEN, '--data', opts.dataDir];
  if (opts.concurrency !== undefined) args.push('--concurrency', String(opts.concurrency));
  if (opts.role) args.push('--role', opts.role);
  if (opts.name) args.push('--name', opts.name);
  args.push(...(opts.args ?? []));
  return scope.spawn(`agent${opts.name ? `-${opts.name}` : ''}`, process.execPath, args, {
    ...(opts.env ? { env: opts.env } : {}),
  });
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export async function api<T>(
  server: string,
  method: string,
  route: string,
  body?: string,
  type = 'application/yaml',
): Promise<T> {
  const res = await fetch(`${server}${route}`, {
    method,
    headers: { 'x-api-token': ADMIN_TOKEN, ...(body !== undefined ? { 'content-type': type } : {}) },
    ...(body !== undefined ? { body } : {}),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  if (!res.ok) throw new ApiError(`${method} ${route}: ${res.status} ${text.slice(0, 500)}`, res.status);
  return (text ? JSON.parse(text) : undefined) as T;
}

export async function submit(server: string, spec: string): Promise<number> {
  return (await api<{ id: number }>(server, 'POST', '/api/v1/jobs', spec)).id;
}

export interface NodeView {
  id: string;
  name: string;
  connected: boolean;
  state: string;
  role: string;
}

export async function waitForNodes(server: string, n: number, timeoutMs = 30_000): Promise<NodeView[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await api<{ results: NodeView[] }>(server, 'GET', '/api/v1/nodes');
    const connected = r.results.filter((x) => x.connected);
    if (connected.length >= n) return connected;
    if (Date.now() > deadline)
      throw new Error(`only ${connected.length} of ${n} agents connected after ${timeoutMs}ms`);
    await sleep(50);
  }
}

/** `jobhub_jobs{status=...}` from /metrics (no token needed). */
export async function jobCounts(server: string): Promise<Record<string, number>> {
  const res = await fetch(`${server}/metrics`, { signal: AbortSignal.timeout(30_000) });
  const text = await res.text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^jobhub_jobs\{status="(\w+)"\} (\d+(?:\.\d+)?)$/gm))
    out[m[1] as string] = Number(m[2]);
  return out;
}

export const FINAL_STATUSES = ['succeeded', 'failed', 'stopped'] as const;

export function finishedOf(c: Record<string, number>): number {
  return FINAL_STATUSES.reduce((a, s) => a + (c[s] ?? 0), 0);
}

/**
 * Submits `n` copies of `spec`, `inFlight` requests at a time; resolves with the ids and the time
 * the first request was sent (performance.now()).
 */
export async function submitMany(
  server: string,
  spec: string,
  n: number,
  inFlight: number,
): Promise<{ ids: number[]; firstAt: number; lastAckAt: number }> {
  const ids: number[] = new Array(n);
  let next = 0;
  const firstAt = performance.now();
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= n) return;
      ids[i] = await submit(server, spec);
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, n) }, worker));
  return { ids, firstAt, lastAckAt: performance.now() };
}

/**
 * Polls /metrics until `target` jobs are final; returns performance.now() at the poll that saw it.
 * Gives up after `timeoutMs`, or sooner when no job finished for `stallMs`.
 */
export async function waitFinished(
  server: string,
  target: number,
  timeoutMs: number,
  pollMs = 20,
  stallMs = 15_000,
): Promise<{ at: number; counts: Record<string, number> }> {
  const start = performance.now();
  let last = -1;
  let lastChange = start;
  for (;;) {
    const counts = await jobCounts(server);
    const done = finishedOf(counts);
    const now = performance.now();
    if (done >= target) return { at: now, counts };
    if (done !== last) {
      last = done;
      lastChange = now;
    }
    const why =
      now - start > timeoutMs
        ? `after ${Math.round(timeoutMs / 1000)}s`
        : now - lastChange > stallMs
          ? `and none finished for ${Math.round(stallMs / 1000)}s (stalled)`
          : undefined;
    if (why)
      throw new Error(`only ${done} of ${target} jobs finished ${why}; job counts ${JSON.stringify(counts)}`);
    await sleep(pollMs);
  }
}

export interface SseFrame {
  id?: string;
  event: string;
  data: string;
  /** performance.now() when the frame was complete. */
  at: number;
}

/**
 * Follows an SSE stream, calling `onFrame` for each frame as it arrives. Returns a handle to stop it.
 * Resolves `ready` once the response headers are in (the stream is subscribed).
 */
export function followSse(
  url: string,
  onFrame: (f: SseFrame) => void,
): { ready: Promise<void>; done: Promise<void>; stop: () => void } {
  const ac = new AbortController();
  let markReady: () => void = () => {};
  let failReady: (e: unknown) => void = () => {};
  const ready = new Promise<void>((res, rej) => {
    markReady = res;
    failReady = rej;
  });
  const done = (async () => {
    try {
      const res = await fetch(url, { headers: { 'x-api-token': ADMIN_TOKEN }, signal: ac.signal });
      if (!res.ok || !res.body) throw new Error(`SSE ${url}: ${res.status}`);
      markReady();
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buf = '';
      let cur: { id?: string; event?: string } = {};
      let data: string[] = [];
      for (;;) {
        const { value, done: end } = await reader.read();
        if (end) return;
        buf += decoder.decode(value, { stream: true });
        let nl = buf.indexOf('\n');
        while (nl >= 0) {
          const line = buf.slice(0, nl).replace(/\r$/, '');
          buf = buf.slice(nl + 1);
          nl = buf.indexOf('\n');
          if (line === '') {
            if (cur.event !== undefined || data.length > 0) {
              const frame: SseFrame = {
                event: cur.event ?? 'message',
                data: data.join('\n'),
                at: performance.now(),
              };
              if (cur.id !== undefined) frame.id = cur.id;
              onFrame(frame);
            }
            cur = {};
            data = [];
            continue;
          }
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const val = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'data') data.push(val);
          else if (field === 'id') cur.id = val;
          else if (field === 'event') cur.event = val;
        }
      }
    } catch (err) {
      failReady(err);
      if (!ac.signal.aborted) throw err;
    }
  })();
  done.catch(() => {});
  return { ready, done, stop: () => ac.abort() };
}

/** Wall-clock epoch milliseconds with sub-millisecond precision (the same clock as `date +%s%N`). */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

export interface JobDetail {
  id: number;
  status: string;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
  stages: Array<{
    name: string;
    type: string;
    status: string;
    needs: string[];
    startedAt: string | null;
    readyAt: string | null;
    endedAt: string | null;
    nodes: Array<{
      name: string;
      nodeId: string | null;
      tasks: Array<{
        id: number;
        name: string;
        status: string;
        longRunning: boolean;
        startedAt: string | null;
        readyAt: string | null;
        endedAt: string | null;
      }>;
    }>;
  }>;
}
