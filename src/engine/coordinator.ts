/**
 * The coordinator runs jobs: it places them, decides what starts and stops (progress.ts), writes
 * every decision with its events in one transaction, then sends the commands to the agents. Agent
 * reports come back through `handleReport`; nodes come and go through `nodeConnected`,
 * `reconcile` and `nodeDown`. All decisions go through one serial queue.
 *
 * A decision changes memory first and commits after. When a turn fails unexpectedly (a write or read
 * of the store failed, or a bug), memory may be ahead of the store: the coordinator then refuses
 * every later turn, and whoever runs it takes the jobs up again from the store with a new one (see
 * `whenFailed` and the server's Replica).
 */
import type {
  AgentCommand,
  AgentEndpoint,
  AgentReport,
  AttemptRef,
  JobFilesInfo,
  LogLine,
} from '../agent/protocol.js';
import { ConflictError, JobhubError, NotFoundError } from '../core/errors.js';
import type { JobStatus } from '../core/types.js';
import type { PlacementResult } from '../plan/scheduler.js';
import { secretRefs } from '../spec/secrets.js';
import type { JobDetail, JobRecord, NodeRecord, Store, TaskRecord } from '../store/store.js';
import {
  type AttemptFollowUp,
  type AttemptReport,
  applyAttemptReport,
  isCurrent,
  loseTask,
  recordSuperseded,
} from './attempts.js';
import { ChangeBuilder } from './change-builder.js';
import { resolveTask } from './dispatch.js';
import type { EventBus } from './event-bus.js';
import { createJob, type SubmitInput } from './job-factory.js';
import { JobRun } from './job-run.js';
import { finalJobStatus, isJobTerminal } from './job-state.js';
import { LockTable } from './lock-table.js';
import { NodeBook } from './node-book.js';
import { advance, type StepContext } from './progress.js';
import { SerialQueue } from './serial-queue.js';
import { isTaskActive, isTaskTerminal } from './task-state.js';

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
  /** Decrypted secrets of an org, by name (jobs that use `{{.Secrets.X}}`). Default: none exist. */
  secrets?: (orgId: string, names: string[]) => Promise<Map<string, string>>;
  /**
   * The job's files as its tasks get them (inputs, workspace, the job token), made ready before the
   * job is placed: other jobs' files taken, uploads checked. A JobhubError fails the job before any
   * task runs, with its message as the reason. Default: jobs have no files.
   */
  files?: (job: JobRecord) => Promise<JobFilesInfo>;
  /** Called with each dispatch, with how long the task waited since it could run: for metrics. */
  onDispatch?: (nodeId: string, waitedMs: number) => void;
  /** Where unexpected internal errors are reported. Default: stderr. */
  onError?: (err: unknown) => void;
}

export type { SubmitInput } from './job-factory.js';

/** Someone waiting for a job's end (rejected when the coordinator fails). */
interface Waiter {
  resolve: (job: JobRecord) => void;
  reject: (err: unknown) => void;
}

/** Commands to send, by node, once the decision that made them is committed. */
type Outbox = Array<[nodeId: string, command: AgentCommand]>;

export class Coordinator {
  private readonly store: Store;
  private readonly bus: EventBus;
  private readonly placer: Placer;
  private readonly agents: AgentRegistry;
  private readonly now: () => number;
  private readonly stopGraceMs: number;
  private readonly cleanupTimeoutMs: number;
  private readonly onDispatch: (nodeId: string, waitedMs: number) => void;
  private readonly secrets: CoordinatorOptions['secrets'];
  private readonly files: CoordinatorOptions['files'];
  private readonly onError: (err: unknown) => void;
  private readonly queue = new SerialQueue();
  private readonly runs = new Map<number, JobRun>();
  private readonly nodes: NodeBook;
  private readonly locks: LockTable;
  private readonly waiters = new Map<number, Array<Waiter>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;
  /** Set by the first unexpected failure of a turn: memory is no longer trusted. */
  private failure: { err: unknown } | undefined;
  private readonly failed: Promise<unknown>;
  private signalFailed: (err: unknown) => void = () => {};

