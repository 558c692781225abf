/**
 * The coordinator runs jobs: it places them, decides what starts and stops (progress.ts), writes
 * every decision with its events in one transaction, then sends the commands to the agents. Agent
 * reports come back through `handleReport`. All decisions go through one serial queue.
 */
import type { AgentCommand, AgentEndpoint, AgentReport, AttemptRef, LogLine } from '../agent/protocol.js';
import { ConflictError, JobhubError, NotFoundError } from '../core/errors.js';
import type { JobStatus } from '../core/types.js';
import { taskInstances } from '../plan/graph.js';
import type { PlacementResult } from '../plan/scheduler.js';
import type { JobSpec } from '../spec/model.js';
import type { JobRecord, Store, TaskRecord } from '../store/store.js';
import { ChangeBuilder } from './change-builder.js';
import { resolveTask } from './dispatch.js';
import type { EventBus } from './event-bus.js';
import { JobRun } from './job-run.js';
import { finalJobStatus, isJobTerminal } from './job-state.js';
import { advance, type StepContext } from './progress.js';
import { SerialQueue } from './serial-queue.js';
import { isTaskActive } from './task-state.js';

/** Finds nodes for a job's assignments. */
export interface Placer {
  place(job: JobRecord): Promise<PlacementResult>;
}

export interface AgentRegistry {
  get(nodeId: string): AgentEndpoint | undefined;
}

export interface CoordinatorOptions {
  store: Store;
  bus: EventBus;
  placer: Placer;
  agents: AgentRegistry;
  /** Default Date.now. */
  now?: () => number;
  /** Time between SIGTERM and SIGKILL when tasks are stopped. Default 10s. */
  stopGraceMs?: number;
  /** How long to wait for agents to confirm a job's leftover processes are gone. Default 15s. */
  cleanupTimeoutMs?: number;
  /** Where unexpected internal errors are reported. Default: stderr. */
  onError?: (err: unknown) => void;
}

export interface SubmitInput {
  spec: JobSpec;
  rawSpec: string;
  retryOf?: number | null;
}

export class Coordinator {
  private readonly store: Store;
  private readonly bus: EventBus;
  private readonly placer: Placer;
  private readonly agents: AgentRegistry;
  private readonly now: () => number;
  private readonly stopGraceMs: number;
  private readonly cleanupTimeoutMs: number;
  private readonly onError: (err: unknown) => void;
  private readonly queue = new SerialQueue();
  private readonly runs = new Map<number, JobRun>();
  private readonly waiters = new Map<number, Array<(job: JobRecord) => void>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(opts: CoordinatorOptions) {
    this.store = opts.store;
    this.bus = opts.bus;
    this.placer = opts.placer;
    this.agents = opts.agents;
    this.now = opts.now ?? Date.now;
    this.stopGraceMs = opts.stopGraceMs ?? 10_000;
    this.cleanupTimeoutMs = opts.cleanupTimeoutMs ?? 15_000;
    this.onError =
      opts.onError ?? ((err) => process.stderr.write(`jobhub: internal error: ${String(err)}\n`));
  }

  /** Creates the job in the store and starts running it. */
  async submit(input: SubmitInput): Promise<JobRecord> {
    const spec = input.spec;
    const detail = await this.store.createJob({
      name: spec.name,
      owner: spec.owner ?? null,
      labels: spec.labels,
      rawSpec: input.rawSpec,
      spec,
      createdAt: this.now(),
      retryOf: input.retryOf ?? null,
      stages: spec.stages.map((s) => ({ name: s.name, index: s.index })),
      tasks: taskInstances(spec).map((i) => ({
        stage: i.stage.name,
        node: i.node,
        name: i.task.name,
        index: i.task.index,
        longRunning: i.task.longRunning,
      })),
    });
    const submitted = await this.store.listEvents({ jobId: detail.job.id, limit: 10 });
    this.bus.publish({ kind: 'events', events: submitted });
    const run = new JobRun(detail);
    this.runs.set(run.id, run);
    void this.step(run.id);
    return detail.job;
  }

  /** Stops a job: queued tasks are skipped, running ones get SIGTERM, then SIGKILL after the grace
   * period (at once with `force`). */
  requestStop(jobId: number, reason: string, opts: { force?: boolean } = {}): Promise<void> {
    return this.queue.run(async () => {
      const run = this.runs.get(jobId);
      if (!run) {
        const job = await this.store.getJob(jobId);
        if (!job) throw new NotFoundError(`job ${jobId}`);
        throw new ConflictError(`job ${jobId} is already ${job.status}`, { status: job.status });
      }
      if (run.job.stopRequested && !opts.force) return;
      const b = new ChangeBuilder(this.now());
      const kills: Outbox = [];
      if (!run.job.stopRequested) {
        run.endReason ??= `stopped: ${reason}`;
        b.jobFields(
          run,
          { stopRequested: true },
          { type: 'job.stop_requested', ts: b.now, jobId, data: { reason } },
        );
      }
      if (opts.force) {
        for (const t of run.tasks) {
          if (!isTaskActive(t.status)) continue;
          run.stopSent.add(t.id);
          const nodeId = t.nodeId;
          if (nodeId)
            this.send(nodeId, { type: 'task.stop', ref: refOf(t), reason: `forced: ${reason}`, graceMs: 0 });
        }
      }
      await this.decide(run, b, kills);
    });
  }

