/**
 * 7. Logs: one task writes B bytes to stdout (100-byte lines from `yes | head -c B`); MB/s from
 * submit until every line is in the store (checked in the SQLite file itself), against the same
 * command piped to a file. Server RSS is sampled all along: it should stay flat.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { api, startAgent, startServer, submit, waitForNodes } from '../lib/jobhub.js';
import { RssSampler, rssMb, sleep } from '../lib/procs.js';
import type { Ctx, Ratio, Scenario, ScenarioResult, Table, Target } from '../lib/scenario.js';
import { ratioOf } from '../lib/scenario.js';
import { fmt, type Metric, metric } from '../lib/stats.js';

const LINE = 'x'.repeat(99);

function command(bytes: number): string {
  return `yes '${LINE}' | head -c ${bytes}`;
}

async function pipeToFile(ctx: Ctx, bytes: number): Promise<number> {
  const dir = ctx.scope.tempDir('pipe');
  const file = path.join(dir, 'out.txt');
  const t0 = performance.now();
  const p = ctx.scope.spawn('pipe-to-file', 'sh', ['-c', `${command(bytes)} > ${file}`]);
  const code = await p.exited;
  if (code !== 0) throw new Error(`pipe to file exited ${code}`);
  return (performance.now() - t0) / 1000;
}

async function intoStore(ctx: Ctx, bytes: number, timeoutMs: number, tag: string) {
  const { scope } = ctx;
  const dataDir = scope.tempDir(`server-${tag}`);
  const server = await startServer(scope, { store: 'sqlite', dataDir });
  const agent = startAgent(scope, server, { dataDir: scope.tempDir(`agent-${tag}`), concurrency: 8 });
  try {
    await waitForNodes(server.url, 1);
    await sleep(300);
    const sampler = new RssSampler([server.proc.pid, agent.pid], 100);
    const before = rssMb(server.proc.pid);
    const spec = `name: logs\nstages: [{name: s, tasks: [{name: t, shell: {command: "${command(bytes)}"}}]}]\n`;
    const t0 = performance.now();
    const id = await submit(server.url, spec);
    const lines = bytes / 100;
    const deadline = t0 + timeoutMs;
    let status = 'queued';
    while (performance.now() < deadline) {
      status = (await api<{ status: string }>(server.url, 'GET', `/api/v1/jobs/${id}`)).status;
      if (['succeeded', 'failed', 'stopped'].includes(status)) break;
      await sleep(100);
    }
    const jobDoneAt = performance.now();
    if (status !== 'succeeded') throw new Error(`the log job ended ${status}`);
    const db = new Database(path.join(dataDir, 'jobhub.db'), { readonly: true, fileMustExist: true });
    let stored = { n: 0, chars: 0 };
    try {
      const q = db.prepare(
        "SELECT count(*) AS n, coalesce(sum(length(text)), 0) AS chars FROM logs WHERE job_id = ? AND stream = 'stdout'",
      );
      for (;;) {
        stored = q.get(id) as { n: number; chars: number };
        if (stored.n >= lines || performance.now() > deadline) break;
        await sleep(100);
      }
    } finally {
      db.close();
    }
    const allAt = performance.now();
    await sleep(500);
    const rss = sampler.stop();
    const s = rss.get(server.proc.pid);
    return {
      seconds: (allAt - t0) / 1000,
      jobSeconds: (jobDoneAt - t0) / 1000,
      linesStored: stored.n,
      linesExpected: lines,
      bytesStored: stored.chars + stored.n, // with the newlines
      serverRssBeforeMb: before,
      serverRssPeakMb: s?.peak ?? Number.NaN,
      serverRssEndMb: s?.last ?? Number.NaN,
      agentRssPeakMb: rss.get(agent.pid)?.peak ?? Number.NaN,
    };
  } finally {
    await Promise.all([agent.stop(), server.proc.stop()]);
  }
}

export const logs: Scenario = {
  name: 'logs',
  title: '7. Logs',
  timeoutMs: (quick) => (quick ? 45_000 : 20 * 60_000),
  async run(ctx): Promise<ScenarioResult> {
    const bytes = ctx.quick ? 20_000_000 : 200_000_000;
    const mb = bytes / 1e6;
    const file: number[] = [];
    const store: Awaited<ReturnType<typeof intoStore>>[] = [];
    for (let rep = 0; rep < ctx.reps; rep++) {
      const f = await pipeToFile(ctx, bytes);
      file.push(mb / f);
      const s = await intoStore(ctx, bytes, ctx.quick ? 30_000 : 6 * 60_000, `logs${rep}`);
      store.push(s);
      ctx.log(
        `  rep ${rep + 1}/${ctx.reps}: pipe to file ${fmt(mb / f)} MB/s; into the store ${fmt(mb / s.seconds)} MB/s ` +
          `(${s.linesStored}/${s.linesExpected} lines); server RSS ${fmt(s.serverRssBeforeMb)} → peak ${fmt(s.serverRssPeakMb)} → ${fmt(s.serverRssEndMb)} MB`,
      );
    }
    const metrics: Record<string, Metric> = {
      'pipeToFile.mbPerSec': metric('MB/s', 'higher', file),
      'store.mbPerSec': metric(
        'MB/s',
        'higher',
        store.map((s) => (s.linesStored >= s.linesExpected ? mb / s.seconds : Number.NaN)),
      ),
      'store.linesMissing': metric(
        'lines',
        'lower',
        store.map((s) => s.linesExpected - s.linesStored),
      ),
      'server.rssBeforeMb': metric(
        'MB',
        'lower',
        store.map((s) => s.serverRssBeforeMb),
      ),
      'server.rssPeakMb': metric(
        'MB',
        'lower',
        store.map((s) => s.serverRssPeakMb),
      ),
      'server.rssEndMb': metric(
        'MB',
        'lower',
        store.map((s) => s.serverRssEndMb),
      ),
      'agent.rssPeakMb': metric(
        'MB',
        'lower',
        store.map((s) => s.agentRssPeakMb),
      ),
    };
    const cell = (k: string) => {
      const m = metrics[k] as Metric;
      return ctx.reps > 1 ? `${fmt(m.median)} (${fmt(m.min)}–${fmt(m.max)})` : fmt(m.median);
    };
    const table: Table = {
      title: `Logs: one task writing ${mb} MB to stdout in 100-byte lines (${(bytes / 100).toLocaleString('en-US')} lines)`,
      head: ['measure', 'value'],
      rows: [
        ['pipe to a file (MB/s)', cell('pipeToFile.mbPerSec')],
        ['into the jobhub store, submit → every line stored (MB/s)', cell('store.mbPerSec')],
        ['lines missing from the store', cell('store.linesMissing')],
        ['server RSS before (MB)', cell('server.rssBeforeMb')],
        ['server RSS peak (MB)', cell('server.rssPeakMb')],
        ['server RSS after (MB)', cell('server.rssEndMb')],
        ['agent RSS peak (MB)', cell('agent.rssPeakMb')],
      ],
    };
    const ratio: Ratio = ratioOf(
      'log throughput: jobhub store / pipe to file',
      metrics['store.mbPerSec'] as Metric,
      metrics['pipeToFile.mbPerSec'] as Metric,
      'higher',
    );
    const growth =
      (metrics['server.rssPeakMb'] as Metric).median - (metrics['server.rssBeforeMb'] as Metric).median;
    const targets: Target[] = [
      {
        what: 'logs: into the store vs pipe to file',
        goal: '≥ 0.5×',
        measured: `${fmt(ratio.value)}×`,
        met: Number.isFinite(ratio.value) ? ratio.value >= 0.5 : null,
      },
      {
        what: `logs: server RSS stays flat while ${mb} MB go through`,
        goal: 'flat (peak − before ≤ 50 MB)',
        measured: `+${fmt(growth)} MB`,
        met: Number.isFinite(growth) ? growth <= 50 : null,
      },
    ];
    return {
      params: { bytes, lineBytes: 100, reps: ctx.reps, store: 'sqlite' },
      metrics,
      raw: { pipeToFileMbPerSec: file, store },
      tables: [table],
      ratios: [ratio],
      targets,
      notes: [
        'The store time runs from the submit until a query on the SQLite file counts every stdout line of the job (polled every 100 ms), so it includes scheduling and the task itself.',
        '"Flat" is read as the server\'s peak RSS at most 50 MB above its RSS before the job; the numbers are shown.',
      ],
    };
  },
};
