/**
 * 2. Latency: jobs submitted one at a time at a steady low rate to an otherwise idle server and
 * agent. The task is `date +%s%N` (spawned directly, like `true`), so the task's own clock says when
 * it really started. Measured per job, all on this machine's wall clock:
 * - submit → task start, by the task's clock (what it printed) and by the client's (the
 *   `task.status → running` event arriving on the client's event stream);
 * - submit → done, by the client's clock (the `job.status → succeeded` event arriving).
 */
import {
  api,
  epochMs,
  followSse,
  type SseFrame,
  type StoreKind,
  startAgent,
  startServer,
  submit,
  waitForNodes,
} from '../lib/jobhub.js';
import { sleep } from '../lib/procs.js';
import type { Ctx, Scenario, ScenarioResult, Table, Target } from '../lib/scenario.js';
import { PG_URL, pgSchema } from '../lib/services.js';
import { type Dist, dist, fmt, type Metric, metric } from '../lib/stats.js';
import { CONCURRENCY } from './throughput.js';

const DATE_JOB =
  'name: lat\nstages: [{name: s, tasks: [{name: t, exec: {command: date, args: ["+%s%N"]}}]}]\n';

interface JobTimes {
  submitAt: number;
  idAt?: number;
  taskClockStart?: number;
  clientRunningAt?: number;
  clientDoneAt?: number;
}

async function runOnce(ctx: Ctx, store: StoreKind, n: number, rate: number, tag: string) {
  const { scope } = ctx;
  const server = await startServer(scope, {
    store,
    dataDir: scope.tempDir(`server-${tag}`),
    ...(store === 'postgres' ? { pgUrl: PG_URL, pgSchema: pgSchema(scope, ctx.runId, `lat_${tag}`) } : {}),
  });
  const agent = startAgent(scope, server, {
    dataDir: scope.tempDir(`agent-${tag}`),
    concurrency: CONCURRENCY,
  });
  try {
    await waitForNodes(server.url, 1);
    const byId = new Map<number, JobTimes>();
    const early: Array<{ f: SseFrame; id: number }> = [];
    const apply = (f: SseFrame, id: number) => {
      const t = byId.get(id);
      if (!t) {
        early.push({ f, id });
        return;
      }
      const e = JSON.parse(f.data) as { type: string; to?: string };
      const at = performance.timeOrigin + f.at;
      if (e.type === 'task.status' && e.to === 'running') t.clientRunningAt ??= at;
      if (e.type === 'job.status' && (e.to === 'succeeded' || e.to === 'failed')) t.clientDoneAt ??= at;
    };
    const sse = followSse(`${server.url}/api/v1/events?follow=true&type=task.status,job.status`, (f) => {
      if (f.event !== 'task.status' && f.event !== 'job.status') return;
      const e = JSON.parse(f.data) as { jobId?: number };
      if (e.jobId !== undefined) apply(f, e.jobId);
    });
    await sse.ready;
    // Warm-up: a few jobs through the same path, not counted.
    const warm = Math.min(20, Math.max(5, Math.floor(n / 10)));
    for (let i = 0; i < warm; i++) {
      await submit(server.url, DATE_JOB);
      await sleep(1000 / rate);
    }
    await sleep(500);
    const jobs: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      // A steady schedule: job i goes at t0 + i/rate, whatever the previous submit took.
      const wait = t0 + (i * 1000) / rate - performance.now();
      if (wait > 0) await sleep(wait);
      const submitAt = epochMs();
      const id = await submit(server.url, DATE_JOB);
      byId.set(id, { submitAt, idAt: epochMs() });
      jobs.push(id);
      for (const e of early.splice(0)) apply(e.f, e.id);
    }
    // Wait until every job is seen done (bounded).
    const deadline = performance.now() + 30_000;
    while (jobs.some((id) => byId.get(id)?.clientDoneAt === undefined) && performance.now() < deadline) {
      for (const e of early.splice(0)) apply(e.f, e.id);
      await sleep(50);
    }
    sse.stop();
    // The task's own clock: what `date +%s%N` printed.
    for (const id of jobs) {
      const r = await api<{ lines: Array<{ text: string }> }>(server.url, 'GET', `/api/v1/jobs/${id}/logs`);
      const text = r.lines[0]?.text?.trim();
      const t = byId.get(id);
      if (t && text && /^\d+$/.test(text)) t.taskClockStart = Number(BigInt(text) / 1000n) / 1000;
    }
    const all = jobs.map((id) => byId.get(id) as JobTimes);
    const missing = all.filter((t) => t.clientDoneAt === undefined).length;
    return {
      startTask: dist(all.map((t) => (t.taskClockStart ?? Number.NaN) - t.submitAt)),
      startClient: dist(all.map((t) => (t.clientRunningAt ?? Number.NaN) - t.submitAt)),
      doneClient: dist(all.map((t) => (t.clientDoneAt ?? Number.NaN) - t.submitAt)),
      submitAck: dist(all.map((t) => (t.idAt ?? Number.NaN) - t.submitAt)),
      missing,
    };
  } finally {
    await Promise.all([agent.stop(), server.proc.stop()]);
  }
}

