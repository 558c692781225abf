/**
 * What the fault tests on one agent share: a server with one agent (its output printed when the
 * test fails), jobs submitted and awaited through the plain API, ticking jobs (support/overlap.ts),
 * and the end of every fault test: the invariant checks asserted and the fault row recorded.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, expect, onTestFailed } from 'vitest';
import {
  api,
  eventually,
  type Proc,
  type ServerProc,
  startAgent,
  startServer,
} from '../../helpers/cluster.js';
import { tempDir } from '../../helpers/embedded.js';
import { recordFaults } from './fault-report.js';
import { checkAll, type Expectation, type JobView, type LinePlan } from './invariants.js';
import { checkNoOverlap, tickingCommand } from './overlap.js';

/** The processes a test file starts, SIGKILLed after each test. Call once per file, at its top. */
export function killedAfterEach(): Proc[] {
  const procs: Proc[] = [];
  afterEach(async () => {
    await Promise.all(procs.splice(0).map((p) => p.kill('SIGKILL')));
  });
  return procs;
}

export async function submitJob(server: string, spec: string): Promise<number> {
  return (await api<{ id: number }>(server, 'POST', '/api/v1/jobs', spec)).id;
}

const FINAL: ReadonlySet<string> = new Set(['succeeded', 'failed', 'stopped']);

/** Waits (60 s at most) until the job has a final status. */
export function finished(server: string, id: number): Promise<JobView> {
  return eventually(async () => {
    const j = await api<JobView>(server, 'GET', `/api/v1/jobs/${id}`);
    return FINAL.has(j.status) ? j : undefined;
  }, 60_000);
}

/** Waits until the job has stored at least `n` log lines. */
export async function linesStored(server: string, id: number, n: number): Promise<void> {
  await eventually(async () => {
    const r = await api<{ lines: unknown[] }>(server, 'GET', `/api/v1/jobs/${id}/logs?limit=1000`);
    return r.lines.length >= n ? true : undefined;
  });
}

/** A new file for ticking tasks to tick into. */
export function tickFile(): string {
  return path.join(tempDir('jobhub-ticks-'), 'ticks');
}

/**
 * A one-task job (task `t`) printing `lines` numbered lines and ticking into `ticks`.
 * `retries`: default 0. `stubborn`: the task ignores SIGTERM (a stop takes the whole grace, then
 * SIGKILL); default false.
 */
export function tickingJob(
  name: string,
  ticks: string,
  lines: number,
  opts: { retries?: number; stubborn?: boolean } = {},
): string {
  const retries = opts.retries ?? 0;
  const retry = retries > 0 ? `, retries: {count: ${retries}, backoff: 100ms}` : '';
  const command = `${opts.stubborn ? "trap '' TERM; " : ''}${tickingCommand(ticks, lines)}`;
  return `name: ${name}\nstages: [{name: s, tasks: [{name: t${retry}, shell: {command: ${JSON.stringify(command)}}}]}]\n`;
}

export interface OneAgentCluster {
  server: ServerProc;
  agent: Proc & { dataDir: string };
  /** The agent's node id, as the server lists it and as the agent keeps it in its data folder. */
  nodeId: string;
  /** A tick file for tickingJob. */
  ticks: string;
}

/**
 * A server (with `serverArgs`) and one agent, connected; the agent reaches the server at the URL
 * `agentUrl` gives (default: the server's own, e.g. a proxy in front of it otherwise). Both are
 * pushed to `procs`, and their output is printed if the test fails.
 */
export async function startOneAgentCluster(
  procs: Proc[],
  serverArgs: string[],
  agentUrl: (server: ServerProc) => Promise<string> | string = (server) => server.url,
): Promise<OneAgentCluster> {
  const server = await startServer({ args: serverArgs });
  procs.push(server);
  const agent = startAgent({ server: await agentUrl(server) });
  procs.push(agent);
  onTestFailed(() => {
    console.log(`server said:\n${server.out().slice(-3000)}\nagent said:\n${agent.out().slice(-3000)}`);
  });
  const nodeId = await eventually(async () => {
    const r = await api<{ results: Array<{ id: string; connected: boolean; state: string }> }>(
      server.url,
      'GET',
      '/api/v1/nodes',
    );
    const n = r.results[0];
    return n?.connected && n.state !== 'down' ? n.id : undefined;
  });
  expect(readFileSync(path.join(agent.dataDir, 'node-id'), 'utf8').trim()).toBe(nodeId);
  return { server, agent, nodeId, ticks: tickFile() };
}

/** One fault test's run, to check and record. */
export interface FaultRun {
  /** The row's kind in the summary table (fault-report.ts). */
  kind: string;
  /** How many faults were injected. */
  injected: number;
  /** Each job's expected final state. */
  expected: ReadonlyMap<number, Expectation>;
  /** How many numbered lines each task prints. */
  plan: LinePlan;
  /** The nodes whose task processes must all be gone. */
  nodeIds: readonly string[];
  /** The tick file of ticking tasks: no two attempts of a task may overlap. Default: not checked. */
  ticks?: string;
  /** What clients saw that must not be (5xx answers), recorded as server errors. Default: none. */
  clientErrors?: readonly string[];
}

/**
 * The end of a fault test: every invariant checked (checkAll, and the overlap check with `ticks`),
 * the fault row recorded (before the assertions, so a failing run shows in the table too), then
 * asserted: no problem, no client error. Returns what was read, for the test's own checks.
 */
export async function checkFaultRun(server: string, run: FaultRun) {
  const { records, result, lines } = await checkAll(server, run.expected, run.plan, run.nodeIds);
  const overlap = run.ticks === undefined ? undefined : checkNoOverlap(run.ticks);
  recordFaults({
    kind: run.kind,
    injected: run.injected,
    jobs: run.expected.size,
    linesChecked: lines.checked,
    lost: result.lost,
    doubled: result.doubled + (overlap?.doubled ?? 0),
    leaked: result.leaked,
    serverErrors: run.clientErrors?.length ?? 0,
  });
  expect(result.problems).toEqual([]);
  if (overlap) expect(overlap.problems).toEqual([]);
  if (run.clientErrors) expect(run.clientErrors).toEqual([]);
  return { records, lines, overlap };
}
