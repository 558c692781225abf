/**
 * Read commands: `jobs`, `show`, `logs`, `events`. Against a server when one is configured (see
 * remote.ts), else over the local data folder's store, so they work after a `jobhub run` has
 * exited. `-f` follows: a server streams; a local store is read again as it grows.
 */
import { JobhubError } from '../../core/errors.js';
import { parseLabelPairs } from '../../core/labels.js';
import { JOB_STATUSES, type JobStatus } from '../../core/types.js';
import { findTaskRef } from '../../server/job-view.js';
import type { JobSpec } from '../../spec/model.js';
import type { EventRecord, Store } from '../../store/store.js';
import { clock, elapsed, paint, type Style, statusText, table, time } from '../format.js';
import { type CliIO, println, styleOf } from '../io.js';
import { describeEvent, renderTree } from '../live-view.js';
import { getDetail, openExistingStore, parseJobId } from '../open-store.js';
import { detailFromView, eventFromView, type RemoteFlags, remoteClient } from '../remote.js';

interface SourceOpts extends RemoteFlags {
  data?: string;
}

const FINAL: ReadonlySet<string> = new Set(['succeeded', 'failed', 'stopped']);
const POLL_MS = 200;

async function withStore<T>(opts: SourceOpts, io: CliIO, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openExistingStore({ data: opts.data }, io);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

export interface JobsOptions extends SourceOpts {
  status?: string[];
  name?: string;
  owner?: string;
  /** Only jobs submitted from this template. */
  template?: string;
  label?: string[];
  limit?: string;
  start?: string;
  json?: boolean;
}

interface JobRow {
  id: number;
  name?: string | undefined;
  status?: string | undefined;
  createdAt: number | null;
  startedAt: number | null;
  endedAt: number | null;
  reason?: string | null | undefined;
  waitingFor?: string | null | undefined;
}

export async function jobsCommand(opts: JobsOptions, io: CliIO): Promise<number> {
  const status = (opts.status ?? []).flatMap((s) => s.split(',')).filter((s) => s !== '');
  for (const s of status) {
    if (!JOB_STATUSES.includes(s as JobStatus)) {
      throw new JobhubError('bad_request', `unknown status "${s}": use ${JOB_STATUSES.join(', ')}`);
    }
  }
  const limit = opts.limit === undefined ? 100 : positive(opts.limit, '--limit');
  const start = opts.start === undefined ? 1 : positive(opts.start, '--start');
  const labels = parseLabelPairs(opts.label);
  const client = remoteClient(opts, io);
  let rows: JobRow[];
  let json: unknown;
  if (client) {
    const page = await client.listJobs({
      limit,
      start,
      ...(status.length ? { status: status as JobStatus[] } : {}),
      ...(opts.name ? { name: opts.name } : {}),
      ...(opts.owner ? { owner: opts.owner } : {}),
      ...(opts.template ? { template: opts.template } : {}),
      ...(opts.label?.length ? { label: opts.label } : {}),
    });
    json = page;
    rows = page.results.map((j) => ({
      ...j,
      createdAt: j.createdAt ? Date.parse(j.createdAt) : null,
      startedAt: j.startedAt ? Date.parse(j.startedAt) : null,
      endedAt: j.endedAt ? Date.parse(j.endedAt) : null,
    }));
  } else {
    const jobs = await withStore(opts, io, (store) =>
      store.listJobs({
        status: status as JobStatus[],
        limit,
        start,
        ...(opts.name ? { name: opts.name } : {}),
        ...(opts.owner ? { owner: opts.owner } : {}),
        ...(opts.template ? { template: opts.template } : {}),
        ...(Object.keys(labels).length ? { labels } : {}),
      }),
    );
    json = jobs.map(({ rawSpec: _raw, spec: _spec, ...rest }) => rest);
    rows = jobs;
  }
  if (opts.json) {
    println(io.stdout, JSON.stringify(json, null, 2));
    return 0;
  }
  const style = styleOf(io);
  const now = Date.now();
  println(
    io.stdout,
    table(
      ['ID', 'NAME', 'STATUS', 'CREATED', 'DURATION', 'REASON'],
      rows.map((j) => [
        String(j.id),
        j.name ?? '',
        statusText(style, j.status ?? ''),
        time(j.createdAt),
        elapsed(j.startedAt, j.endedAt, now),
        j.reason ?? j.waitingFor ?? '',
      ]),
    ),
  );
  return 0;
}

export async function showCommand(
  idText: string,
  opts: SourceOpts & { json?: boolean },
  io: CliIO,
): Promise<number> {
  const id = parseJobId(idText);
  const client = remoteClient(opts, io);
  const style = styleOf(io);
  if (client) {
    const view = await client.getJob(id);
    if (opts.json) {
      println(io.stdout, JSON.stringify(view, null, 2));
      return 0;
    }
    const { spec } = await client.getSpec(id);
    println(
      io.stdout,
      renderTree(detailFromView(view, spec as unknown as JobSpec), style, Date.now()).join('\n'),
    );
    printFacts(io, style, detailFromView(view, spec as unknown as JobSpec));
    return 0;
  }
  return withStore(opts, io, async (store) => {
    const detail = await getDetail(store, id);
    if (opts.json) println(io.stdout, JSON.stringify(detail, null, 2));
    else {
      println(io.stdout, renderTree(detail, style, Date.now()).join('\n'));
      printFacts(io, style, detail);
    }
    return 0;
  });
}

function printFacts(io: CliIO, style: Style, detail: Awaited<ReturnType<typeof getDetail>>): void {
  const { job } = detail;
  println(
    io.stdout,
    paint(
      style,
      'gray',
      `created ${time(job.createdAt)}  started ${time(job.startedAt) || '-'}  ended ${time(job.endedAt) || '-'}`,
    ),
  );
  if (job.template) println(io.stdout, `template ${job.template.name}@${job.template.version}`);
  const params = Object.entries(job.params ?? {});
  if (params.length > 0)
    println(io.stdout, `params ${params.map(([k, v]) => `${k}=${String(v)}`).join(' ')}`);
  for (const p of job.placement ?? []) {
    println(
      io.stdout,
      paint(style, 'gray', `node ${p.assignment}: ${p.nodeName} (${p.nodeId}) ${p.ip} role ${p.role}`),
    );
  }
  for (const t of detail.tasks.filter((x) => x.exitCode !== null && x.exitCode !== 0)) {
    println(io.stdout, `${t.stage}/${t.node}/${t.name}: exit code ${t.exitCode}`);
  }
}

export interface LogsOptions extends SourceOpts {
  task?: string;
  timestamps?: boolean;
  follow?: boolean;
}

interface PrintableLine {
  task: string;
  ts: number;
  text: string;
}

export async function logsCommand(idText: string, opts: LogsOptions, io: CliIO): Promise<number> {
  const id = parseJobId(idText);
  const style = styleOf(io);
  const client = remoteClient(opts, io);
  let prefix = !opts.task;
  const print = (lines: PrintableLine[]) => {
    let out = '';
    for (const l of lines) {
      const ts = opts.timestamps ? `${paint(style, 'gray', clock(l.ts))} ` : '';
      const who = prefix ? paint(style, 'cyan', `[${l.task}] `) : '';
      out += `${ts}${who}${l.text}\n`;
    }
    if (out) io.stdout.write(out);
  };
  if (client) {
    const lines = (l: { task: string; ts: string; text: string }) => ({
      task: l.task,
      ts: Date.parse(l.ts),
      text: l.text,
    });
    if (opts.follow) {
      for await (const l of client.followJobLogs(id, opts.task ? { task: opts.task } : {})) print([lines(l)]);
      return 0;
    }
    let after = 0;
    for (;;) {
      const page = await client.jobLogs(id, {
        after,
        limit: 5000,
        ...(opts.task ? { task: opts.task } : {}),
      });
      print(page.lines.map(lines));
      if (page.next === null || page.lines.length === 0) return 0;
      after = page.next;
    }
  }
  return withStore(opts, io, async (store) => {
    const detail = await getDetail(store, id);
    const one = opts.task ? findTaskRef(detail.tasks, opts.task) : undefined;
    prefix = one === undefined && detail.tasks.length > 1;
    const label = new Map(detail.tasks.map((t) => [t.id, `${t.stage}/${t.node}/${t.name}`]));
    let afterId = 0;
    for (;;) {
      const rows = await store.readLogs({
        jobId: id,
        afterId,
        limit: 5000,
        ...(one ? { taskId: one.id } : {}),
      });
      if (rows.length > 0) {
        afterId = rows[rows.length - 1]?.id ?? afterId;
        print(rows.map((l) => ({ task: label.get(l.taskId) ?? String(l.taskId), ts: l.ts, text: l.text })));
        continue;
      }
      if (!opts.follow) return 0;
      const job = await store.getJob(id);
      if (job && FINAL.has(job.status)) {
        // One last read: lines written just before the job's end.
        const last = await store.readLogs({ jobId: id, afterId, ...(one ? { taskId: one.id } : {}) });
        if (last.length === 0) return 0;
        continue;
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  });
}

export async function eventsCommand(
  idText: string | undefined,
  opts: SourceOpts & { json?: boolean; follow?: boolean },
  io: CliIO,
): Promise<number> {
  const id = idText === undefined ? undefined : parseJobId(idText);
  const style = styleOf(io);
  const print = (e: EventRecord) =>
    println(io.stdout, opts.json ? JSON.stringify(e) : describeEvent(e, style));
  const client = remoteClient(opts, io);
  if (client) {
    if (opts.follow) {
      const stream = id === undefined ? client.followEvents() : client.followJobEvents(id);
      for await (const e of stream) print(eventFromView(e));
      return 0;
    }
    let after = 0;
    for (;;) {
      const page = id === undefined ? await client.events({ after }) : await client.jobEvents(id, { after });
      for (const e of page.events) print(eventFromView(e));
      if (page.next === null || page.events.length === 0) return 0;
      after = page.next;
    }
  }
  return withStore(opts, io, async (store) => {
    if (id !== undefined) await getDetail(store, id);
    let afterSeq = 0;
    for (;;) {
      const events = await store.listEvents({
        afterSeq,
        limit: 1000,
        ...(id !== undefined ? { jobId: id } : {}),
      });
      for (const e of events) print(e);
      if (events.length > 0) {
        afterSeq = events[events.length - 1]?.seq ?? afterSeq;
        continue;
      }
      if (!opts.follow) return 0;
      if (id !== undefined) {
        const job = await store.getJob(id);
        if (job && FINAL.has(job.status)) return 0;
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  });
}

function positive(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new JobhubError('bad_request', `${flag} must be a positive whole number`);
  return n;
}
