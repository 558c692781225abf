/**
 * What `jobhub run` shows while a job runs. On a terminal: a tree of pipelines, stages, nodes and
 * tasks with status, duration and the last log line of running tasks, redrawn in place. Otherwise
 * one line per event; with --json, one JSON object per event.
 */
import type { Writable } from 'node:stream';
import type { BusMessage, EventBus } from '../engine/event-bus.js';
import { buildPlan } from '../plan/planner.js';
import type { EventRecord, JobDetail, Store } from '../store/store.js';
import { clock, elapsed, mark, paint, type Style, statusText, truncate } from './format.js';

export type ViewMode = 'tty' | 'lines' | 'json';

export interface LiveViewOptions {
  store: Store;
  bus: EventBus;
  out: Writable;
  mode: ViewMode;
  style: Style;
  /** Terminal width, for cutting lines (wrapped lines would break redrawing). Default 100. */
  columns?: () => number;
  /** Redraw period on a terminal. Default 100ms. */
  refreshMs?: number;
}

export class LiveView {
  private readonly lastLine = new Map<number, string>();
  private unsubscribe: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private drawnLines = 0;
  private dirty = true;
  private drawing = false;
  private jobId: number | undefined;
  /** Messages that arrived before the job's id was known (its submission). */
  private early: BusMessage[] = [];

  constructor(private readonly opts: LiveViewOptions) {}

  /** Starts listening; call before submitting, so the submission's own events are shown too. */
  listen(): void {
    this.unsubscribe = this.opts.bus.subscribe((m) => {
      if (this.jobId === undefined) this.early.push(m);
      else this.onMessage(m);
    });
  }

  /** Shows the job from now on (and what it did since `listen`). */
  follow(jobId: number): void {
    this.jobId = jobId;
    for (const m of this.early) this.onMessage(m);
    this.early = [];
    if (this.opts.mode === 'tty') {
      this.timer = setInterval(() => void this.draw(), this.opts.refreshMs ?? 100);
      void this.draw();
    }
  }

  /** Stops listening and draws the final state once more. */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    if (this.timer) clearInterval(this.timer);
    if (this.opts.mode === 'tty') {
      this.dirty = true;
      while (this.drawing) await new Promise((r) => setTimeout(r, 5));
      await this.draw(true);
    }
  }

  private onMessage(m: BusMessage): void {
    if (m.kind === 'logs') {
      for (const l of m.lines) if (l.jobId === this.jobId) this.lastLine.set(l.taskId, l.text);
      this.dirty = true;
      return;
    }
    for (const e of m.events) {
      if (e.jobId !== undefined && e.jobId !== this.jobId) continue;
      if (this.opts.mode === 'json') this.opts.out.write(`${JSON.stringify(e)}\n`);
      else if (this.opts.mode === 'lines') this.opts.out.write(`${describeEvent(e, this.opts.style)}\n`);
    }
    this.dirty = true;
  }

  private async draw(final = false): Promise<void> {
    if (!this.dirty || this.drawing) return;
    this.drawing = true;
    this.dirty = false;
    try {
      if (this.jobId === undefined) return;
      const detail = await this.opts.store.getJobDetail(this.jobId);
      if (!detail) return;
      const width = Math.max(40, (this.opts.columns?.() ?? 100) - 1);
      const lines = renderTree(detail, this.opts.style, Date.now(), final ? new Map() : this.lastLine).map(
        (l) => truncate(l, width),
      );
      const up = this.drawnLines > 0 ? `\x1b[${this.drawnLines}A\r\x1b[J` : '';
      this.opts.out.write(`${up}${lines.join('\n')}\n`);
      this.drawnLines = lines.length;
    } finally {
      this.drawing = false;
    }
  }
}

