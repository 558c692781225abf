/**
 * 4. Multi-stage: the example benchmark's job shape (bench/specs/multistage.yaml: a long-running
 * task with a readiness probe on node db, loaders on two loader nodes in parallel, a stopper, a
 * report) on three agents. N jobs submitted at once: jobs/s. Overhead per stage transition: from
 * the moment the work of the stages a stage needs was done (tasks' exit or readiness as their agent
 * reported it) to the moment the stage's own work began (its tasks print their start time);
 * measured on jobs run one at a time (an idle cluster), and also for the concurrent batch (where it
 * includes waiting for a free slot).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  api,
  finishedOf,
  type JobDetail,
  jobCounts,
  startAgent,
  startServer,
  submit,
  submitMany,
  waitFinished,
  waitForNodes,
} from '../lib/jobhub.js';
import { sleep } from '../lib/procs.js';
import type { Ctx, Scenario, ScenarioResult, Table } from '../lib/scenario.js';
import { dist, fmt, type Metric, metric } from '../lib/stats.js';
import { CONCURRENCY } from './throughput.js';

const SPEC = readFileSync(path.resolve(import.meta.dirname, '../specs/multistage.yaml'), 'utf8');

/** The stopper stage of the spec, and the stage whose long-running task it stops. */
const STOPS: Record<string, string> = { stop_server: 'start_server' };

type Stage = JobDetail['stages'][number];

function tasksOf(s: Stage) {
  return s.nodes.flatMap((n) => n.tasks.map((t) => ({ ...t, label: `${s.name}/${n.name}/${t.name}` })));
}

/**
 * Stage transition gaps (ms) of one finished job: when a stage's work began (the earliest time its
 * tasks printed; for the stopper, when the task it stops ended) minus when the work of the stages it
 * needs was done (the agent-reported end of their tasks, or readiness of a long-running one).
 */
function transitions(job: JobDetail, printed: Map<string, number>): number[] {
  const byName = new Map(job.stages.map((s) => [s.name, s]));
  const stoppedEnd = (stopper: string) => {
    const target = byName.get(STOPS[stopper] ?? '');
    const ends = target ? tasksOf(target).map((t) => (t.endedAt ? Date.parse(t.endedAt) : Number.NaN)) : [];
    return ends.length ? Math.max(...ends) : Number.NaN;
  };
  const done = (s: Stage) => {
    if (STOPS[s.name]) return stoppedEnd(s.name);
    const ts = tasksOf(s).map((t) => {
      const at = t.longRunning ? t.readyAt : t.endedAt;
      return at ? Date.parse(at) : Number.NaN;
    });
    return Math.max(...ts);
  };
  const began = (s: Stage) => {
    if (STOPS[s.name]) return stoppedEnd(s.name);
    return Math.min(...tasksOf(s).map((t) => printed.get(t.label) ?? Number.NaN));
  };
  const out: number[] = [];
  for (const s of job.stages) {
    if (s.needs.length === 0) continue;
    const needed = s.needs.map((n) => byName.get(n)).filter((x): x is Stage => x !== undefined);
    out.push(began(s) - Math.max(...needed.map(done)));
  }
  return out;
}

/** When each task's process started, by its own clock: `stage/node/task` → epoch ms. */
async function printedStarts(server: string, id: number): Promise<Map<string, number>> {
  const r = await api<{ lines: Array<{ task: string; stream: string; text: string }> }>(
    server,
    'GET',
    `/api/v1/jobs/${id}/logs`,
  );
  const out = new Map<string, number>();
  for (const l of r.lines) {
    const text = l.text.trim();
    if (l.stream === 'stdout' && /^\d{19}$/.test(text)) out.set(l.task, Number(BigInt(text) / 1000n) / 1000);
  }
  return out;
}

function makespan(job: JobDetail): number {
  return job.endedAt ? Date.parse(job.endedAt) - Date.parse(job.createdAt) : Number.NaN;
}

