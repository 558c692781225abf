/** Read commands over the store: `jobs`, `show`, `logs`, `events`. They work after the job's
 * process has exited: everything they print comes from the store. */
import { JobhubError } from '../../core/errors.js';
import { JOB_STATUSES, type JobStatus } from '../../core/types.js';
import type { Store, TaskRecord } from '../../store/store.js';
import { clock, elapsed, paint, statusText, table, time } from '../format.js';
import { type CliIO, println, styleOf } from '../io.js';
import { describeEvent, renderTree } from '../live-view.js';
import { getDetail, openExistingStore, parseJobId } from '../open-store.js';

interface DataOpts {
  data?: string;
}

async function withStore<T>(opts: DataOpts, io: CliIO, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openExistingStore({ data: opts.data }, io);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

export interface JobsOptions extends DataOpts {
  status?: string[];
  name?: string;
  limit?: string;
  start?: string;
  json?: boolean;
}

export function jobsCommand(opts: JobsOptions, io: CliIO): Promise<number> {
  const status = (opts.status ?? []).flatMap((s) => s.split(',')).filter((s) => s !== '');
  for (const s of status) {
    if (!JOB_STATUSES.includes(s as JobStatus)) {
      throw new JobhubError('bad_request', `unknown status "${s}": use ${JOB_STATUSES.join(', ')}`);
    }
  }
  const limit = opts.limit === undefined ? 100 : positive(opts.limit, '--limit');
  const start = opts.start === undefined ? 1 : positive(opts.start, '--start');
  return withStore(opts, io, async (store) => {
    const query = { status: status as JobStatus[], limit, start, ...(opts.name ? { name: opts.name } : {}) };
    const jobs = await store.listJobs(query);
    if (opts.json) {
      println(
        io.stdout,
        JSON.stringify(
          jobs.map(({ rawSpec: _raw, spec: _spec, ...rest }) => rest),
          null,
          2,
        ),
      );
      return 0;
    }
    const style = styleOf(io);
    const now = Date.now();
    println(
      io.stdout,
      table(
        ['ID', 'NAME', 'STATUS', 'CREATED', 'DURATION', 'REASON'],
        jobs.map((j) => [
          String(j.id),
          j.name,
          statusText(style, j.status),
          time(j.createdAt),
          elapsed(j.startedAt, j.endedAt, now),
          j.reason ?? j.waitingFor ?? '',
        ]),
      ),
    );
    return 0;
  });
}

export function showCommand(idText: string, opts: DataOpts & { json?: boolean }, io: CliIO): Promise<number> {
  const id = parseJobId(idText);
  return withStore(opts, io, async (store) => {
    const detail = await getDetail(store, id);
    if (opts.json) {
      println(io.stdout, JSON.stringify(detail, null, 2));
      return 0;
    }
    const style = styleOf(io);
    const { job } = detail;
    println(io.stdout, renderTree(detail, style, Date.now()).join('\n'));
    println(
      io.stdout,
      paint(
        style,
        'gray',
        `created ${time(job.createdAt)}  started ${time(job.startedAt) || '-'}  ended ${time(job.endedAt) || '-'}`,
      ),
    );
    for (const p of job.placement ?? []) {
      println(
        io.stdout,
        paint(style, 'gray', `node ${p.assignment}: ${p.nodeName} (${p.nodeId}) ${p.ip} role ${p.role}`),
      );
    }
    const failed = detail.tasks.filter((t) => t.exitCode !== null && t.exitCode !== 0);
    for (const t of failed) println(io.stdout, `${t.stage}/${t.node}/${t.name}: exit code ${t.exitCode}`);
    return 0;
  });
}

export interface LogsOptions extends DataOpts {
  task?: string;
  timestamps?: boolean;
}

export function logsCommand(idText: string, opts: LogsOptions, io: CliIO): Promise<number> {
  const id = parseJobId(idText);
  return withStore(opts, io, async (store) => {
    const detail = await getDetail(store, id);
    const tasks = opts.task ? [findTask(detail.tasks, opts.task)] : detail.tasks;
    const byId = new Map(tasks.map((t) => [t.id, t]));
    const prefix = tasks.length > 1;
    const style = styleOf(io);
    let afterId = 0;
    for (;;) {
      const query = {
        jobId: id,
        afterId,
        limit: 5000,
        ...(tasks.length === 1 && tasks[0] ? { taskId: tasks[0].id } : {}),
      };
      const lines = await store.readLogs(query);
      if (lines.length === 0) break;
      afterId = lines[lines.length - 1]?.id ?? afterId;
      let out = '';
      for (const l of lines) {
        const t = byId.get(l.taskId);
        if (!t) continue;
        const ts = opts.timestamps ? `${paint(style, 'gray', clock(l.ts))} ` : '';
        const who = prefix ? paint(style, 'cyan', `[${t.stage}/${t.node}/${t.name}] `) : '';
        out += `${ts}${who}${l.text}\n`;
      }
      io.stdout.write(out);
    }
    return 0;
  });
}

export function eventsCommand(
  idText: string,
  opts: DataOpts & { json?: boolean },
  io: CliIO,
): Promise<number> {
  const id = parseJobId(idText);
  return withStore(opts, io, async (store) => {
    await getDetail(store, id);
    const style = styleOf(io);
    let afterSeq = 0;
    for (;;) {
      const events = await store.listEvents({ jobId: id, afterSeq, limit: 1000 });
      if (events.length === 0) break;
      afterSeq = events[events.length - 1]?.seq ?? afterSeq;
      for (const e of events) println(io.stdout, opts.json ? JSON.stringify(e) : describeEvent(e, style));
    }
    return 0;
  });
}

/** A task by `stage/node/task`, `stage/task`, task name, or id. */
export function findTask(tasks: TaskRecord[], ref: string): TaskRecord {
  const parts = ref.split('/');
  const matches = tasks.filter((t) => {
    if (/^\d+$/.test(ref)) return t.id === Number(ref);
    if (parts.length === 3) return t.stage === parts[0] && t.node === parts[1] && t.name === parts[2];
    if (parts.length === 2) return t.stage === parts[0] && t.name === parts[1];
    return t.name === ref;
  });
  const [first] = matches;
  if (first && matches.length === 1) return first;
  const all = tasks.map((t) => `${t.stage}/${t.node}/${t.name}`).join(', ');
  if (matches.length === 0) throw new JobhubError('not_found', `no task "${ref}" in this job; tasks: ${all}`);
  throw new JobhubError(
    'bad_request',
    `"${ref}" matches ${matches.length} tasks; use stage/node/task: ${all}`,
  );
}

function positive(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new JobhubError('bad_request', `${flag} must be a positive whole number`);
  return n;
}