/** The job as a tree: pipelines, stages, nodes, tasks. Also used by `jobhub show`. */
export function renderTree(
  detail: JobDetail,
  style: Style,
  now: number,
  lastLine = new Map<number, string>(),
): string[] {
  const { job, stages, tasks } = detail;
  const out: string[] = [];
  const head = `${mark(style, job.status)} job ${job.id} ${paint(style, 'bold', job.name)}  ${statusText(style, job.status)}  ${elapsed(job.startedAt ?? job.createdAt, job.endedAt, now)}`;
  out.push(head);
  if (job.waitingFor) out.push(`  waiting for: ${job.waitingFor}`);
  const plan = buildPlan(job.spec, job.placement);
  const stageByName = new Map(stages.map((s) => [s.name, s]));
  for (const p of plan.pipelines) {
    out.push(`  ${paint(style, 'gray', 'pipeline')} ${p.name}`);
    for (const ps of p.stages) {
      const st = stageByName.get(ps.name);
      if (!st) continue;
      out.push(
        `    ${mark(style, st.status)} ${ps.name}  ${statusText(style, st.status)}  ${elapsed(st.startedAt, st.endedAt, now)}`,
      );
      const stageTasks = tasks.filter((t) => t.stage === ps.name);
      const nameWidth = Math.max(...stageTasks.map((t) => t.name.length));
      for (const node of ps.nodes) {
        const nodeLabel = node.ip ? `${node.name} ${paint(style, 'gray', node.ip)}` : node.name;
        out.push(`        ${nodeLabel}`);
        for (const t of stageTasks.filter((x) => x.node === node.name)) {
          const active = t.status === 'running' || t.status === 'ready';
          let line = `          ${mark(style, t.status)} ${t.name.padEnd(nameWidth)}  ${statusText(style, t.status).padEnd(style.color ? 19 : 9)} ${elapsed(t.startedAt, t.endedAt, now).padStart(7)}`;
          if (t.attempt > 1) line += paint(style, 'gray', `  attempt ${t.attempt}`);
          if (active && lastLine.has(t.id)) line += paint(style, 'gray', `  │ ${lastLine.get(t.id)}`);
          else if (!active && t.text && t.status !== 'succeeded') line += paint(style, 'gray', `  ${t.text}`);
          out.push(line);
        }
      }
    }
  }
  if (job.reason && job.status !== 'running') out.push(`  ${paint(style, 'gray', 'reason:')} ${job.reason}`);
  return out;
}

export function describeEvent(e: EventRecord, style: Style): string {
  const at = paint(style, 'gray', clock(e.ts));
  const data = e.data ?? {};
  const text = typeof data.text === 'string' ? `: ${data.text}` : '';
  switch (e.type) {
    case 'job.submitted':
      return `${at} job ${e.jobId} submitted`;
    case 'job.status':
      return `${at} job ${e.jobId} ${statusText(style, e.to ?? '')}${typeof data.reason === 'string' ? `: ${data.reason}` : ''}`;
    case 'job.placed':
      return `${at} job ${e.jobId} placed`;
    case 'job.waiting':
      return `${at} job ${e.jobId} waiting for ${String(data.waitingFor)}`;
    case 'job.stop_requested':
      return `${at} job ${e.jobId} stop requested: ${String(data.reason)}`;
    case 'job.released':
      return `${at} job ${e.jobId} released`;
    case 'job.deleted':
      return `${at} job ${e.jobId} deleted, with its ${String(data.files)} file(s)`;
    case 'lock.acquired':
      return `${at} job ${e.jobId} took lock ${String(data.lock)} (${String(data.mode)})`;
    case 'lock.released':
      return `${at} job ${e.jobId} released lock ${String(data.lock)}`;
    case 'lock.broken':
      return `${at} lock ${String(data.lock)} of job ${e.jobId} broken by ${String(data.by)}`;
    case 'stage.status':
      return `${at} stage ${e.stage} ${statusText(style, e.to ?? '')}`;
    case 'task.status': {
      const label = `${e.stage}/${String(data.node)}/${String(data.task)}`;
      const attempt = e.to === 'running' ? ` (attempt ${String(data.attempt)})` : '';
      return `${at} task ${label} ${statusText(style, e.to ?? '')}${attempt}${text}`;
    }
    case 'task.superseded':
      return `${at} task ${e.taskId} report superseded (attempt ${String(data.attempt)}): ${String(data.report)}`;
    case 'audit':
      return `${at} audit: ${String(data.actor)} ${String(data.action)}${e.jobId !== undefined ? ` job ${e.jobId}` : ''}`;
    case 'node.registered':
      return `${at} node ${e.nodeId} registered`;
    case 'node.state':
      return `${at} node ${e.nodeId} ${statusText(style, e.to ?? '')}`;
  }
}
