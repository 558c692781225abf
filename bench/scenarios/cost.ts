/**
 * 3. Orchestrator cost.
 * - CPU: N single-task jobs at full speed; CPU seconds (utime+stime from /proc/PID/stat) used by the
 *   server and the agent during the batch, per 1,000 tasks, minus what the bare spawn loop's own
 *   process spends per spawn (the spawn cost any runner pays), measured in the same repetition.
 * - Memory: RSS (VmRSS) of the server with 10,000 jobs queued (no agent connected yet), then of
 *   both while an agent with concurrency 8 starts working through them.
 */
import {
  jobCounts,
  type StoreKind,
  startAgent,
  startServer,
  submitMany,
  TRUE_JOB,
  waitForNodes,
} from '../lib/jobhub.js';
import { RssSampler, rssMb, sleep } from '../lib/procs.js';
import type { Ctx, Scenario, ScenarioResult, Table, Target } from '../lib/scenario.js';
import { PG_URL, pgSchema } from '../lib/services.js';
import { fmt, type Metric, metric } from '../lib/stats.js';
import { CONCURRENCY, runBare, runJobhub } from './throughput.js';

async function rssQueued(ctx: Ctx, store: StoreKind, queued: number, watchMs: number, tag: string) {
  const { scope } = ctx;
  const server = await startServer(scope, {
    store,
    dataDir: scope.tempDir(`server-${tag}`),
    ...(store === 'postgres' ? { pgUrl: PG_URL, pgSchema: pgSchema(scope, ctx.runId, `rss_${tag}`) } : {}),
  });
  try {
    const idle = rssMb(server.proc.pid);
    const t0 = performance.now();
    await submitMany(server.url, TRUE_JOB, queued, 16);
    const submitSeconds = (performance.now() - t0) / 1000;
    const counts = await jobCounts(server.url);
    await sleep(500);
    const serverQueued = rssMb(server.proc.pid);
    const agent = startAgent(scope, server, {
      dataDir: scope.tempDir(`agent-${tag}`),
      concurrency: CONCURRENCY,
    });
    try {
      await waitForNodes(server.url, 1);
      const sampler = new RssSampler([server.proc.pid, agent.pid], 100);
      await sleep(watchMs);
      const s = sampler.stop();
      const done = await jobCounts(server.url);
      return {
        serverIdleMb: idle,
        serverQueuedMb: serverQueued,
        queuedSeen: counts.queued ?? 0,
        submitPerSec: queued / submitSeconds,
        serverPeakWorkingMb: s.get(server.proc.pid)?.peak ?? Number.NaN,
        agentPeakMb: s.get(agent.pid)?.peak ?? Number.NaN,
        finishedWhileWatched: done.succeeded ?? 0,
      };
    } finally {
      await agent.stop();
    }
  } finally {
    await server.proc.stop();
  }
}

