/**
 * The invariants every fault test checks after its faults, read back through the real API (any
 * server or replica) and /proc. Each checker returns what it counted and a list of problems (empty
 * when the invariant holds), so a test can both assert and report its numbers (fault-report.ts).
 *
 * Tasks of the job mixes print numbered lines (`line 1`, `line 2`, ...): that is what lets
 * checkLogsExactlyOnce count lost and doubled lines.
 */
import { findTaggedPids } from '../../../src/agent/reaper.js';
import type { JobStatus, TaskStatus } from '../../../src/core/types.js';
import { canTransitionJob, isJobTerminal } from '../../../src/engine/job-state.js';
import { canTransitionTask } from '../../../src/engine/task-state.js';
import { ADMIN } from '../../helpers/cluster.js';

/** What a checker found: counts for the summary table, problems for the assertion. */
export interface CheckResult {
  /** Items checked (jobs, lines, events, locks or processes, by checker). */
  checked: number;
  lost: number;
  doubled: number;
  leaked: number;
  /** One sentence per violation; empty when the invariant holds. */
  problems: string[];
}

export interface TaskView {
  id: number;
  name: string;
  status: TaskStatus;
  attempt: number;
  longRunning: boolean;
  exitCode: number | null;
  text: string | null;
}

export interface JobView {
  id: number;
  name: string;
  status: JobStatus;
  reason: string | null;
  waitingFor?: string | null;
  stages: Array<{
    name: string;
    status: string;
    nodes: Array<{ name: string; nodeId: string | null; tasks: TaskView[] }>;
  }>;
}

export interface EventView {
  seq: number;
  type: string;
  jobId?: number;
  taskId?: number;
  stage?: string;
  from?: string;
  to?: string;
  data?: Record<string, unknown>;
}

export interface LogLineView {
  id: number;
  taskId: number;
  task: string;
  attempt: number;
  seq: number;
  stream: string;
  text: string;
}

/** Everything the checkers need about one job, read in one go. */
export interface JobRecordRead {
  job: JobView;
  events: EventView[];
  lines: LogLineView[];
}

const FINAL: ReadonlySet<string> = new Set(['succeeded', 'failed', 'stopped']);

export function emptyResult(): CheckResult {
  return { checked: 0, lost: 0, doubled: 0, leaked: 0, problems: [] };
}

/** Sums results (for one row of the summary table). */
export function mergeResults(...results: CheckResult[]): CheckResult {
  const out = emptyResult();
  for (const r of results) {
    out.checked += r.checked;
    out.lost += r.lost;
    out.doubled += r.doubled;
    out.leaked += r.leaked;
    out.problems.push(...r.problems);
  }
  return out;
}