  constructor(opts: CoordinatorOptions) {
    this.store = opts.store;
    this.bus = opts.bus;
    this.placer = opts.placer;
    this.agents = opts.agents;
    this.now = opts.now ?? Date.now;
    this.stopGraceMs = opts.stopGraceMs ?? 10_000;
    this.cleanupTimeoutMs = opts.cleanupTimeoutMs ?? 15_000;
    this.onDispatch = opts.onDispatch ?? (() => {});
    this.secrets = opts.secrets;
    this.files = opts.files;
    this.onError =
      opts.onError ?? ((err) => process.stderr.write(`jobhub: internal error: ${String(err)}\n`));
    this.nodes = new NodeBook(this.store);
    this.locks = new LockTable(this.store);
    this.failed = new Promise((resolve) => {
      this.signalFailed = resolve;
    });
  }

  /**
   * Resolves with the error once a turn failed unexpectedly (see the file's comment): from then on
   * every call is refused with `unavailable`, and the jobs must be taken up by a new coordinator.
   */
  whenFailed(): Promise<unknown> {
    return this.failed;
  }

  /** The nodes the store says run tasks of this coordinator's jobs (after `resume`). */
  nodesWithActiveTasks(): string[] {
    const nodes = new Set<string>();
    for (const run of this.runs.values())
      for (const t of run.tasks) if (t.nodeId && isTaskActive(t.status)) nodes.add(t.nodeId);
    return [...nodes];
  }

  /** Takes up every job the store has as active (after a restart) and carries on with them. */
  resume(): Promise<number[]> {
    return this.turn(async () => {
      const counts = new Map<string, number>();
      for (const id of await this.store.listActiveJobIds()) {
        if (this.runs.has(id)) continue;
        const detail = await this.store.getJobDetail(id);
        if (!detail) continue;
        const run = new JobRun(detail);
        this.runs.set(id, run);
        await this.locks.restore(run);
        for (const t of run.tasks) {
          if (t.nodeId && isTaskActive(t.status)) counts.set(t.nodeId, (counts.get(t.nodeId) ?? 0) + 1);
        }
        for (const p of run.job.placement ?? []) await this.nodes.load(p.nodeId);
      }
      this.nodes.recount(counts);
      const ids = [...this.runs.keys()];
      for (const id of ids) void this.step(id);
      return ids;
    });
  }

  /** Creates the job in the store and starts running it. */
  async submit(input: SubmitInput): Promise<JobRecord> {
    const detail = await createJob(this.store, input, this.now());
    const submitted = await this.store.listEvents({ jobId: detail.job.id, limit: 10 });
    this.bus.publish({ kind: 'events', events: submitted });
    this.track(detail);
    return detail.job;
  }

  /** Takes up a job another server replica created (or one this coordinator missed). */
  adopt(jobId: number): Promise<void> {
    return this.turn(async () => {
      if (this.runs.has(jobId)) return;
      const detail = await this.store.getJobDetail(jobId);
      if (!detail || isJobTerminal(detail.job.status)) return;
      this.track(detail);
    });
  }

  private track(detail: JobDetail): void {
    const run = new JobRun(detail);
    this.runs.set(run.id, run);
    void this.step(run.id);
  }

  /** Submits the spec of a job again, as a new job linked by `retryOf` (seed 002's retry). */
  async retry(jobId: number, submitter?: string | null): Promise<JobRecord> {
    const job = await this.store.getJob(jobId);
    if (!job) throw new NotFoundError(`job ${jobId}`);
    return this.submit({
      spec: job.spec,
      rawSpec: job.rawSpec,
      retryOf: job.id,
      owner: job.owner,
      submitter: submitter ?? job.submitter,
      // The spec is the one stored, with its params bound: the retry runs with the same values.
      params: job.params,
      template: job.template,
    });
  }