export const cost: Scenario = {
  name: 'cost',
  title: '3. Orchestrator cost',
  timeoutMs: (quick) => (quick ? 75_000 : 15 * 60_000),
  async run(ctx): Promise<ScenarioResult> {
    const n = ctx.quick ? 1000 : 3000;
    const queued = 10_000;
    const watchMs = ctx.quick ? 3000 : 10_000;
    const stores: StoreKind[] = ['sqlite', 'postgres'];
    // Quick mode measures memory on SQLite only, to stay short.
    const rssStores: StoreKind[] = ctx.quick ? ['sqlite'] : stores;
    const cpu: Record<string, number[]> = {};
    const push = (k: string, v: number) => {
      cpu[k] ??= [];
      cpu[k].push(v);
    };
    for (let rep = 0; rep < ctx.reps; rep++) {
      const bare = await runBare(ctx, n);
      push('bare.cpuMsPerSpawn', bare.cpuPerSpawnMs);
      for (const store of stores) {
        const r = await runJobhub(ctx, store, n, ctx.quick ? 100 : 300, `cost${store}${rep}`, 120_000);
        const server = ((r.cpu.server ?? Number.NaN) / n) * 1000;
        const agent = ((r.cpu.agent ?? Number.NaN) / n) * 1000;
        push(`${store}.serverMsPerTask`, server);
        push(`${store}.agentMsPerTask`, agent);
        push(`${store}.beyondSpawnMsPerTask`, server + agent - bare.cpuPerSpawnMs);
        ctx.log(
          `  rep ${rep + 1}/${ctx.reps} ${store}: server ${fmt(server)} + agent ${fmt(agent)} ms CPU/task; ` +
            `bare loop ${fmt(bare.cpuPerSpawnMs)} ms/spawn → ${fmt(server + agent - bare.cpuPerSpawnMs)} ms beyond spawn`,
        );
      }
    }
    const rss: Record<string, number[]> = {};
    for (let rep = 0; rep < ctx.reps; rep++) {
      for (const store of rssStores) {
        const r = await rssQueued(ctx, store, queued, watchMs, `rss${store}${rep}`);
        for (const [k, v] of Object.entries(r)) {
          rss[`${store}.${k}`] ??= [];
          rss[`${store}.${k}`]?.push(v);
        }
        ctx.log(
          `  rep ${rep + 1}/${ctx.reps} ${store}: server RSS ${fmt(r.serverIdleMb)} MB idle, ${fmt(r.serverQueuedMb)} MB with ${r.queuedSeen} queued; ` +
            `while working: server ${fmt(r.serverPeakWorkingMb)} MB, agent ${fmt(r.agentPeakMb)} MB`,
        );
      }
    }
    const metrics: Record<string, Metric> = {};
    for (const [k, v] of Object.entries(cpu)) metrics[`cpu.${k}`] = metric('ms CPU', 'lower', v);
    for (const [k, v] of Object.entries(rss))
      metrics[`rss.${k}`] = metric(
        k.endsWith('PerSec') ? 'jobs/s' : k.endsWith('Watched') || k.endsWith('Seen') ? 'jobs' : 'MB',
        k.endsWith('PerSec') ? 'higher' : 'lower',
        v,
      );
    const m = (k: string) => metrics[k] as Metric;
    const cell = (k: string) =>
      ctx.reps > 1 ? `${fmt(m(k).median)} (${fmt(m(k).min)}–${fmt(m(k).max)})` : fmt(m(k).median);
    const cpuTable: Table = {
      title: `CPU per task, ${n} single-task jobs at full speed (ms; per 1,000 tasks = s)`,
      head: ['store', 'server', 'agent', 'bare loop per spawn', 'beyond spawn (server+agent−bare)'],
      rows: stores.map((s) => [
        s === 'sqlite' ? 'SQLite' : 'PostgreSQL',
        cell(`cpu.${s}.serverMsPerTask`),
        cell(`cpu.${s}.agentMsPerTask`),
        cell('cpu.bare.cpuMsPerSpawn'),
        cell(`cpu.${s}.beyondSpawnMsPerTask`),
      ]),
    };
    const rssTable: Table = {
      title: `Memory with ${queued.toLocaleString('en-US')} jobs queued (MB RSS)`,
      head: [
        'store',
        'server idle',
        'server, 10k queued',
        `server peak, agent working (${watchMs / 1000}s)`,
        'agent peak',
        'submit jobs/s',
      ],
      rows: rssStores.map((s) => [
        s === 'sqlite' ? 'SQLite' : 'PostgreSQL',
        cell(`rss.${s}.serverIdleMb`),
        cell(`rss.${s}.serverQueuedMb`),
        cell(`rss.${s}.serverPeakWorkingMb`),
        cell(`rss.${s}.agentPeakMb`),
        cell(`rss.${s}.submitPerSec`),
      ]),
    };
    const targets: Target[] = stores.map((s) => {
      const v = m(`cpu.${s}.beyondSpawnMsPerTask`).median;
      return {
        what: `orchestrator CPU per task beyond spawn, jobhub (${s === 'sqlite' ? 'SQLite' : 'PostgreSQL'})`,
        goal: '≤ 0.5 ms',
        measured: `${fmt(v)} ms`,
        met: Number.isFinite(v) ? v <= 0.5 : null,
      };
    });
    return {
      params: { tasks: n, queued, watchMs, reps: ctx.reps, rssStores },
      metrics,
      raw: { cpu, rss },
      tables: [cpuTable, rssTable],
      targets,
      notes: [
        'CPU is utime+stime of the server and agent processes over the measured batch (children not included); PostgreSQL backends are not counted.',
        "The bare loop spawns with stdio ignored; the jobhub agent also reads each task's output: that difference is counted as orchestrator cost.",
      ],
    };
  },
};