  /** Resolves with the job once it has ended. */
  waitForEnd(jobId: number): Promise<JobRecord> {
    return new Promise((resolve, reject) => {
      const run = this.runs.get(jobId);
      if (run) {
        const list = this.waiters.get(jobId) ?? [];
        list.push(resolve);
        this.waiters.set(jobId, list);
        return;
      }
      this.store.getJob(jobId).then((job) => {
        if (!job) reject(new NotFoundError(`job ${jobId}`));
        else if (isJobTerminal(job.status)) resolve(job);
        else
          reject(
            new JobhubError('conflict', `job ${jobId} is ${job.status} but not run by this coordinator`),
          );
      }, reject);
    });
  }

  /** Entry point for everything agents report. */
  handleReport(nodeId: string, report: AgentReport): void {
    if (report.type === 'log') {
      void this.queue.run(() => this.storeLogs(report.lines)).catch(this.onError);
      return;
    }
    if (report.type === 'job.cleaned') {
      void this.queue
        .run(async () => {
          const run = this.runs.get(report.jobId);
          if (!run?.cleanupPending) return;
          run.cleanupPending.delete(nodeId);
          if (run.cleanupPending.size === 0) await this.decide(run, new ChangeBuilder(this.now()));
        })
        .catch(this.onError);
      return;
    }
    if (report.type === 'task.started') return; // the dispatch already recorded the start
    void this.queue.run(() => this.applyTaskReport(report)).catch(this.onError);
  }

  /** Stops timers; jobs stay as they are in the store. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await this.queue.idle();
  }

  activeJobIds(): number[] {
    return [...this.runs.keys()];
  }

  private step(jobId: number): Promise<void> {
    return this.queue
      .run(async () => {
        const run = this.runs.get(jobId);
        if (run) await this.decide(run, new ChangeBuilder(this.now()));
      })
      .catch(this.onError);
  }

  private async applyTaskReport(
    report: Exclude<AgentReport, { type: 'log' | 'task.started' | 'job.cleaned' }>,
  ): Promise<void> {
    const run = this.runs.get(report.ref.jobId);
    const task = run?.task(report.ref.taskId);
    if (!run || !task || task.attempt !== report.ref.attempt || !isTaskActive(task.status)) return; // superseded
    const b = new ChangeBuilder(this.now());
    if (report.type === 'task.ready') {
      if (task.status === 'running') b.task(run, task, 'ready', { readyAt: report.ts });
    } else {
      run.stopSent.delete(task.id);
      const patch = { endedAt: report.ts, exitCode: report.exitCode, text: report.text };
      if (report.outcome === 'succeeded' || report.outcome === 'stopped') {
        b.task(run, task, report.outcome, patch);
      } else if (this.mayRetry(run, task)) {
        const spec = run.taskSpec(task).retries;
        const delay = Math.min(spec.backoffMs * 2 ** (task.attempt - 1), spec.maxBackoffMs);
        const text = `attempt ${task.attempt} failed: ${report.text}; retrying in ${delay}ms`;
        b.task(run, task, 'queued', { ...patch, text }, { retryInMs: delay });
        run.retryAt.set(task.id, b.now + delay);
        this.later(delay, () => {
          run.retryAt.delete(task.id);
          void this.step(run.id);
        });
      } else {
        b.task(run, task, 'failed', patch);
      }
    }
    await this.decide(run, b);
  }

  private mayRetry(run: JobRun, task: TaskRecord): boolean {
    if (run.job.stopRequested || run.job.status !== 'running') return false;
    if (task.longRunning && task.readyAt !== null) return false; // a service that died mid-run is not restarted
    return task.attempt <= run.taskSpec(task).retries.count;
  }

  /** Places a queued job, advances it, commits, then sends the commands. */
  private async decide(run: JobRun, b: ChangeBuilder, outbox: Outbox = []): Promise<void> {
    const commands: Outbox = [...outbox];
    if (run.job.status === 'queued' && !run.job.stopRequested) {
      const placed = await this.place(run, b);
      if (!placed) {
        await this.commit(run, b);
        return;
      }
    }
    const ctx: StepContext = {
      b,
      now: b.now,
      start: (r, task) => {
        const placed = r.placed(task.node);
        const ref: AttemptRef = { jobId: r.id, taskId: task.id, attempt: task.attempt + 1 };
        const endpoint = placed ? this.agents.get(placed.nodeId) : undefined;
        if (!placed || !endpoint) {
          b.task(r, task, 'failed', { endedAt: b.now, text: `node ${task.node} is not connected` });
          return;
        }
        const resolved = resolveTask(r, task, r.taskSpec(task), ref);
        b.task(r, task, 'running', {
          attempt: ref.attempt,
          nodeId: placed.nodeId,
          startedAt: b.now,
          readyAt: null,
          endedAt: null,
          exitCode: null,
        });
        commands.push([placed.nodeId, { type: 'task.start', ref, task: resolved }]);
      },
      stop: (r, task, reason) => {
        r.stopSent.add(task.id);
        if (task.nodeId) {
          commands.push([
            task.nodeId,
            { type: 'task.stop', ref: refOf(task), reason, graceMs: this.stopGraceMs },
          ]);
        }
      },
    };
    const complete = advance(run, ctx);
    if (complete) this.finish(run, b, commands);
    await this.commit(run, b);
    for (const [nodeId, cmd] of commands) this.send(nodeId, cmd);
    if (isJobTerminal(run.job.status)) this.forget(run);
  }