async function getJson<T>(server: string, route: string): Promise<T> {
  const res = await fetch(`${server}${route}`, { headers: { 'x-api-token': ADMIN } });
  const text = await res.text();
  if (!res.ok) throw new Error(`GET ${route}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

/** A job, all its events and all its log lines (every page). */
export async function readJob(server: string, id: number): Promise<JobRecordRead> {
  const job = await getJson<JobView>(server, `/api/v1/jobs/${id}`);
  const events: EventView[] = [];
  for (let after: number | null = 0; after !== null; ) {
    const page: { events: EventView[]; next: number | null } = await getJson(
      server,
      `/api/v1/jobs/${id}/events?after=${after}&limit=1000`,
    );
    events.push(...page.events);
    after = page.next;
  }
  const lines: LogLineView[] = [];
  for (let after: number | null = 0; after !== null; ) {
    const page: { lines: LogLineView[]; next: number | null } = await getJson(
      server,
      `/api/v1/jobs/${id}/logs?after=${after}&limit=1000`,
    );
    lines.push(...page.lines);
    after = page.next;
  }
  return { job, events, lines };
}

export function tasksOf(
  job: JobView,
): Array<TaskView & { stage: string; node: string; nodeId: string | null }> {
  return job.stages.flatMap((s) =>
    s.nodes.flatMap((n) => n.tasks.map((t) => ({ ...t, stage: s.name, node: n.name, nodeId: n.nodeId }))),
  );
}

/** What a job must end as: a status, or a test of the whole job (e.g. a reason naming a signal). */
export type Expectation = JobStatus | ((job: JobView) => string | undefined);

/**
 * Every job is in a final state, and the one expected. A job missing (404) counts as lost; a job
 * still active counts as lost too (it never reached its end).
 */
export function checkFinalStates(
  jobs: readonly JobRecordRead[],
  expected: ReadonlyMap<number, Expectation>,
): CheckResult {
  const r = emptyResult();
  const byId = new Map(jobs.map((j) => [j.job.id, j.job]));
  for (const [id, want] of expected) {
    r.checked++;
    const job = byId.get(id);
    if (!job) {
      r.lost++;
      r.problems.push(`job ${id}: not found`);
      continue;
    }
    if (!FINAL.has(job.status)) {
      r.lost++;
      r.problems.push(`job ${id} (${job.name}): still ${job.status}`);
      continue;
    }
    const why =
      typeof want === 'string'
        ? job.status === want
          ? undefined
          : `${job.status} (${job.reason ?? 'no reason'}), expected ${want}`
        : want(job);
    if (why) r.problems.push(`job ${id} (${job.name}): ${why}`);
  }
  return r;
}

/** How many numbered lines each task prints, by task name; tasks not listed are not counted. */
export type LinePlan = ReadonlyMap<string, number>;

/**
 * Each task's attempt stored `line 1`..`line n` exactly once and in order. A task that succeeded
 * must have all n lines (each was acknowledged to its agent before the task could be reported
 * done); one that did not finish well (lost, stopped, failed by a signal) may stop early, but what
 * it has must be a prefix with no gap and no double. Lines that are not `line <n>` are ignored.
 */
export function checkLogsExactlyOnce(record: JobRecordRead, plan: LinePlan): CheckResult {
  const r = emptyResult();
  const { job, lines } = record;
  const ids = lines.map((l) => l.id);
  for (let i = 1; i < ids.length; i++) {
    if ((ids[i] ?? 0) <= (ids[i - 1] ?? 0)) r.problems.push(`job ${job.id}: log ids not increasing at ${i}`);
  }
  for (const task of tasksOf(job)) {
    const want = plan.get(task.name);
    if (want === undefined) continue;
    const mine = lines.filter((l) => l.taskId === task.id && l.attempt === task.attempt);
    const numbers = mine.flatMap((l) => {
      const m = /^line (\d+)$/.exec(l.text);
      return m ? [Number(m[1])] : [];
    });
    const label = `job ${job.id} task ${task.stage}/${task.node}/${task.name}#${task.attempt} (${task.status})`;
    const seen = new Set<number>();
    let doubled = 0;
    for (const n of numbers) {
      if (seen.has(n)) doubled++;
      seen.add(n);
    }
    const complete = task.status === 'succeeded';
    const top = complete ? want : Math.max(0, ...numbers);
    let lost = 0;
    for (let n = 1; n <= top; n++) if (!seen.has(n)) lost++;
    const inOrder = numbers.every((n, i) => i === 0 || n > (numbers[i - 1] ?? 0));
    r.checked += seen.size;
    r.lost += lost;
    r.doubled += doubled;
    if (lost) r.problems.push(`${label}: ${lost} of lines 1..${top} missing`);
    if (doubled) r.problems.push(`${label}: ${doubled} lines stored twice`);
    if (!inOrder && !doubled) r.problems.push(`${label}: lines out of order: ${numbers.join(',')}`);
    if (numbers.some((n) => n > want)) r.problems.push(`${label}: a line number above ${want}`);
  }
  return r;
}

/**
 * The job's events are complete and in order: seq strictly increasing; the job's and each task's
 * status events form one chain of allowed transitions from `queued` to the status the job view
 * shows (so none is missing, repeated or out of order); the job's final status event comes after
 * every task's; and each lock acquired is released exactly once, after it was acquired, when the
 * job is over.
 */
export function checkEventOrder(record: JobRecordRead): CheckResult {
  const r = emptyResult();
  const { job, events } = record;
  const label = `job ${job.id} (${job.name})`;
  r.checked += events.length;
  for (let i = 1; i < events.length; i++) {
    const a = events[i - 1];
    const b = events[i];
    if (a && b && b.seq <= a.seq) {
      if (b.seq === a.seq) r.doubled++;
      r.problems.push(`${label}: event seq ${b.seq} after ${a.seq}`);
    }
  }
  if (events[0]?.type !== 'job.submitted')
    r.problems.push(`${label}: first event is ${events[0]?.type}, not job.submitted`);

  let jobAt: string = 'queued';
  let jobEndSeq = -1;
  for (const e of events.filter((x) => x.type === 'job.status')) {
    if (e.from !== jobAt || !canTransitionJob(e.from as JobStatus, e.to as JobStatus)) {
      r.problems.push(`${label}: job.status ${e.from}->${e.to} at seq ${e.seq} while ${jobAt}`);
    }
    jobAt = e.to ?? jobAt;
    if (e.to && isJobTerminal(e.to as JobStatus)) jobEndSeq = e.seq;
  }
  if (jobAt !== job.status) {
    r.lost++;
    r.problems.push(`${label}: job events end at ${jobAt}, the job is ${job.status}`);
  }

  for (const task of tasksOf(job)) {
    let at: string = 'queued';
    let lastSeq = -1;
    for (const e of events.filter((x) => x.type === 'task.status' && x.taskId === task.id)) {
      if (e.from !== at || !canTransitionTask(e.from as TaskStatus, e.to as TaskStatus)) {
        r.problems.push(`${label} task ${task.id}: ${e.from}->${e.to} at seq ${e.seq} while ${at}`);
      }
      at = e.to ?? at;
      lastSeq = e.seq;
    }
    if (at !== task.status) {
      r.lost++;
      r.problems.push(
        `${label} task ${task.stage}/${task.name}: events end at ${at}, the task is ${task.status}`,
      );
    }
    if (jobEndSeq >= 0 && lastSeq > jobEndSeq) {
      r.problems.push(`${label} task ${task.id}: a status event (seq ${lastSeq}) after the job ended`);
    }
  }

  const held = new Map<string, number>();
  for (const e of events) {
    const lock = typeof e.data?.lock === 'string' ? e.data.lock : undefined;
    if (!lock) continue;
    if (e.type === 'lock.acquired') {
      if (held.has(lock)) {
        r.doubled++;
        r.problems.push(`${label}: ${lock} acquired twice (seq ${e.seq})`);
      }
      held.set(lock, e.seq);
    } else if (e.type === 'lock.released' || e.type === 'lock.broken') {
      if (!held.has(lock) && e.type === 'lock.released') {
        r.doubled++;
        r.problems.push(`${label}: ${lock} released without being held (seq ${e.seq})`);
      }
      held.delete(lock);
    }
  }
  if (FINAL.has(job.status)) {
    // Counted as leaked by checkNoLockHeldByFinishedJob; here it is only a problem of the history.
    for (const [lock, seq] of held) {
      r.problems.push(`${label}: ${lock} acquired at seq ${seq} never released, job ${job.status}`);
    }
  }
  return r;
}