async function runOnce(ctx: Ctx, n: number, sequential: number, tag: string) {
  const { scope } = ctx;
  const server = await startServer(scope, { store: 'sqlite', dataDir: scope.tempDir(`server-${tag}`) });
  const agents = ['database', 'loader', 'loader'].map((role, i) =>
    startAgent(scope, server, {
      dataDir: scope.tempDir(`agent-${tag}-${i}`),
      concurrency: CONCURRENCY,
      role,
      name: `${role}-${i}`,
      args: ['--stop-grace', '2s'],
    }),
  );
  try {
    await waitForNodes(server.url, 3);
    // Warm-up, then jobs one at a time.
    await submit(server.url, SPEC);
    await waitFinished(server.url, 1, 30_000, 10);
    const seqIds: number[] = [];
    for (let i = 0; i < sequential; i++) {
      const base = finishedOf(await jobCounts(server.url));
      seqIds.push(await submit(server.url, SPEC));
      await waitFinished(server.url, base + 1, 30_000, 5);
    }
    await sleep(200);
    // The batch: all at once.
    const base = finishedOf(await jobCounts(server.url));
    const { ids, firstAt } = await submitMany(server.url, SPEC, n, 16);
    const done = await waitFinished(server.url, base + n, ctx.quick ? 60_000 : 240_000, 20);
    const seconds = (done.at - firstAt) / 1000;
    const details = async (list: number[]) => {
      const out: Array<{ job: JobDetail; printed: Map<string, number> }> = [];
      for (const id of list)
        out.push({
          job: await api<JobDetail>(server.url, 'GET', `/api/v1/jobs/${id}`),
          printed: await printedStarts(server.url, id),
        });
      return out;
    };
    const seqJobs = await details(seqIds);
    const batchJobs = await details(ids);
    const failed = [...seqJobs, ...batchJobs].filter((j) => j.job.status !== 'succeeded').length;
    return {
      jobsPerSec: n / seconds,
      seqTransition: dist(seqJobs.flatMap((j) => transitions(j.job, j.printed))),
      seqMakespan: dist(seqJobs.map((j) => makespan(j.job))),
      batchTransition: dist(batchJobs.flatMap((j) => transitions(j.job, j.printed))),
      batchMakespan: dist(batchJobs.map((j) => makespan(j.job))),
      failed,
    };
  } finally {
    await Promise.all([...agents.map((a) => a.stop()), server.proc.stop()]);
  }
}

export const multistage: Scenario = {
  name: 'multistage',
  title: '4. Multi-stage',
  timeoutMs: (quick) => (quick ? 60_000 : 15 * 60_000),
  async run(ctx): Promise<ScenarioResult> {
    const n = ctx.quick ? 40 : 200;
    const sequential = ctx.quick ? 5 : 20;
    const runs: Awaited<ReturnType<typeof runOnce>>[] = [];
    for (let rep = 0; rep < ctx.reps; rep++) {
      const r = await runOnce(ctx, n, sequential, `ms${rep}`);
      runs.push(r);
      ctx.log(
        `  rep ${rep + 1}/${ctx.reps}: ${fmt(r.jobsPerSec)} jobs/s; transition p50 ${fmt(r.seqTransition.p50)} ms one at a time, ` +
          `${fmt(r.batchTransition.p50)} ms in the batch${r.failed ? `; ${r.failed} jobs FAILED` : ''}`,
      );
    }
    const metrics: Record<string, Metric> = {
      jobsPerSec: metric(
        'jobs/s',
        'higher',
        runs.map((r) => r.jobsPerSec),
      ),
      'sequential.transition.p50': metric(
        'ms',
        'lower',
        runs.map((r) => r.seqTransition.p50),
      ),
      'sequential.transition.p99': metric(
        'ms',
        'lower',
        runs.map((r) => r.seqTransition.p99),
      ),
      'sequential.makespan.p50': metric(
        'ms',
        'lower',
        runs.map((r) => r.seqMakespan.p50),
      ),
      'batch.transition.p50': metric(
        'ms',
        'lower',
        runs.map((r) => r.batchTransition.p50),
      ),
      'batch.transition.p99': metric(
        'ms',
        'lower',
        runs.map((r) => r.batchTransition.p99),
      ),
      'batch.makespan.p50': metric(
        'ms',
        'lower',
        runs.map((r) => r.batchMakespan.p50),
      ),
      failed: metric(
        'jobs',
        'lower',
        runs.map((r) => r.failed),
      ),
    };
    const cell = (k: string) => {
      const m = metrics[k] as Metric;
      return ctx.reps > 1 ? `${fmt(m.median)} (${fmt(m.min)}–${fmt(m.max)})` : fmt(m.median);
    };
    const table: Table = {
      title: `Multi-stage: the example benchmark shape (6 stages, 3 nodes), ${n} jobs at once; ${sequential} one at a time`,
      head: ['measure', 'value'],
      rows: [
        ['jobs/s (batch of ' + n + ')', cell('jobsPerSec')],
        ['stage transition p50, one job at a time (ms)', cell('sequential.transition.p50')],
        ['stage transition p99, one job at a time (ms)', cell('sequential.transition.p99')],
        ['job makespan p50, one job at a time (ms)', cell('sequential.makespan.p50')],
        ['stage transition p50, in the batch (ms)', cell('batch.transition.p50')],
        ['stage transition p99, in the batch (ms)', cell('batch.transition.p99')],
        ['jobs not succeeded', cell('failed')],
      ],
    };
    return {
      params: {
        jobs: n,
        sequential,
        agents: 3,
        concurrency: CONCURRENCY,
        reps: ctx.reps,
        spec: 'bench/specs/multistage.yaml',
      },
      metrics,
      raw: { runs },
      tables: [table],
      notes: [
        'A transition runs from the agent-reported exit (or readiness) of the last task a stage waits for to the start its first task printed (`date +%s%N`); for the stopper, to the moment the stopped task ended. 4 per job; ms resolution on the agent side.',
        'The long-running task is `sleep 600` with a command probe (`true`, interval 100 ms); the stopper ends it with SIGTERM.',
      ],
    };
  },
};
