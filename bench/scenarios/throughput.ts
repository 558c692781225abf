/**
 * 1. Throughput: N single-task jobs submitted as fast as the client can (16 requests in flight),
 * run by one worker with concurrency 8; jobs/s from the first submit to the poll that saw the last
 * one finished. Baselines: a bare Node loop spawning `true` 8 at a time, BullMQ, graphile-worker
 * and pg-boss (worker in its own process, like jobhub's agent). Systems run one after another in
 * each repetition, in an order that rotates, each on fresh processes, after a warm-up batch.
 */
import path from 'node:path';
import {
  finishedOf,
  jobCounts,
  type StoreKind,
  startAgent,
  startServer,
  submitMany,
  TRUE_JOB,
  waitFinished,
  waitForNodes,
} from '../lib/jobhub.js';
import { cpuSeconds, RssSampler } from '../lib/procs.js';
import type { Ctx, Ratio, Scenario, ScenarioResult, Table, Target } from '../lib/scenario.js';
import { ratioOf } from '../lib/scenario.js';
import { PG_URL, pgSchema } from '../lib/services.js';
import { fmt, type Metric, metric } from '../lib/stats.js';
import { PEER_LABEL, PEERS, type PeerName, PGBOSS_BATCH, startPeer, waitPeer } from '../peers/producers.js';

export const CONCURRENCY = 8;
const IN_FLIGHT = 16;
const BARE = path.resolve(import.meta.dirname, '../peers/bare.ts');

type System = 'bare' | 'jobhub-sqlite' | 'jobhub-postgres' | PeerName;
const SYSTEMS: System[] = ['bare', 'jobhub-sqlite', 'jobhub-postgres', ...PEERS];
export const LABEL: Record<System, string> = {
  bare: 'bare spawn loop',
  'jobhub-sqlite': 'jobhub (SQLite)',
  'jobhub-postgres': 'jobhub (PostgreSQL)',
  ...PEER_LABEL,
};

export interface RunOut {
  jobsPerSec: number;
  submitPerSec?: number;
  /** CPU seconds of the orchestrator's own processes during the measured batch, by process. */
  cpu: Record<string, number>;
  rssPeakMb: Record<string, number>;
  failed: number;
}

/** The bare loop, in a child process: it prints its elapsed time and its own CPU seconds. */
export async function runBare(ctx: Ctx, n: number): Promise<RunOut & { cpuPerSpawnMs: number }> {
  const p = ctx.scope.spawn('bare', process.execPath, [
    '--import',
    'tsx',
    BARE,
    String(n),
    String(CONCURRENCY),
  ]);
  const m = await p.waitFor(/^(\{.*\})$/m, 120_000);
  await p.exited;
  const r = JSON.parse(m[1] as string) as { seconds: number; cpu: number };
  return {
    jobsPerSec: n / r.seconds,
    cpu: { loop: r.cpu },
    rssPeakMb: {},
    failed: 0,
    cpuPerSpawnMs: (r.cpu / n) * 1000,
  };
}

/** A fresh jobhub server and agent on `store`; warm-up; then N jobs measured. */
export async function runJobhub(
  ctx: Ctx,
  store: StoreKind,
  n: number,
  warmup: number,
  tag: string,
  timeoutMs: number,
): Promise<RunOut> {
  const { scope } = ctx;
  const server = await startServer(scope, {
    store,
    dataDir: scope.tempDir(`server-${tag}`),
    ...(store === 'postgres' ? { pgUrl: PG_URL, pgSchema: pgSchema(scope, ctx.runId, `jh_${tag}`) } : {}),
  });
  const agent = startAgent(scope, server, {
    dataDir: scope.tempDir(`agent-${tag}`),
    concurrency: CONCURRENCY,
  });
  try {
    await waitForNodes(server.url, 1);
    if (warmup > 0) {
      await submitMany(server.url, TRUE_JOB, warmup, IN_FLIGHT);
      await waitFinished(server.url, warmup, timeoutMs);
    }
    const before = await jobCounts(server.url);
    const base = finishedOf(before);
    const pids = { server: server.proc.pid, agent: agent.pid };
    const cpu0 = { server: cpuSeconds(pids.server), agent: cpuSeconds(pids.agent) };
    const rss = new RssSampler([pids.server, pids.agent]);
    const { firstAt, lastAckAt } = await submitMany(server.url, TRUE_JOB, n, IN_FLIGHT);
    const done = await waitFinished(server.url, base + n, timeoutMs);
    const peaks = rss.stop();
    const cpu = {
      server: cpuSeconds(pids.server) - cpu0.server,
      agent: cpuSeconds(pids.agent) - cpu0.agent,
    };
    return {
      jobsPerSec: n / ((done.at - firstAt) / 1000),
      submitPerSec: n / ((lastAckAt - firstAt) / 1000),
      cpu,
      rssPeakMb: {
        server: peaks.get(pids.server)?.peak ?? Number.NaN,
        agent: peaks.get(pids.agent)?.peak ?? Number.NaN,
      },
      failed:
        (done.counts.failed ?? 0) - (before.failed ?? 0) + (done.counts.stopped ?? 0) - (before.stopped ?? 0),
    };
  } finally {
    await Promise.all([agent.stop(), server.proc.stop()]);
  }
}

