import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { splitHostPort } from './expand-env.js';
import { type GroupSpawnSpec, ProcessGroup } from './process-group.js';
import type { ResolvedCommand, ResolvedProbe } from './protocol.js';
import { errorText, exitText, shortDuration } from './texts.js';

/** Longest single try of an http or tcp probe; a try also never outlives the readiness deadline. */
export const NETWORK_TRY_MS = 2000;

export type ProbeResult = { ok: true } | { ok: false; error: string };

export interface ProbeTryContext {
  /** Limit for this try. */
  timeoutMs: number;
  /** Aborted when the attempt stops: the try ends at once (a command probe's group is killed). */
  signal: AbortSignal;
  /** How to spawn a command probe: the task's cwd and environment plus the probe's own. */
  commandSpec: (command: ResolvedCommand) => GroupSpawnSpec;
  /** Output of a command probe, line by line. */
  onLine: (text: string, ts: number) => void;
  now: () => number;
}

/** One try of one probe. Never rejects: every failure is a result with a short error text. */
export function runProbeOnce(probe: ResolvedProbe, ctx: ProbeTryContext): Promise<ProbeResult> {
  switch (probe.kind) {
    case 'command':
      return commandTry(
        probe.command,
        Math.min(probe.timeoutMs ?? Number.POSITIVE_INFINITY, ctx.timeoutMs),
        ctx,
      );
    case 'http':
      return httpTry(probe.url, Math.min(NETWORK_TRY_MS, ctx.timeoutMs), ctx.signal);
    case 'tcp': {
      const target = splitHostPort(probe.address);
      if (!target) return Promise.resolve({ ok: false, error: `"${probe.address}" is not host:port` });
      return tcpTry(target.host, target.port, Math.min(NETWORK_TRY_MS, ctx.timeoutMs), ctx.signal);
    }
  }
}

/** How a probe is named in texts: `probe http http://x/`, or the label as is if it says `probe` already. */
export function probeName(probe: ResolvedProbe): string {
  return probe.label.startsWith('probe ') ? probe.label : `probe ${probe.label}`;
}

export interface ReadinessOptions {
  probes: ResolvedProbe[];
  /** Pause between two tries of a probe that failed. */
  intervalMs: number;
  /** Milliseconds left until the readiness deadline. */
  timeoutMs: number;
  /** Aborted when the attempt stops or its main process exits. */
  signal: AbortSignal;
  /** Writes a `probe` line in the task's log. */
  log: (text: string) => void;
  commandSpec: ProbeTryContext['commandSpec'];
  onLine: ProbeTryContext['onLine'];
  now: () => number;
}

export type ReadinessResult =
  | { kind: 'ready' }
  | { kind: 'aborted' }
  | { kind: 'timeout'; probe: ResolvedProbe; error: string };

/**
 * Runs the probes in order, retrying each every `intervalMs` until it passes, all within `timeoutMs`.
 * A failure is logged only when its text differs from the previous one of the same probe, so a
 * service that takes a minute to come up does not flood the log.
 */
export async function waitReady(opts: ReadinessOptions): Promise<ReadinessResult> {
  // Deadlines use a monotonic clock: `now` is for timestamps and may be a test's fixed clock.
  const deadline = performance.now() + opts.timeoutMs;
  const remaining = () => deadline - performance.now();
  for (const probe of opts.probes) {
    let lastError: string | undefined;
    for (;;) {
      if (opts.signal.aborted) return { kind: 'aborted' };
      const left = remaining();
      if (left <= 0) return { kind: 'timeout', probe, error: lastError ?? 'not tried before the deadline' };
      const result = await runProbeOnce(probe, {
        timeoutMs: left,
        signal: opts.signal,
        commandSpec: opts.commandSpec,
        onLine: opts.onLine,
        now: opts.now,
      });
      if (opts.signal.aborted) return { kind: 'aborted' };
      if (result.ok) {
        opts.log(`${probeName(probe)}: passed`);
        break;
      }
      if (result.error !== lastError) opts.log(`${probeName(probe)}: ${result.error} (retrying)`);
      lastError = result.error;
      const pause = Math.min(opts.intervalMs, remaining());
      if (pause > 0) await sleep(pause, opts.signal);
    }
  }
  return { kind: 'ready' };
}

