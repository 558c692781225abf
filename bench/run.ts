/**
 * The benchmark harness: `npm run bench` (full), `npm run bench -- --quick` (short),
 * `--only=throughput,latency` (a selection), `--no-build` (skip `npm run build`),
 * `--update-readme` (rewrite the README block between the bench markers with the results).
 *
 * Builds jobhub, then runs each scenario with its own time limit; a scenario that fails or times
 * out is reported and the next one runs. Everything a scenario started (processes, schemas, Redis
 * keys, temp folders) is removed when it ends, and again on exit or Ctrl-C.
 * Results: bench/results/latest.json (raw) and bench/results/latest.md (tables).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getJobhubRoot, ROOT, setJobhubRoot } from './lib/jobhub.js';
import { killEverythingNow, setMarker } from './lib/procs.js';
import { markdownTable, ratioTable, targetTable, textTable } from './lib/report.js';
import type { Ctx, Ratio, Scenario, ScenarioResult, Target } from './lib/scenario.js';
import { Scope } from './lib/scope.js';
import { PG_URL, pgQuery, pgVersion, REDIS_URL, redisDeletePrefix, redisVersion } from './lib/services.js';
import { agents } from './scenarios/agents.js';
import { cost } from './scenarios/cost.js';
import { latency } from './scenarios/latency.js';
import { logs } from './scenarios/logs.js';
import { multistage } from './scenarios/multistage.js';
import { storeScale } from './scenarios/store-scale.js';
import { throughput } from './scenarios/throughput.js';

const SCENARIOS: Scenario[] = [throughput, latency, cost, multistage, storeScale, agents, logs];

interface Outcome {
  name: string;
  title: string;
  status: 'ok' | 'failed' | 'timeout' | 'skipped';
  error?: string;
  seconds: number;
  result?: ScenarioResult;
  cleanupProblems?: string[];
}

function parseArgs(argv: string[]) {
  const out = {
    quick: false,
    only: undefined as string[] | undefined,
    build: true,
    updateReadme: false,
    jobhub: undefined as string | undefined,
  };
  for (const a of argv) {
    if (a === '--quick') out.quick = true;
    else if (a === '--no-build') out.build = false;
    else if (a === '--update-readme') out.updateReadme = true;
    else if (a.startsWith('--jobhub=')) out.jobhub = a.slice(9);
    else if (a.startsWith('--only=')) out.only = a.slice(7).split(',').filter(Boolean);
    else if (a === '--help' || a === '-h') {
      process.stdout.write(
        'usage: npm run bench -- [--quick] [--only=name,...] [--no-build] [--update-readme] [--jobhub=DIR]\n' +
          `scenarios: ${SCENARIOS.map((s) => s.name).join(', ')}\n`,
      );
      process.exit(0);
    } else {
      process.stderr.write(`unknown argument ${a} (try --help)\n`);
      process.exit(2);
    }
  }
  if (out.only) {
    const unknown = out.only.filter((n) => !SCENARIOS.some((s) => s.name === n));
    if (unknown.length) {
      process.stderr.write(
        `unknown scenario(s): ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}\n`,
      );
      process.exit(2);
    }
  }
  return out;
}

function gitCommit(dir: string): { commit: string; dirty: boolean } {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], {
      cwd: dir,
      encoding: 'utf8',
      stdio: 'pipe',
    }).trim();
    const status = execFileSync('git', ['status', '--porcelain', '--', 'src'], {
      cwd: dir,
      encoding: 'utf8',
      stdio: 'pipe',
    });
    return { commit, dirty: status.trim().length > 0 };
  } catch {
    return { commit: 'unknown', dirty: false };
  }
}

function version(pkg: string): string {
  try {
    const p = JSON.parse(readFileSync(path.join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as {
      version: string;
    };
    return p.version;
  } catch {
    return 'missing';
  }
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<{ value: T } | { timeout: true }> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.then((value) => ({ value })),
    new Promise<{ timeout: true }>((resolve) => {
      timer = setTimeout(() => resolve({ timeout: true }), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const runId = randomBytes(3).toString('hex');
  setMarker(`jobhub-bench-${runId}`);
  const tmpRoot = path.join(os.tmpdir(), `jobhub-bench-${runId}`);
  mkdirSync(tmpRoot, { recursive: true });
  const logRoot = path.join(tmpRoot, 'logs');
  const log = (line: string) => process.stdout.write(`${line}\n`);

  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) process.exit(130);
    interrupted = true;
    process.stderr.write(`\n${sig}: killing everything the benchmark started and dropping its schemas\n`);
    killEverythingNow();
    for (const entry of readdirSync(tmpRoot))
      if (entry !== 'logs') rmSync(path.join(tmpRoot, entry), { recursive: true, force: true });
    process.stderr.write(`process output so far: ${logRoot}\n`);
    void Promise.allSettled([
      pgQuery('SELECT nspname FROM pg_namespace WHERE nspname LIKE $1', [`bench_${runId}_%`]).then(
        async (rows) => {
          for (const r of rows) await pgQuery(`DROP SCHEMA IF EXISTS "${r.nspname}" CASCADE`);
        },
      ),
      redisDeletePrefix(`bench-${runId}-`),
    ]).finally(() => process.exit(130));
    setTimeout(() => process.exit(130), 10_000).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', () => killEverythingNow());

  const selected = SCENARIOS.filter((s) => !args.only || args.only.includes(s.name));
  log(
    `jobhub benchmark ${args.quick ? '(quick)' : '(full)'}, run ${runId}: ${selected.map((s) => s.name).join(', ')}`,
  );

  if (args.jobhub) setJobhubRoot(args.jobhub);
  const jhRoot = getJobhubRoot();
  if (jhRoot !== ROOT) log(`jobhub under test: ${jhRoot}`);
  if (args.build) {
    log('building jobhub (npm run build)...');
    const b = spawnSync('npm', ['run', 'build'], { cwd: jhRoot, encoding: 'utf8' });
    if (b.status !== 0) {
      process.stderr.write(`build failed:\n${b.stdout}\n${b.stderr}\n`);
      return 1;
    }
  }
  if (!existsSync(path.join(jhRoot, 'dist'))) {
    process.stderr.write('dist/ is missing: run without --no-build\n');
    return 1;
  }

  const cpus = os.cpus();
  const commit = gitCommit(jhRoot);
  const machine = {
    cores: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    postgres: await pgVersion(),
    redis: await redisVersion(),
    loadavgAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
  const meta = {
    date: new Date().toISOString(),
    mode: args.quick ? 'quick' : 'full',
    runId,
    jobhubDir: jhRoot,
    git: commit,
    machine,
    versions: {
      jobhub: version('../'),
      bullmq: version('bullmq'),
      ioredis: version('ioredis'),
      'graphile-worker': version('graphile-worker'),
      'pg-boss': version('pg-boss'),
    },
    services: { postgres: redact(PG_URL), redis: redact(REDIS_URL) },
  };
  log(
    `machine: ${machine.cores} cores (${machine.cpuModel}), ${machine.memoryGiB} GiB, node ${machine.node}, ` +
      `PostgreSQL ${machine.postgres}, Redis ${machine.redis}; commit ${commit.commit.slice(0, 10)}${commit.dirty ? ' + uncommitted changes in src/' : ''}`,
  );

  const stale = await pgQuery<{ nspname: string }>(
    "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'bench%' AND nspname NOT LIKE $1",
    [`bench_${runId}_%`],
  ).catch(() => [] as Array<{ nspname: string }>);
  if (stale.length > 0)
    log(
      `note: ${stale.length} schema(s) of other benchmark runs are in the database (${stale
        .slice(0, 3)
        .map((r) => r.nspname)
        .join(', ')}${stale.length > 3 ? ', ...' : ''}); drop them if no other run is going on`,
    );

  const outcomes: Outcome[] = [];
  for (const sc of selected) {
    const t0 = Date.now();
    log(`\n=== ${sc.title} (${sc.name}) ===`);
    const scope = new Scope(sc.name, tmpRoot, path.join(logRoot, sc.name));
    const ctx: Ctx = { quick: args.quick, reps: args.quick ? 1 : 3, runId, scope, log: (l) => log(l) };
    const outcome: Outcome = { name: sc.name, title: sc.title, status: 'ok', seconds: 0 };
    const running = sc.run(ctx);
    running.catch(() => {}); // a timed-out run may still reject later
    try {
      const r = await withTimeout(running, sc.timeoutMs(args.quick));
      if ('timeout' in r) {
        outcome.status = 'timeout';
        outcome.error = `did not finish within ${Math.round(sc.timeoutMs(args.quick) / 1000)}s`;
      } else outcome.result = r.value;
    } catch (err) {
      outcome.status = 'failed';
      outcome.error = err instanceof Error ? (err.stack ?? err.message) : String(err);
    }
    const problems = await scope.close();
    if (problems.length) outcome.cleanupProblems = problems;
    outcome.seconds = (Date.now() - t0) / 1000;
    outcomes.push(outcome);
    if (outcome.status !== 'ok') {
      log(
        `!!! ${sc.name} ${outcome.status.toUpperCase()}: ${outcome.error?.split('\n').slice(0, 12).join('\n    ')}`,
      );
      log(`    (process output: ${scope.logDir})`);
    } else if (outcome.result) {
      for (const t of outcome.result.tables) log(`\n${textTable(t)}`);
      for (const n of outcome.result.notes ?? []) if (n.startsWith('FAILED')) log(`!!! ${n}`);
    }
    for (const p of problems) log(`!!! ${p}`);
    log(`(${sc.name}: ${outcome.seconds.toFixed(1)}s)`);
  }

  const ratios: Ratio[] = outcomes.flatMap((o) => o.result?.ratios ?? []);
  const targets: Target[] = outcomes.flatMap((o) => o.result?.targets ?? []);
  for (const o of outcomes)
    if (o.status !== 'ok')
      targets.push({ what: `${o.title}: scenario ${o.status}`, goal: 'runs', measured: o.status, met: null });
  const totalSeconds = (Date.now() - started) / 1000;

  log(`\n${textTable(ratioTable(ratios))}`);
  log(`\n${textTable(targetTable(targets))}`);

  const resultsDir = path.join(ROOT, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const json = {
    ...meta,
    totalSeconds,
    loadavgAtEnd: os.loadavg().map((x) => Math.round(x * 100) / 100),
    scenarios: Object.fromEntries(
      outcomes.map((o) => [
        o.name,
        {
          title: o.title,
          status: o.status,
          seconds: o.seconds,
          ...(o.error ? { error: o.error } : {}),
          ...(o.cleanupProblems ? { cleanupProblems: o.cleanupProblems } : {}),
          ...(o.result
            ? { params: o.result.params, metrics: o.result.metrics, raw: o.result.raw, notes: o.result.notes }
            : {}),
        },
      ]),
    ),
    ratios,
    targets,
  };
  writeFileSync(path.join(resultsDir, 'latest.json'), `${JSON.stringify(json, null, 2)}\n`);
  const md = markdown(meta, outcomes, ratios, targets, totalSeconds);
  writeFileSync(path.join(resultsDir, 'latest.md'), md);
  if (args.updateReadme) updateReadme(md, log);

  log(`\nresults: bench/results/latest.json, bench/results/latest.md (${totalSeconds.toFixed(0)}s in all)`);
  // Keep the process logs; remove the rest of the temp folder (data dirs were removed per scenario).
  for (const o of outcomes)
    if (o.status === 'ok' && !(o.result?.notes ?? []).some((n) => n.startsWith('FAILED')))
      rmSync(path.join(logRoot, o.name), { recursive: true, force: true });
  if (existsSync(logRoot) && readdirSync(logRoot).length > 0)
    log(`process output of the failed parts: ${logRoot}`);
  else rmSync(tmpRoot, { recursive: true, force: true });
  return outcomes.every((o) => o.status === 'ok') ? 0 : 1;
}

function markdown(
  meta: {
    date: string;
    mode: string;
    git: { commit: string; dirty: boolean };
    machine: {
      cores: number;
      cpuModel: string;
      memoryGiB: number;
      node: string;
      postgres: string;
      redis: string;
    };
    versions: Record<string, string>;
  },
  outcomes: Outcome[],
  ratios: Ratio[],
  targets: Target[],
  totalSeconds: number,
): string {
  const m = meta.machine;
  const parts: string[] = [
    `Measured ${meta.date.slice(0, 10)} (${meta.mode} run, ${Math.round(totalSeconds)} s) on ${m.cores} cores ` +
      `(${m.cpuModel}), ${m.memoryGiB} GiB, Node ${m.node}, PostgreSQL ${m.postgres}, Redis ${m.redis}; ` +
      `jobhub at ${meta.git.commit.slice(0, 10)}${meta.git.dirty ? ' with uncommitted changes' : ''}; ` +
      `BullMQ ${meta.versions.bullmq}, graphile-worker ${meta.versions['graphile-worker']}, pg-boss ${meta.versions['pg-boss']}.`,
    '',
    markdownTable(targetTable(targets)),
    '',
    markdownTable(ratioTable(ratios)),
  ];
  for (const o of outcomes) {
    parts.push('', `### ${o.title}`, '');
    if (o.status !== 'ok') {
      parts.push(`**${o.status}**: ${(o.error ?? '').split('\n')[0]}`);
      continue;
    }
    for (const t of o.result?.tables ?? []) parts.push(markdownTable(t), '');
    for (const n of o.result?.notes ?? []) parts.push(`- ${n}`);
  }
  return `${parts.join('\n').trimEnd()}\n`;
}

const README_START = '<!-- bench:start -->';
const README_END = '<!-- bench:end -->';

function updateReadme(md: string, log: (l: string) => void): void {
  const file = path.join(ROOT, 'README.md');
  const text = readFileSync(file, 'utf8');
  const a = text.indexOf(README_START);
  const b = text.indexOf(README_END);
  if (a < 0 || b < a) {
    log(`README.md has no ${README_START} ... ${README_END} block: not updated`);
    return;
  }
  // The README quotes the summary (targets and ratios); the per-scenario tables stay in latest.md.
  const cut = md.indexOf('\n### ');
  const summary = cut < 0 ? md : `${md.slice(0, cut).trimEnd()}\n`;
  writeFileSync(file, `${text.slice(0, a + README_START.length)}\n${summary}${text.slice(b)}`);
  // Formatted as the project's checks want it, so an updated README keeps `npm test` green.
  const biome = path.join(ROOT, 'node_modules', '.bin', 'biome');
  if (existsSync(biome)) spawnSync(biome, ['format', '--write', file], { stdio: 'ignore' });
  log('README.md: benchmark block updated');
}

main().then(
  (code) => {
    process.exitCode = code;
    // Stray handles (pools, sockets) must not keep a finished run alive.
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (err: unknown) => {
    process.stderr.write(
      `benchmark failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    killEverythingNow();
    process.exit(1);
  },
);