export const latency: Scenario = {
  name: 'latency',
  title: '2. Latency',
  timeoutMs: (quick) => (quick ? 60_000 : 10 * 60_000),
  async run(ctx): Promise<ScenarioResult> {
    const n = ctx.quick ? 50 : 300;
    const rate = 10;
    const stores: StoreKind[] = ['sqlite', 'postgres'];
    const runs = new Map<StoreKind, Awaited<ReturnType<typeof runOnce>>[]>(stores.map((s) => [s, []]));
    for (let rep = 0; rep < ctx.reps; rep++) {
      for (const store of rep % 2 === 0 ? stores : [...stores].reverse()) {
        const r = await runOnce(ctx, store, n, rate, `${store}${rep}`);
        runs.get(store)?.push(r);
        ctx.log(
          `  rep ${rep + 1}/${ctx.reps} ${store}: submit→start p50 ${fmt(r.startTask.p50)} ms, p99 ${fmt(r.startTask.p99)} ms (task clock); ` +
            `submit→done p50 ${fmt(r.doneClient.p50)} ms${r.missing ? `; ${r.missing} never seen done` : ''}`,
        );
      }
    }
    const metrics: Record<string, Metric> = {};
    const kinds = ['startTask', 'startClient', 'doneClient', 'submitAck'] as const;
    const label: Record<(typeof kinds)[number], string> = {
      startTask: 'submit → task start (task clock)',
      startClient: 'submit → task running event (client clock)',
      doneClient: 'submit → job succeeded event (client clock)',
      submitAck: 'submit → POST answered (client clock)',
    };
    const rows: string[][] = [];
    for (const store of stores) {
      for (const k of kinds) {
        for (const q of ['p50', 'p99', 'max'] as const)
          metrics[`${store}.${k}.${q}`] = metric(
            'ms',
            'lower',
            (runs.get(store) ?? []).map((r) => (r[k] as Dist)[q]),
          );
        const m = (q: string) => metrics[`${store}.${k}.${q}`] as Metric;
        const cell = (q: string) =>
          ctx.reps > 1 ? `${fmt(m(q).median)} (${fmt(m(q).min)}–${fmt(m(q).max)})` : fmt(m(q).median);
        rows.push([
          `jobhub (${store === 'sqlite' ? 'SQLite' : 'PostgreSQL'})`,
          label[k],
          cell('p50'),
          cell('p99'),
          cell('max'),
        ]);
      }
    }
    const table: Table = {
      title: `Latency: ${n} jobs at ${rate}/s on an idle server, ms${ctx.reps > 1 ? ' (median of reps, min–max)' : ''}`,
      head: ['store', 'interval', 'p50', 'p99', 'max'],
      rows,
    };
    const targets: Target[] = [];
    for (const store of stores) {
      const name = store === 'sqlite' ? 'SQLite' : 'PostgreSQL';
      const p50 = metrics[`${store}.startTask.p50`] as Metric;
      const p99 = metrics[`${store}.startTask.p99`] as Metric;
      targets.push({
        what: `submit→start p50, jobhub (${name})`,
        goal: '≤ 5 ms',
        measured: `${fmt(p50.median)} ms`,
        met: Number.isFinite(p50.median) ? p50.median <= 5 : null,
      });
      targets.push({
        what: `submit→start p99, jobhub (${name})`,
        goal: '≤ 25 ms',
        measured: `${fmt(p99.median)} ms`,
        met: Number.isFinite(p99.median) ? p99.median <= 25 : null,
      });
    }
    return {
      params: { jobs: n, ratePerSec: rate, reps: ctx.reps, task: 'date +%s%N (exec)' },
      metrics,
      raw: Object.fromEntries(stores.map((s) => [s, runs.get(s)])),
      tables: [table],
      targets,
      notes: [
        'Targets are judged on the task clock: the time the task process itself printed, minus the time the client sent the POST (same machine, same wall clock).',
        "Client-clock times are when the event reached a client following /api/v1/events?follow=true: they include the server's event stream delay.",
      ],
    };
  },
};
