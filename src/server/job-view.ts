/**
 * How store records look in the API: epoch milliseconds become ISO 8601 strings, internal fields
 * are left out, and a job's detail becomes seed 001's status tree (pipelines, stages, the nodes
 * each stage runs on, the tasks on each node). Pure functions; the routes call them.
 */
import { JobhubError } from '../core/errors.js';
import type { JobStatus } from '../core/types.js';
import { isJobTerminal } from '../engine/job-state.js';
import { buildPlan } from '../plan/planner.js';
import type {
  EventRecord,
  JobDetail,
  JobRecord,
  NodeRecord,
  StoredLogLine,
  TaskRecord,
} from '../store/store.js';
import type {
  EventView,
  JobDetailView,
  JobListItem,
  JobSummary,
  LogLineView,
  NodeView,
  StageView,
  TaskView,
} from './api-schemas.js';

/** Whether a job status is final (nothing of the job runs or will run). */
export function isFinalStatus(status: JobStatus): boolean {
  return isJobTerminal(status);
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : iso(ms);
}

export function jobSummary(job: JobRecord): JobSummary {
  return {
    id: job.id,
    name: job.name,
    status: job.status,
    owner: job.owner,
    labels: job.labels,
    createdAt: iso(job.createdAt),
    startedAt: isoOrNull(job.startedAt),
    endedAt: isoOrNull(job.endedAt),
    reason: job.reason,
    waitingFor: job.waitingFor,
    stopRequested: job.stopRequested,
    retryOf: job.retryOf,
    held: job.held,
    submitter: job.submitter,
    params: job.params,
    template: job.template,
  };
}

/** The summary with only the chosen fields (and `id`); every field when `fields` is undefined. */
export function pickFields(
  summary: JobSummary,
  fields: readonly (keyof JobSummary)[] | undefined,
): JobListItem {
  if (fields === undefined) return summary;
  const out: Record<string, unknown> = { id: summary.id };
  for (const f of fields) out[f] = summary[f];
  return out as JobListItem;
}

function taskView(t: TaskRecord): TaskView {
  return {
    id: t.id,
    name: t.name,
    status: t.status,
    attempt: t.attempt,
    longRunning: t.longRunning,
    startedAt: isoOrNull(t.startedAt),
    readyAt: isoOrNull(t.readyAt),
    endedAt: isoOrNull(t.endedAt),
    exitCode: t.exitCode,
    text: t.text,
  };
}

/** Seed 001's job store: the job, its plan's levels, and per stage the nodes with their tasks. */
export function jobDetailView(detail: JobDetail): JobDetailView {
  const { job, stages, tasks } = detail;
  const plan = buildPlan(job.spec, job.placement);
  const recordByName = new Map(stages.map((s) => [s.name, s]));
  const stageViews: StageView[] = [];
  for (const p of plan.pipelines) {
    for (const ps of p.stages) {
      const st = recordByName.get(ps.name);
      if (!st) continue;
      stageViews.push({
        name: ps.name,
        type: ps.type,
        status: st.status,
        needs: ps.needs,
        startedAt: isoOrNull(st.startedAt),
        readyAt: isoOrNull(st.readyAt),
        endedAt: isoOrNull(st.endedAt),
        nodes: ps.nodes.map((n) => ({
          name: n.name,
          nodeId: n.id ?? null,
          host: n.host ?? null,
          ip: n.ip ?? null,
          tasks: tasks.filter((t) => t.stage === ps.name && t.node === n.name).map(taskView),
        })),
      });
    }
  }
  return {
    ...jobSummary(job),
    placement: job.placement,
    pipelines: plan.pipelines.map((p) => ({ name: p.name, stages: p.stages.map((s) => s.name) })),
    stages: stageViews,
  };
}

export function eventView(e: EventRecord): EventView {
  const out: EventView = { seq: e.seq, type: e.type, ts: iso(e.ts) };
  if (e.jobId !== undefined) out.jobId = e.jobId;
  if (e.nodeId !== undefined) out.nodeId = e.nodeId;
  if (e.stage !== undefined) out.stage = e.stage;
  if (e.taskId !== undefined) out.taskId = e.taskId;
  if (e.from !== undefined) out.from = e.from;
  if (e.to !== undefined) out.to = e.to;
  if (e.data !== undefined) out.data = e.data;
  return out;
}

export function taskLabel(t: Pick<TaskRecord, 'stage' | 'node' | 'name'>): string {
  return `${t.stage}/${t.node}/${t.name}`;
}

export function logLineView(l: StoredLogLine, labels: ReadonlyMap<number, string>): LogLineView {
  return {
    id: l.id,
    taskId: l.taskId,
    task: labels.get(l.taskId) ?? `task-${l.taskId}`,
    attempt: l.attempt,
    seq: l.seq,
    ts: iso(l.ts),
    stream: l.stream,
    text: l.text,
  };
}

export function nodeView(n: NodeRecord, connected: boolean): NodeView {
  const { info } = n;
  return {
    id: n.id,
    name: n.name,
    state: n.state,
    connected,
    host: info.host,
    addr: { ip: info.addr.ip, bindAddr: info.addr.bindAddr, remoteAddr: info.addr.remoteAddr },
    role: info.role,
    labels: info.labels,
    provider: info.provider,
    capacity: { cpus: info.capacity.cpus, memoryMb: info.capacity.memoryMb, slots: info.capacity.slots ?? 0 },
    capabilities: info.capabilities ?? [],
    startTime: iso(info.startTime * 1000),
    bootTime: iso(info.bootTime * 1000),
    registeredAt: iso(n.registeredAt),
    lastSeenAt: iso(n.lastSeenAt),
  };
}

/**
 * A task of a job by reference: its id, `stage/node/task`, `stage/task` or its name. Throws
 * not_found when nothing matches and bad_request when several do (naming every task).
 *
 * The same rule as `findTask` of src/cli/commands/inspect.ts.
 * TODO(cli): make inspect.ts use this function instead of its own copy.
 */
export function findTaskRef(tasks: readonly TaskRecord[], ref: string): TaskRecord {
  const parts = ref.split('/');
  const matches = tasks.filter((t) => {
    if (/^\d+$/.test(ref)) return t.id === Number(ref);
    if (parts.length === 3) return t.stage === parts[0] && t.node === parts[1] && t.name === parts[2];
    if (parts.length === 2) return t.stage === parts[0] && t.name === parts[1];
    return t.name === ref;
  });
  const [first] = matches;
  if (first && matches.length === 1) return first;
  const all = tasks.map(taskLabel).join(', ');
  if (matches.length === 0) throw new JobhubError('not_found', `no task "${ref}" in this job; tasks: ${all}`);
  throw new JobhubError(
    'bad_request',
    `"${ref}" matches ${matches.length} tasks; use stage/node/task: ${all}`,
  );
}
