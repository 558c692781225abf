/**
 * 6. Agents at scale: 500 simulated agents (bench/lib/sim-agent.ts: the real protocol over real
 * WebSockets, in the harness process) connect to one server (SQLite, default 5 s heartbeat) and
 * heartbeat. Measured: the server's CPU % over a quiet window and its RSS; then 1,000 single-task
 * jobs fanned out across the agents (each spawns `true`): jobs/s and how they were spread.
 */
import { startServer, submitMany, TRUE_JOB, waitFinished, waitForNodes } from '../lib/jobhub.js';
import { cpuSeconds, rssMb, sleep } from '../lib/procs.js';
import type { Ctx, Scenario, ScenarioResult, Table, Target } from '../lib/scenario.js';
import { SimAgent } from '../lib/sim-agent.js';
import { fmt, type Metric, metric } from '../lib/stats.js';

const AGENTS = 500;
const SLOTS = 8;

async function runOnce(ctx: Ctx, tasks: number, windowMs: number, tag: string) {
  const { scope } = ctx;
  const server = await startServer(scope, { store: 'sqlite', dataDir: scope.tempDir(`server-${tag}`) });
  const sims: SimAgent[] = [];
  scope.defer('close simulated agents', () => {
    for (const s of sims) s.close();
  });
  try {
    const t0 = performance.now();
    for (let i = 0; i < AGENTS; i += 50) {
      const batch = Array.from(
        { length: Math.min(50, AGENTS - i) },
        (_, j) => new SimAgent(server.url, `sim-${i + j}`, SLOTS),
      );
      sims.push(...batch);
      await Promise.all(batch.map((s) => s.connect()));
    }
    await waitForNodes(server.url, AGENTS, 60_000);
    const connectSeconds = (performance.now() - t0) / 1000;
    await sleep(2000);
    const pid = server.proc.pid;
    const c0 = cpuSeconds(pid);
    const h0 = process.cpuUsage();
    const w0 = performance.now();
    await sleep(windowMs);
    const wall = (performance.now() - w0) / 1000;
    const serverCpuPct = ((cpuSeconds(pid) - c0) / wall) * 100;
    const h = process.cpuUsage(h0);
    const harnessCpuPct = ((h.user + h.system) / 1e6 / wall) * 100;
    const rssIdle = rssMb(pid);
    // Fan-out.
    const f0 = performance.now();
    await submitMany(server.url, TRUE_JOB, tasks, 16);
    await waitFinished(server.url, tasks, ctx.quick ? 60_000 : 180_000);
    const fanSeconds = (performance.now() - f0) / 1000;
    const per = sims.map((s) => s.started);
    const rssAfter = rssMb(pid);
    const still = (await waitForNodes(server.url, 0)).length;
    return {
      connectSeconds,
      serverCpuPct,
      harnessCpuPct,
      rssIdleMb: rssIdle,
      rssAfterFanoutMb: rssAfter,
      fanoutJobsPerSec: tasks / fanSeconds,
      agentsUsed: per.filter((x) => x > 0).length,
      maxPerAgent: Math.max(...per),
      stillConnected: still,
    };
  } finally {
    for (const s of sims) s.close();
    await server.proc.stop();
  }
}

export const agents: Scenario = {
  name: 'agents',
  title: '6. Agents at scale',
  timeoutMs: (quick) => (quick ? 60_000 : 10 * 60_000),
  async run(ctx): Promise<ScenarioResult> {
    const tasks = 1000;
    const windowMs = ctx.quick ? 5000 : 30_000;
    const runs: Awaited<ReturnType<typeof runOnce>>[] = [];
    for (let rep = 0; rep < ctx.reps; rep++) {
      const r = await runOnce(ctx, tasks, windowMs, `ag${rep}`);
      runs.push(r);
      ctx.log(
        `  rep ${rep + 1}/${ctx.reps}: ${AGENTS} agents connected in ${fmt(r.connectSeconds)} s; server ${fmt(r.serverCpuPct)}% CPU, ` +
          `${fmt(r.rssIdleMb)} MB; fan-out ${fmt(r.fanoutJobsPerSec)} jobs/s over ${r.agentsUsed} agents (max ${r.maxPerAgent} on one)`,
      );
    }
    const keys = Object.keys(runs[0] ?? {}) as Array<keyof (typeof runs)[number]>;
    const metrics: Record<string, Metric> = {};
    for (const k of keys)
      metrics[k] = metric(
        k.endsWith('Pct')
          ? '% of one core'
          : k.endsWith('Mb')
            ? 'MB'
            : k.endsWith('Seconds')
              ? 's'
              : k.endsWith('PerSec')
                ? 'jobs/s'
                : 'agents',
        k.endsWith('PerSec') || k === 'agentsUsed' || k === 'stillConnected' ? 'higher' : 'lower',
        runs.map((r) => r[k]),
      );
    const cell = (k: string) => {
      const m = metrics[k] as Metric;
      return ctx.reps > 1 ? `${fmt(m.median)} (${fmt(m.min)}–${fmt(m.max)})` : fmt(m.median);
    };
    const table: Table = {
      title: `Agents at scale: ${AGENTS} simulated agents (real protocol, real sockets), SQLite server`,
      head: ['measure', 'value'],
      rows: [
        [`all ${AGENTS} connected after (s)`, cell('connectSeconds')],
        [`server CPU, ${windowMs / 1000} s of heartbeats (% of one core)`, cell('serverCpuPct')],
        ['server RSS, idle with all connected (MB)', cell('rssIdleMb')],
        [`fan-out: ${tasks} single-task jobs (jobs/s)`, cell('fanoutJobsPerSec')],
        ['agents that got a task', cell('agentsUsed')],
        ['most tasks on one agent', cell('maxPerAgent')],
        ['server RSS after the fan-out (MB)', cell('rssAfterFanoutMb')],
        ['harness CPU while measuring (% of one core; the simulated agents)', cell('harnessCpuPct')],
      ],
    };
    const cpu = (metrics.serverCpuPct as Metric).median;
    const rss = (metrics.rssIdleMb as Metric).median;
    const targets: Target[] = [
      {
        what: `${AGENTS} agents: server CPU`,
        goal: '< 25% of one core',
        measured: `${fmt(cpu)}%`,
        met: Number.isFinite(cpu) ? cpu < 25 : null,
      },
      {
        what: `${AGENTS} agents: server RSS`,
        goal: '< 300 MB',
        measured: `${fmt(rss)} MB`,
        met: Number.isFinite(rss) ? rss < 300 : null,
      },
    ];
    return {
      params: {
        agents: AGENTS,
        slotsPerAgent: SLOTS,
        tasks,
        windowMs,
        heartbeat: 'server default (5s)',
        reps: ctx.reps,
      },
      metrics,
      raw: { runs },
      tables: [table],
      targets,
      notes: [
        "Simulated agents speak the protocol of src/agent/wire.ts (hello, heartbeats at the period the server gives, task.started/task.exited reports with seqs) and spawn each task's command for real.",
      ],
    };
  },
};