async function runPeer(
  ctx: Ctx,
  name: PeerName,
  n: number,
  warmup: number,
  tag: string,
  timeoutMs: number,
): Promise<RunOut> {
  const peer = await startPeer(ctx.scope, name, ctx.runId, tag, CONCURRENCY);
  try {
    if (warmup > 0) {
      await peer.enqueue(warmup, IN_FLIGHT);
      await waitPeer(peer, warmup, timeoutMs);
    }
    const base = await peer.finished();
    const pid = peer.worker.pid;
    const cpu0 = cpuSeconds(pid);
    const rss = new RssSampler([pid]);
    const t0 = performance.now();
    await peer.enqueue(n, IN_FLIGHT);
    const lastAck = performance.now();
    const end = await waitPeer(peer, base + n, timeoutMs);
    const peaks = rss.stop();
    return {
      jobsPerSec: n / ((end - t0) / 1000),
      submitPerSec: n / ((lastAck - t0) / 1000),
      cpu: { worker: cpuSeconds(pid) - cpu0 },
      rssPeakMb: { worker: peaks.get(pid)?.peak ?? Number.NaN },
      failed: 0,
    };
  } finally {
    await peer.close().catch(() => {});
    await peer.worker.stop();
  }
}

export const throughput: Scenario = {
  name: 'throughput',
  title: '1. Throughput',
  timeoutMs: (quick) => (quick ? 150_000 : 25 * 60_000),
  async run(ctx): Promise<ScenarioResult> {
    const n = ctx.quick ? 1000 : 5000;
    const warmup = ctx.quick ? 100 : 500;
    const runTimeout = ctx.quick ? 40_000 : 180_000;
    const samples = new Map<System, RunOut[]>(SYSTEMS.map((s) => [s, []]));
    const errors: string[] = [];
    for (let rep = 0; rep < ctx.reps; rep++) {
      const order = SYSTEMS.map((_, i) => SYSTEMS[(i + rep) % SYSTEMS.length] as System);
      for (const sys of order) {
        const tag = `${sys.replace(/\W/g, '')}${rep}`;
        try {
          let out: RunOut;
          if (sys === 'bare') out = await runBare(ctx, n);
          else if (sys === 'jobhub-sqlite') out = await runJobhub(ctx, 'sqlite', n, warmup, tag, runTimeout);
          else if (sys === 'jobhub-postgres')
            out = await runJobhub(ctx, 'postgres', n, warmup, tag, runTimeout);
          else out = await runPeer(ctx, sys, n, warmup, tag, runTimeout);
          samples.get(sys)?.push(out);
          ctx.log(
            `  rep ${rep + 1}/${ctx.reps} ${LABEL[sys]}: ${fmt(out.jobsPerSec)} jobs/s` +
              (out.submitPerSec ? ` (submitted at ${fmt(out.submitPerSec)}/s)` : '') +
              (out.failed ? `, ${out.failed} FAILED` : ''),
          );
        } catch (err) {
          if (ctx.scope.closed) throw err;
          const msg = `rep ${rep + 1} ${LABEL[sys]}: ${String(err).split('\n').slice(0, 6).join(' | ')}`;
          errors.push(msg);
          ctx.log(`  FAILED ${msg}`);
        }
      }
    }
    const metrics: Record<string, Metric> = {};
    for (const sys of SYSTEMS) {
      const runs = samples.get(sys) ?? [];
      metrics[`${sys}.jobsPerSec`] = metric(
        'jobs/s',
        'higher',
        runs.map((r) => r.jobsPerSec),
      );
      if (sys !== 'bare')
        metrics[`${sys}.submitPerSec`] = metric(
          'jobs/s',
          'higher',
          runs.map((r) => r.submitPerSec ?? Number.NaN),
        );
      const procs = Object.keys(runs[0]?.cpu ?? {});
      for (const p of procs)
        metrics[`${sys}.cpuMsPerJob.${p}`] = metric(
          'ms CPU/job',
          'lower',
          runs.map((r) => ((r.cpu[p] ?? Number.NaN) / n) * 1000),
        );
      for (const p of Object.keys(runs[0]?.rssPeakMb ?? {}))
        metrics[`${sys}.rssPeakMb.${p}`] = metric(
          'MB',
          'lower',
          runs.map((r) => r.rssPeakMb[p] ?? Number.NaN),
        );
    }
    const get = (s: System) => metrics[`${s}.jobsPerSec`] as Metric;
    const table: Table = {
      title: `Throughput: ${n} single-task jobs (spawn \`true\`), concurrency ${CONCURRENCY}, ${ctx.reps} rep(s)`,
      head: [
        'system',
        'jobs/s median',
        'min–max',
        'submit jobs/s',
        'CPU ms/job (orchestrator procs)',
        'peak RSS MB',
      ],
      rows: SYSTEMS.map((s) => {
        const m = get(s);
        const cpu = Object.keys(samples.get(s)?.[0]?.cpu ?? {})
          .map((p) => `${p} ${fmt(metrics[`${s}.cpuMsPerJob.${p}`]?.median)}`)
          .join(', ');
        const rss = Object.keys(samples.get(s)?.[0]?.rssPeakMb ?? {})
          .map((p) => `${p} ${fmt(metrics[`${s}.rssPeakMb.${p}`]?.median)}`)
          .join(', ');
        return [
          LABEL[s],
          fmt(m.median),
          `${fmt(m.min)}–${fmt(m.max)}`,
          s === 'bare' ? '–' : fmt(metrics[`${s}.submitPerSec`]?.median),
          cpu || '–',
          rss || '–',
        ];
      }),
    };
    const ratios: Ratio[] = [];
    const targets: Target[] = [];
    for (const jh of ['jobhub-sqlite', 'jobhub-postgres'] as const) {
      const bare = ratioOf(`${LABEL[jh]} / bare spawn loop`, get(jh), get('bare'), 'higher');
      ratios.push(bare);
      targets.push({
        what: `throughput ${LABEL[jh]} vs bare loop`,
        goal: '≥ 0.8×',
        measured: `${fmt(bare.value)}×`,
        met: Number.isFinite(bare.value) ? bare.value >= 0.8 : null,
      });
      for (const p of PEERS) {
        const r = ratioOf(`${LABEL[jh]} / ${PEER_LABEL[p]}`, get(jh), get(p), 'higher');
        ratios.push(r);
        targets.push({
          what: `throughput ${LABEL[jh]} vs ${PEER_LABEL[p]}`,
          goal: '≥ 1.0×',
          measured: `${fmt(r.value)}×`,
          met: Number.isFinite(r.value) ? r.value >= 1.0 : null,
        });
      }
    }
    return {
      params: {
        jobs: n,
        warmup,
        concurrency: CONCURRENCY,
        inFlight: IN_FLIGHT,
        reps: ctx.reps,
        pgbossBatch: PGBOSS_BATCH,
      },
      metrics,
      raw: Object.fromEntries(SYSTEMS.map((s) => [s, samples.get(s)])),
      tables: [table],
      ratios,
      targets,
      notes: [
        ...errors.map((e) => `FAILED ${e}`),
        'Time runs from the first submit to the poll (every 20 ms) that saw the last job finished, for every system.',
        'Each system: fresh processes per repetition, a warm-up batch first, then the measured batch; the order of the systems rotates per repetition.',
        'Workers and jobhub agents run in their own process; the producer/client is the harness process, one job per call, 16 calls in flight.',
        `pg-boss 10's work() loop waits out its polling interval (min 0.5 s) after each fetch, so it runs 8 work() loops that each fetch ${PGBOSS_BATCH} jobs and run them in order.`,
        'CPU ms/job is the orchestrator processes only (jobhub server + agent; a peer worker; the bare loop itself); Redis/PostgreSQL server CPU is not counted.',
      ],
    };
  },
};