interface LockListing {
  results: Array<{ name: string; holders: Array<{ jobId: number | null }> }>;
}

/**
 * No lock is held by a finished job: neither in the server's lock listing nor in the job's events
 * (every lock.acquired of a finished job has its lock.released).
 */
export async function checkNoLockHeldByFinishedJob(
  server: string,
  jobs: readonly JobRecordRead[],
): Promise<CheckResult> {
  const r = emptyResult();
  const finished = new Map(jobs.filter((j) => FINAL.has(j.job.status)).map((j) => [j.job.id, j]));
  const listing = await getJson<LockListing>(server, '/api/v1/locks');
  for (const lock of listing.results) {
    for (const h of lock.holders) {
      r.checked++;
      if (h.jobId !== null && finished.has(h.jobId)) {
        r.leaked++;
        r.problems.push(`lock ${lock.name} listed as held by finished job ${h.jobId}`);
      }
    }
  }
  for (const { job, events } of finished.values()) {
    const balance = new Map<string, number>();
    for (const e of events) {
      const lock = typeof e.data?.lock === 'string' ? e.data.lock : undefined;
      if (!lock) continue;
      if (e.type === 'lock.acquired') balance.set(lock, (balance.get(lock) ?? 0) + 1);
      if (e.type === 'lock.released' || e.type === 'lock.broken')
        balance.set(lock, (balance.get(lock) ?? 0) - 1);
    }
    for (const [lock, n] of balance) {
      r.checked++;
      if (n > 0) {
        r.leaked++;
        r.problems.push(`job ${job.id} (${job.status}) still holds ${lock} by its events`);
      }
    }
  }
  return r;
}

/**
 * No task process of the given nodes is left (processes carry JOBHUB_TASK_TAG=<nodeId>/<jobId>/...,
 * see src/agent/reaper.ts). Pass the node ids of the test's own agents: other tests' tasks may run
 * on this machine at the same time. Waits up to `graceMs` for processes being stopped to go
 * (default 5000 ms, more than the test agents' 1 s stop grace), then names what is left.
 */
export async function checkNoTaskProcessLeft(
  nodeIds: readonly string[],
  opts: { graceMs?: number } = {},
): Promise<CheckResult> {
  const r = emptyResult();
  const deadline = Date.now() + (opts.graceMs ?? 5000);
  let left: number[] = [];
  for (;;) {
    left = nodeIds.flatMap((id) => findTaggedPids(`${id}/`));
    if (left.length === 0 || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  r.checked = nodeIds.length;
  r.leaked = left.length;
  if (left.length) r.problems.push(`task processes left: pids ${left.join(', ')}`);
  return r;
}

/** Reads every job and runs the per-job checkers; the common end of a fault test. */
export async function checkAll(
  server: string,
  expected: ReadonlyMap<number, Expectation>,
  plan: LinePlan,
  nodeIds: readonly string[],
): Promise<{ records: JobRecordRead[]; result: CheckResult; lines: CheckResult }> {
  const records = await Promise.all([...expected.keys()].map((id) => readJob(server, id)));
  const states = checkFinalStates(records, expected);
  const lines = mergeResults(...records.map((rec) => checkLogsExactlyOnce(rec, plan)));
  const events = mergeResults(...records.map((rec) => checkEventOrder(rec)));
  const locks = await checkNoLockHeldByFinishedJob(server, records);
  const procs = await checkNoTaskProcessLeft(nodeIds);
  const result = mergeResults(states, lines, events, locks, procs);
  return { records, result, lines };
}