  /** Stops a job: queued tasks are skipped, running ones get SIGTERM, then SIGKILL after the grace
   * period (at once with `force`). */
  requestStop(jobId: number, reason: string, opts: { force?: boolean } = {}): Promise<void> {
    return this.turn(async () => {
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
          if (!isTaskActive(t.status) || !t.nodeId) continue;
          run.stopSent.add(t.id);
          kills.push([
            t.nodeId,
            { type: 'task.stop', ref: refOf(t), reason: `forced: ${reason}`, graceMs: 0 },
          ]);
        }
      }
      await this.decide(run, b, kills);
    });
  }

  /**
   * Releases a held job (`hold=true` at submission, inputs uploaded since): it is placed and runs.
   * ConflictError when it is not held (released already, or ended).
   */
  release(jobId: number): Promise<JobRecord> {
    return this.turn(async () => {
      const run = this.runs.get(jobId);
      if (!run) {
        const job = await this.store.getJob(jobId);
        if (!job) throw new NotFoundError(`job ${jobId}`);
        throw new ConflictError(`job ${jobId} is ${job.status} and not held`, { status: job.status });
      }
      if (!run.job.held) {
        throw new ConflictError(`job ${jobId} is not held (released already)`, { status: run.job.status });
      }
      const b = new ChangeBuilder(this.now());
      b.jobFields(run, { held: false, waitingFor: null }, { type: 'job.released', ts: b.now, jobId });
      await this.decide(run, b);
      return run.job;
    });
  }

  /** Drains a node (no new work; what runs finishes), or ends its draining. */
  setDraining(nodeId: string, draining: boolean): Promise<NodeRecord> {
    return this.turn(async () => {
      const node = await this.freshNode(nodeId);
      const to = draining ? 'draining' : this.nodes.activeTasks(nodeId) > 0 ? 'busy' : 'idle';
      if (node.state === to || (!draining && node.state !== 'draining')) return node;
      if (node.state === 'down' || node.state === 'left') {
        throw new ConflictError(`node ${nodeId} is ${node.state}`, { state: node.state });
      }
      const b = new ChangeBuilder(this.now());
      b.node(node, to, { reason: draining ? 'drain requested' : 'drain ended' });
      await this.commitNodes(b);
      if (!draining) this.kick();
      return node;
    });
  }

  /** An agent (re)registered: its node is live again. Queued jobs may now find a place. */
  nodeConnected(node: NodeRecord): Promise<void> {
    return this.turn(async () => {
      this.nodes.put(node);
      if (node.state === 'down' || node.state === 'left') {
        const b = new ChangeBuilder(this.now());
        b.node(node, this.nodes.activeTasks(node.id) > 0 ? 'busy' : 'idle', { reason: 'agent registered' });
        await this.commitNodes(b);
      }
      this.kick();
    });
  }

  /**
   * After an agent reconnected and replayed what it had buffered: compares what it runs with what the
   * store says runs there. Attempts it runs that were given up get a stop; attempts that should run
   * there but do not are started again when this agent instance never received them, or lost when
   * the agent restarted since. Stops and cleanups that may not have reached it are sent again.
   */
  reconcile(nodeId: string, instance: string, running: AttemptRef[]): Promise<AgentCommand[]> {
    return this.turn(async () => {
      const commands: AgentCommand[] = [];
      const seen = new Set<string>();
      const key = (r: AttemptRef) => `${r.jobId}/${r.taskId}/${r.attempt}`;
      const runningKeys = new Set(running.map(key));
      for (const run of this.runs.values()) {
        // A cleanup sent to an earlier session may have been lost with it: its answer is awaited.
        if (run.cleanupPending?.has(nodeId)) {
          commands.push({ type: 'job.cleanup', jobId: run.id, graceMs: this.stopGraceMs });
        }
        const b = new ChangeBuilder(this.now());
        const followUps: Array<[TaskRecord, AttemptFollowUp]> = [];
        for (const t of run.tasks) {
          if (t.nodeId !== nodeId || !isTaskActive(t.status)) continue;
          // A stopper runs in the coordinator, never on the agent: the agent cannot have lost it.
          if (run.taskSpec(t).driver === 'stopper') continue;
          const ref = refOf(t);
          seen.add(key(ref));
          if (runningKeys.has(key(ref))) {
            if (run.stopSent.has(t.id)) {
              commands.push({
                type: 'task.stop',
                ref,
                reason: 'stop (sent again)',
                graceMs: this.stopGraceMs,
              });
            }
          } else if ((t.nodeInstance === instance || t.nodeInstance === null) && run.job.placement) {
            // Never received (sent to this instance, or while no agent had the node): start it.
            commands.push({ type: 'task.start', ref, task: resolveTask(run, t, run.taskSpec(t), ref) });
          } else {
            followUps.push([
              t,
              loseTask(run, t, `the agent of node ${t.node} restarted and lost the task`, b),
            ]);
          }
        }
        if (!b.empty) {
          this.scheduleRetries(run, followUps);
          await this.decide(run, b);
        }
      }
      for (const r of running) {
        if (!seen.has(key(r))) {
          commands.push({
            type: 'task.stop',
            ref: r,
            reason: 'given up by the server',
            graceMs: this.stopGraceMs,
          });
        }
      }
      return commands;
    });
  }

  /** A node missed its heartbeats: it is down, its tasks are lost (retried where the spec says). */
  nodeDown(nodeId: string, reason: string): Promise<void> {
    return this.turn(async () => {
      const node = await this.nodes.load(nodeId);
      if (!node || node.state === 'down' || node.state === 'left') return;
      const nb = new ChangeBuilder(this.now());
      nb.node(node, 'down', { reason });
      await this.commitNodes(nb);
      for (const run of this.runs.values()) {
        const b = new ChangeBuilder(this.now());
        const followUps: Array<[TaskRecord, AttemptFollowUp]> = [];
        for (const t of run.tasks) {
          if (t.nodeId === nodeId && isTaskActive(t.status)) {
            followUps.push([t, loseTask(run, t, `node ${t.node} (${nodeId}) is down: ${reason}`, b)]);
          }
        }
        // No cleanup answer will come from a node that is down.
        const cleanupDone = run.cleanupPending?.delete(nodeId) === true && run.cleanupPending.size === 0;
        if (!b.empty || cleanupDone) {
          this.scheduleRetries(run, followUps);
          await this.decide(run, b);
        }
      }
    });
  }

  /** Resolves with the job once it has ended. */
  waitForEnd(jobId: number): Promise<JobRecord> {
    return new Promise((resolve, reject) => {
      if (this.failure) {
        reject(this.failure.err);
        return;
      }
      const run = this.runs.get(jobId);
      if (run) {
        const list = this.waiters.get(jobId) ?? [];
        list.push({ resolve, reject });
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

  /** Everything agents report; resolves once the report is applied and stored. */
  handleReport(nodeId: string, report: AgentReport): Promise<void> {
    switch (report.type) {
      case 'log':
        // Storing lines changes nothing in memory: a failure there leaves the coordinator sound.
        return this.queue.run(() => this.storeLogs(report.lines));
      case 'job.cleaned':
        return this.turn(async () => {
          const run = this.runs.get(report.jobId);
          if (!run?.cleanupPending?.delete(nodeId)) return;
          if (run.cleanupPending.size === 0) await this.decide(run, new ChangeBuilder(this.now()));
        });
      case 'task.started':
        return Promise.resolve(); // the dispatch already recorded the start
      default:
        return this.turn(() => this.applyReport(nodeId, report));
    }
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

  /** Free capacity that active jobs reserved on each node (their assignments' `capacity`). */
  reservations(): Map<string, { cpus: number; memoryMb: number }> {
    const out = new Map<string, { cpus: number; memoryMb: number }>();
    for (const run of this.runs.values()) {
      for (const p of run.job.placement ?? []) {
        const a = run.job.spec.nodeAssignments.find((x) => x.name === p.assignment);
        if (!a) continue;
        const r = out.get(p.nodeId) ?? { cpus: 0, memoryMb: 0 };
        r.cpus += a.capacity.cpus ?? 0;
        r.memoryMb += a.capacity.memoryMb ?? 0;
        out.set(p.nodeId, r);
      }
    }
    return out;
  }

  private step(jobId: number): Promise<void> {
    return this.turn(async () => {
      const run = this.runs.get(jobId);
      if (run) await this.decide(run, new ChangeBuilder(this.now()));
    }).catch((err: unknown) => {
      // Refused after a failure: the coordinator taking over steps the job (the failure was told).
      if (!(err instanceof JobhubError && err.code === 'unavailable')) this.onError(err);
    });
  }

  /** An admin breaks a lock: its holders hold it no more, and the next in line may take it. */
  breakLock(name: string, by: string): Promise<number[]> {
    return this.turn(async () => {
      const b = new ChangeBuilder(this.now());
      const jobs = this.locks.breakLock(name, this.runs.values(), b, by);
      if (!b.empty) {
        const events = await this.write(b);
        this.bus.publish({ kind: 'events', events });
      }
      this.kick();
      return jobs;
    });
  }

  /** The declared locks changed (capacity set or removed): read them again, and retry the queue. */
  locksDeclared(): Promise<void> {
    return this.turn(async () => {
      await this.locks.reload();
      this.kick();
    });
  }

  /**
   * A node's agent has reconciled: it takes work from now on. Jobs queued meanwhile (it registered
   * before it was ready, so the kick of nodeConnected could not place them on it) are tried again.
   */
  nodeReady(): void {
    this.kick();
  }

  /** Tries again to place every queued job (a node came, a node's drain ended, capacity freed). */
  private kick(): void {
    for (const run of this.runs.values()) if (run.job.status === 'queued') void this.step(run.id);
  }

  private async applyReport(nodeId: string, report: AttemptReport): Promise<void> {
    const run = this.runs.get(report.ref.jobId);
    const b = new ChangeBuilder(this.now());
    const task = run?.task(report.ref.taskId);
    if (!run || !task || !isCurrent(run, report)) {
      recordSuperseded(nodeId, report, task, b);
      const events = await this.write(b);
      this.bus.publish({ kind: 'events', events });
      return;
    }
    const followUp = applyAttemptReport(run, report, b);
    this.scheduleRetries(run, [[task, followUp]]);
    await this.decide(run, b);
  }

  private scheduleRetries(run: JobRun, followUps: Array<[TaskRecord, AttemptFollowUp]>): void {
    for (const [task, f] of followUps) {
      if (f.retryInMs === undefined) continue;
      run.retryAt.set(task.id, this.now() + f.retryInMs);
      this.later(f.retryInMs, () => {
        run.retryAt.delete(task.id);
        void this.step(run.id);
      });
    }
  }

  /** Places a queued job, advances it, commits, then sends the commands. */
  private async decide(run: JobRun, b: ChangeBuilder, outbox: Outbox = []): Promise<void> {
    const commands: Outbox = [...outbox];
    if (run.job.status === 'queued' && !run.job.stopRequested) {
      if (run.job.held || !(await this.prepareFiles(run, b)) || !(await this.lockAndPlace(run, b))) {
        if (run.job.held) this.holdWaiting(run, b);
        await this.commit(b);
        if (isJobTerminal(run.job.status)) this.forget(run);
        return;
      }
    }
    if (run.secrets === undefined) await this.loadSecrets(run);
    // A job taken up again (restart, new lease holder): its files were made ready before.
    if (run.files === undefined && this.files && run.job.placement) run.files = await this.files(run.job);
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
        if (this.nodes.isFull(placed.nodeId, b)) {
          this.nodes.wait(placed.nodeId, r.id); // no free slot: started when one frees
          return;
        }
        const resolved = resolveTask(r, task, r.taskSpec(task), ref);
        // The job's last task on this node cleans up after itself: no job.cleanup round trip later.
        r.cleanedNodes.delete(placed.nodeId);
        if (r.tasks.every((t) => t === task || t.node !== task.node || isTaskTerminal(t.status))) {
          resolved.cleanupAfter = true;
        }
        b.task(r, task, 'running', {
          attempt: ref.attempt,
          nodeId: placed.nodeId,
          nodeInstance: endpoint.instance ?? null,
          startedAt: b.now,
          readyAt: null,
          endedAt: null,
          exitCode: null,
        });
        commands.push([placed.nodeId, { type: 'task.start', ref, task: resolved }]);
        // Runnable since the job came, or since the last task before it ended or got ready.
        let since = r.job.createdAt;
        for (const t of r.tasks) since = Math.max(since, Math.min(b.now, t.readyAt ?? t.endedAt ?? 0));
        this.onDispatch(placed.nodeId, b.now - since);
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
    // Nodes' busy/idle changes are recorded before a final job status, which stays the last event.
    this.settleNodes(b);
    if (complete) this.finish(run, b, commands);
    await this.commit(b);
    for (const [nodeId, cmd] of commands) this.agents.get(nodeId)?.send(cmd);
    if (isJobTerminal(run.job.status)) this.forget(run);
  }

  /**
   * A queued job starts once it may take all of its locks and it can be placed: then both happen in
   * this decision, so a job never holds locks while it waits, and never runs without them.
   */
  private async lockAndPlace(run: JobRun, b: ChangeBuilder): Promise<boolean> {
    const verdict = await this.locks.verdict(run, this.runs.values());
    if (!verdict.ok) {
      this.waiting(run, b, verdict.reason);
      return false;
    }
    if (!(await this.place(run, b))) return false;
    await this.locks.acquire(run, b);
    return true;
  }

  /** Says why a queued job waits (an event only when the reason changed). */
  private waiting(run: JobRun, b: ChangeBuilder, reason: string): void {
    if (run.job.waitingFor === reason) return;
    b.jobFields(
      run,
      { waitingFor: reason },
      { type: 'job.waiting', ts: b.now, jobId: run.id, data: { waitingFor: reason } },
    );
  }

  private async place(run: JobRun, b: ChangeBuilder): Promise<boolean> {
    const result = await this.placer.place(run.job);
    if (!result.ok) {
      this.waiting(run, b, result.reason);
      return false;
    }
    for (const p of result.placement) await this.nodes.load(p.nodeId);
    b.jobFields(
      run,
      { placement: result.placement, waitingFor: null },
      { type: 'job.placed', ts: b.now, jobId: run.id, data: { placement: result.placement } },
    );
    b.job(run, 'running', { startedAt: b.now });
    return true;
  }

  /** A held job waits for its release, and says so. */
  private holdWaiting(run: JobRun, b: ChangeBuilder): void {
    const why = 'held: waiting for release';
    if (run.job.waitingFor === why) return;
    b.jobFields(
      run,
      { waitingFor: why },
      { type: 'job.waiting', ts: b.now, jobId: run.id, data: { waitingFor: why } },
    );
  }

  /**
   * Makes the job's files ready before it is placed (other jobs' files taken, uploads checked). When
   * they cannot be, the job fails before anything of it runs; returns false then.
   */
  private async prepareFiles(run: JobRun, b: ChangeBuilder): Promise<boolean> {
    if (!this.files || run.files !== undefined) return true;
    try {
      run.files = await this.files(run.job);
      return true;
    } catch (err) {
      if (!(err instanceof JobhubError) || !['bad_request', 'not_found', 'conflict'].includes(err.code))
        throw err;
      const reason = `inputs: ${err.message}`;
      run.endReason = reason;
      for (const t of run.tasks)
        if (t.status === 'queued') b.task(run, t, 'skipped', { text: `not run: ${reason}` });
      b.job(run, 'failed', { endedAt: b.now, reason, waitingFor: null });
      return false;
    }
  }

  /** Every task has ended: make sure no process of the job is left, then give the final status. */
  private finish(run: JobRun, b: ChangeBuilder, commands: Outbox): void {
    if (run.cleanupPending === null) {
      // A node that is down cannot answer; what it still runs it stops itself (see the agent's fence).
      const nodes = new Set(
        run.tasks
          .map((t) => t.nodeId)
          .filter(
            (n): n is string =>
              n !== null &&
              !run.cleanedNodes.has(n) &&
              !['down', 'left'].includes(this.nodes.get(n)?.state ?? ''),
          ),
      );
      run.cleanupPending = nodes;
      for (const nodeId of nodes) {
        commands.push([nodeId, { type: 'job.cleanup', jobId: run.id, graceMs: this.stopGraceMs }]);
      }
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

  private async commit(b: ChangeBuilder): Promise<void> {
    b.deriveStages();
    this.settleNodes(b);
    if (b.empty) return;
    const events = await this.write(b);
    this.bus.publish({ kind: 'events', events });
    if (b.locksChanged) this.kick();
  }

  /**
   * Writes a decision memory already shows. When the write fails (the store is unreachable, or
   * disagrees: another writer, or a bug), memory is ahead of the store: the store wins, with a new
   * coordinator taking the jobs up from it. Carrying on would apply later reports to a memory the
   * store never had, and lose them.
   */
  private async write(b: ChangeBuilder): Promise<Awaited<ReturnType<Store['applyChanges']>>> {
    try {
      return await this.store.applyChanges(b.changes);
    } catch (err) {
      this.fail(err);
      throw err;
    }
  }

  /**
   * One turn of the serial queue. A failure other than a JobhubError (which the calls throw before
   * they change anything) may leave memory unlike the store: the coordinator fails.
   */
  private turn<T>(work: () => Promise<T>): Promise<T> {
    return this.queue.run(async () => {
      if (this.failure) {
        throw new JobhubError('unavailable', 'the scheduler is taking its jobs up again; retry');
      }
      try {
        return await work();
      } catch (err) {
        if (!(err instanceof JobhubError)) this.fail(err);
        throw err;
      }
    });
  }

  private fail(err: unknown): void {
    if (this.failure) return;
    this.failure = { err };
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const list of this.waiters.values()) for (const w of list) w.reject(err);
    this.waiters.clear();
    this.signalFailed(err);
  }

  /** Secrets live in memory only: read (and decrypted) when the job is taken up, never stored. */
  private async loadSecrets(run: JobRun): Promise<void> {
    const names = secretRefs(run.job.spec);
    const owner = run.job.owner;
    if (names.length === 0 || !this.secrets || owner?.type !== 'org') {
      run.secrets = {};
      return;
    }
    run.secrets = Object.fromEntries(await this.secrets(owner.id, names));
  }

  private settleNodes(b: ChangeBuilder): void {
    for (const jobId of this.nodes.settle(b)) void this.step(jobId);
  }

  private async commitNodes(b: ChangeBuilder): Promise<void> {
    if (b.empty) return;
    const events = await this.write(b);
    this.bus.publish({ kind: 'events', events });
  }

  private async freshNode(nodeId: string): Promise<NodeRecord> {
    const node = (await this.store.getNode(nodeId)) ?? undefined;
    if (!node) throw new NotFoundError(`node ${nodeId}`);
    const cached = this.nodes.get(nodeId);
    if (cached) {
      Object.assign(cached, node);
      return cached;
    }
    this.nodes.put(node);
    return node;
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
    for (const w of list) w.resolve(run.job);
    if ([...this.runs.values()].some((r) => r.job.status === 'queued')) this.kick();
  }
}

function refOf(task: TaskRecord): AttemptRef {
  return { jobId: task.jobId, taskId: task.id, attempt: task.attempt };
}