  private async place(run: JobRun, b: ChangeBuilder): Promise<boolean> {
    const result = await this.placer.place(run.job);
    if (!result.ok) {
      if (run.job.waitingFor !== result.reason) {
        b.jobFields(
          run,
          { waitingFor: result.reason },
          {
            type: 'job.waiting',
            ts: b.now,
            jobId: run.id,
            data: { waitingFor: result.reason },
          },
        );
      }
      return false;
    }
    b.jobFields(
      run,
      { placement: result.placement, waitingFor: null },
      {
        type: 'job.placed',
        ts: b.now,
        jobId: run.id,
        data: { placement: result.placement },
      },
    );
    b.job(run, 'running', { startedAt: b.now });
    return true;
  }

  /** Every task has ended: make sure no process of the job is left, then give the final status. */
  private finish(run: JobRun, b: ChangeBuilder, commands: Outbox): void {
    if (run.cleanupPending === null) {
      const nodes = new Set(run.tasks.map((t) => t.nodeId).filter((n): n is string => n !== null));
      run.cleanupPending = nodes;
      for (const nodeId of nodes)
        commands.push([nodeId, { type: 'job.cleanup', jobId: run.id, graceMs: this.stopGraceMs }]);
      if (nodes.size > 0) {
        this.later(this.cleanupTimeoutMs, () => {
          if (run.cleanupPending && run.cleanupPending.size > 0) {
            run.cleanupPending.clear();
            void this.step(run.id);
          }
        });
        return;
      }
    }
    if (run.cleanupPending.size > 0) return;
    const final: JobStatus = finalJobStatus(
      run.tasks.map((t) => t.status),
      run.job.stopRequested,
    );
    b.job(run, final, { endedAt: b.now, reason: final === 'succeeded' ? null : run.endReason });
  }

  private async commit(run: JobRun, b: ChangeBuilder): Promise<void> {
    b.deriveStages();
    if (b.empty) return;
    try {
      const events = await this.store.applyChanges(b.changes);
      this.bus.publish({ kind: 'events', events });
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      // The store disagrees with memory (another writer, or a bug): the store wins.
      const detail = await this.store.getJobDetail(run.id);
      if (detail) this.runs.set(run.id, new JobRun(detail));
      throw err;
    }
  }

  private async storeLogs(lines: LogLine[]): Promise<void> {
    const rows = lines.map((l) => ({
      jobId: l.ref.jobId,
      taskId: l.ref.taskId,
      attempt: l.ref.attempt,
      seq: l.seq,
      ts: l.ts,
      stream: l.stream,
      text: l.text,
    }));
    await this.store.appendLogs(rows);
    this.bus.publish({ kind: 'logs', lines: rows });
  }

  private send(nodeId: string, cmd: AgentCommand): void {
    const endpoint = this.agents.get(nodeId);
    if (endpoint) endpoint.send(cmd);
  }

  private later(ms: number, fn: () => void): void {
    if (this.closed) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private forget(run: JobRun): void {
    this.runs.delete(run.id);
    const list = this.waiters.get(run.id) ?? [];
    this.waiters.delete(run.id);
    for (const resolve of list) resolve(run.job);
  }
}

/** Commands to send, by node, once the decision that made them is committed. */
type Outbox = Array<[nodeId: string, command: AgentCommand]>;

function refOf(task: TaskRecord): AttemptRef {
  return { jobId: task.jobId, taskId: task.id, attempt: task.attempt };
}