/** Resolves after `ms`, or early when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

async function commandTry(
  command: ResolvedCommand,
  timeoutMs: number,
  ctx: ProbeTryContext,
): Promise<ProbeResult> {
  const group = new ProcessGroup(ctx.commandSpec(command), {
    onLine: (_stream, text, ts) => ctx.onLine(text, ts),
    now: ctx.now,
  });
  let cut: string | undefined;
  // A probe is a check, not a service: no grace period, its whole group goes at once.
  const kill = (why: string) => {
    cut ??= why;
    group.signal('SIGKILL');
  };
  const onAbort = () => kill('aborted');
  const timer = Number.isFinite(timeoutMs)
    ? setTimeout(() => kill(`timed out after ${shortDuration(timeoutMs)}`), timeoutMs)
    : undefined;
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  if (ctx.signal.aborted) onAbort();
  try {
    const end = await group.finished;
    if (end.kind === 'spawn_error') return { ok: false, error: end.text };
    if (cut) return { ok: false, error: cut };
    if (end.code === 0) return { ok: true };
    return { ok: false, error: exitText(end.code, end.signal) };
  } finally {
    clearTimeout(timer);
    ctx.signal.removeEventListener('abort', onAbort);
  }
}

/**
 * One network try: `start` begins it and returns what releases it (a request, a socket); the try
 * settles once, by `start`'s own verdict, a timeout or an abort, and is released then.
 */
function networkTry(
  timeoutMs: number,
  signal: AbortSignal,
  start: (finish: (result: ProbeResult) => void) => () => void,
): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let settled = false;
    let release: (() => void) | undefined;
    const finish = (result: ProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      release?.();
      resolve(result);
    };
    const onAbort = () => finish({ ok: false, error: 'aborted' });
    const timer = setTimeout(
      () => finish({ ok: false, error: `timed out after ${shortDuration(timeoutMs)}` }),
      timeoutMs,
    );
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      release = start(finish);
      if (settled) release(); // settled while starting
    } catch (err) {
      // An unsupported protocol or an invalid port throws synchronously.
      finish({ ok: false, error: errorText(err) });
    }
    if (signal.aborted) onAbort();
  });
}

function httpTry(url: string, timeoutMs: number, signal: AbortSignal): Promise<ProbeResult> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return Promise.resolve({ ok: false, error: `invalid URL "${url}"` });
  }
  return networkTry(timeoutMs, signal, (finish) => {
    const options = {
      // A fresh connection per try: a pooled keep-alive socket could outlive the agent's interest.
      agent: false as const,
      // Readiness asks "does it answer", not "is it who it claims": self-signed certificates pass.
      rejectUnauthorized: false,
    };
    const onResponse = (res: http.IncomingMessage) => {
      res.resume();
      const status = res.statusCode ?? 0;
      finish(status >= 200 && status < 300 ? { ok: true } : { ok: false, error: `HTTP ${status}` });
    };
    const req =
      target.protocol === 'https:'
        ? https.get(target, options, onResponse)
        : http.get(target, options, onResponse);
    req.on('error', (err) => finish({ ok: false, error: errorText(err) }));
    return () => req.destroy();
  });
}

function tcpTry(host: string, port: number, timeoutMs: number, signal: AbortSignal): Promise<ProbeResult> {
  return networkTry(timeoutMs, signal, (finish) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => finish({ ok: true }));
    socket.on('error', (err) => finish({ ok: false, error: errorText(err) }));
    return () => socket.destroy();
  });
}
