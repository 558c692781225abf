import { join, resolve } from 'node:path';
import { Attempt, DEFAULT_KILL_GRACE_MS } from './attempt.js';
import { nodeLabels } from './containers/container-task.js';
import type { ContainerEngine } from './containers/engine.js';
import type { FileTransport } from './file-transport.js';
import { LogBuffer } from './log-buffer.js';
import type {
  AgentCommand,
  AgentEndpoint,
  AgentReport,
  AttemptRef,
  ReportSink,
  ResolvedTask,
} from './protocol.js';
import { findTaggedPids, reapTagged } from './reaper.js';
import type { RunAs } from './run-as.js';
import type { Spawner } from './spawner.js';
import { TaskFiles } from './task-files.js';
import { errorText } from './texts.js';

export interface LocalAgentOptions {
  /** This node's id; also the first part of every task's JOBHUB_TASK_TAG. */
  nodeId: string;
  /** Jobs get their directories under it: `<workRoot>/job-<jobId>`. Relative: from the current directory. */
  workRoot: string;
  /** Receives every report. */
  sink: ReportSink;
  /** Longest a log line waits for its batch. Default 50 ms. */
  logFlushMs?: number;
  /** What forks task processes. Default: this process. */
  spawner?: Spawner;
  /** Attempts run at once; later starts wait here in order (the server sends a few ahead, so the
   * next one starts as soon as a slot frees). Default 0: no limit. */
  maxRunning?: number;
  /** Clock for report and log timestamps. Default `Date.now`. */
  now?: () => number;
  /** SIGTERM-to-SIGKILL grace when a task times out or is not ready in time. Default 5000 ms. */
  killGraceMs?: number;
  /** How job files travel (inputs, workspaces, outputs). Absent: a task with files fails to start. */
  files?: FileTransport;
  /**
   * Told about failures that have no report to go into: the sink throwing, a failed `job.cleanup`.
   * Default: written to stderr with console.error.
   */
  onError?: (err: unknown) => void;
  /** The OS user tasks run as (`--run-as`); absent: the agent's own. */
  runAs?: RunAs;
  /** The container engine docker tasks run on; absent: they fail to start. */
  containers?: ContainerEngine;
}

/**
 * The node side of the protocol, running tasks as local processes: each `task.start` becomes an
 * {@link Attempt}, each `task.stop` ends one, each `job.cleanup` reaps the job's leftover processes.
 * Reports go to the sink; log lines are batched, and flushed before every status report so that a
 * task's output always arrives ahead of the status that follows it.
 */
export class LocalAgent implements AgentEndpoint {
  readonly nodeId: string;

  private readonly workRoot: string;
  private readonly sink: ReportSink;
  private readonly now: () => number;
  private readonly killGraceMs: number;
  private readonly spawner: Spawner | undefined;
  private readonly maxRunning: number;
  /** Starts waiting for a free slot, in arrival order. */
  private readonly waiting = new Map<string, { ref: AttemptRef; task: ResolvedTask }>();
  private readonly onError: (err: unknown) => void;
  private readonly logs: LogBuffer;
  /** Attempts that have not reported `task.exited` yet, by `jobId/taskId/attempt`. */
  private readonly attempts = new Map<string, Attempt>();
  private readonly cleanups = new Set<Promise<void>>();
  /**
   * Attempts that ended but whose exit report waits for the job's cleanup: still "running" to the
   * server (a reconnect meanwhile must not have them started again), and their starts are replays.
   */
  private readonly exiting = new Map<string, AttemptRef>();
  private stopping: Promise<void> | undefined;
  private readonly taskFiles: TaskFiles | undefined;
  private readonly runAs: RunAs | undefined;
  private readonly containers: ContainerEngine | undefined;
  /** Jobs that ran docker tasks here: only their cleanups ask the engine for leftovers. */
  private readonly containerJobs = new Set<number>();

  constructor(opts: LocalAgentOptions) {
    this.nodeId = opts.nodeId;
    this.workRoot = resolve(opts.workRoot);
    this.sink = opts.sink;
    this.now = opts.now ?? Date.now;
    this.killGraceMs = opts.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
    this.spawner = opts.spawner;
    this.maxRunning = opts.maxRunning ?? 0;
    this.runAs = opts.runAs;
    this.containers = opts.containers;
    this.onError = opts.onError ?? ((err) => console.error(`jobhub agent ${opts.nodeId}:`, err));
    this.taskFiles = opts.files
      ? new TaskFiles({ transport: opts.files, workRoot: this.workRoot })
      : undefined;
    this.logs = new LogBuffer((lines) => this.deliver({ type: 'log', lines }), {
      flushMs: opts.logFlushMs ?? 50,
    });
  }

  /** Never throws: a command that cannot be carried out ends in a report (or in `onError`). */
  send(cmd: AgentCommand): void {
    try {
      switch (cmd.type) {
        case 'task.start':
          this.start(cmd.ref, cmd.task);
          return;
        case 'task.stop':
          if (this.unqueue(refKey(cmd.ref), cmd.reason)) return;
          this.attempts.get(refKey(cmd.ref))?.stop(cmd.reason, cmd.graceMs);
          return;
        case 'job.cleanup':
          this.cleanup(cmd.jobId, cmd.graceMs);
          return;
      }
    } catch (err) {
      this.failCommand(cmd, err);
    }
  }

  /**
   * Stops every running attempt (reason `agent stopping`, reported `abandoned`), waits for them and for
   * cleanups under way, then flushes the logs. Later `task.start`s fail. Idempotent.
   */
  stop(graceMs: number): Promise<void> {
    this.stopping ??= (async () => {
      for (const key of [...this.waiting.keys()]) this.unqueue(key, 'agent stopping', 'abandoned');
      for (const attempt of this.attempts.values()) attempt.abandon('agent stopping', graceMs);
      await Promise.all([...this.attempts.values()].map((a) => a.done));
      await Promise.all(this.cleanups);
      this.logs.flush();
    })();
    return this.stopping;
  }

  /**
   * Last resort for a process that is about to die (a crash): SIGKILL, synchronously, to every
   * attempt's group and to every process tagged with one of the given jobs on this node.
   */
  killNow(jobIds: readonly number[]): void {
    for (const attempt of this.attempts.values()) if (jobIds.includes(attempt.ref.jobId)) attempt.killNow();
    for (const jobId of jobIds) {
      for (const pid of findTaggedPids(`${this.nodeId}/${jobId}/`)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  }

  /** The attempts running now (started, not reported as exited). */
  runningRefs(): AttemptRef[] {
    return [
      ...[...this.attempts.values()].map((a) => a.ref),
      ...[...this.waiting.values()].map((w) => w.ref),
      ...this.exiting.values(),
    ];
  }

  /**
   * Stops every running attempt on the agent's own account (it lost its server): reported as
   * `abandoned`, so the server counts them lost, not stopped on request. Later starts still work.
   */
  stopAll(reason: string, graceMs: number): void {
    for (const key of [...this.waiting.keys()]) this.unqueue(key, reason, 'abandoned');
    for (const attempt of this.attempts.values()) attempt.abandon(reason, graceMs);
  }

  /** Attempts started and not yet reported as exited. */
  runningCount(): number {
    return this.attempts.size;
  }

  private start(ref: AttemptRef, task: ResolvedTask): void {
    const key = refKey(ref);
    // A repeated start of a running (or waiting) attempt, a replay: it is there already.
    if (this.attempts.has(key) || this.waiting.has(key) || this.exiting.has(key)) return;
    if (this.stopping) {
      this.report({
        type: 'task.exited',
        ref,
        ts: this.now(),
        outcome: 'start_error',
        exitCode: null,
        signal: null,
        text: `agent ${this.nodeId} is stopping`,
      });
      return;
    }
    if (this.earlierRunning(ref) || (this.maxRunning > 0 && this.attempts.size >= this.maxRunning)) {
      this.waiting.set(key, { ref, task });
      return;
    }
    const attempt = new Attempt(ref, task, {
      nodeId: this.nodeId,
      jobDir: join(this.workRoot, `job-${ref.jobId}`),
      addLine: (line) => this.logs.add(line),
      report: (report) =>
        task.cleanupAfter && report.type === 'task.exited'
          ? this.reportAfterCleanup(report)
          : this.report(report),
      now: this.now,
      killGraceMs: this.killGraceMs,
      ...(this.spawner ? { spawner: this.spawner } : {}),
      ...(this.taskFiles ? { files: this.taskFiles } : {}),
      ...(this.runAs ? { runAs: this.runAs } : {}),
      ...(this.containers ? { containers: this.containers } : {}),
    });
    this.attempts.set(key, attempt);
    if (task.container) this.containerJobs.add(ref.jobId);
    void attempt.done.then(() => {
      if (this.attempts.get(key) === attempt) this.attempts.delete(key);
      this.startWaiting(); // its slot is free
    });
  }

  /**
   * Ends the job's attempts still running here (they would otherwise report the reaper's signals as
   * failures), then every process left with the job's tag, wherever it went.
   */
  /** Removes a start still waiting for a slot, reporting it stopped before it started. */
  private unqueue(key: string, reason: string, outcome: 'stopped' | 'abandoned' = 'stopped'): boolean {
    const w = this.waiting.get(key);
    if (!w) return false;
    this.waiting.delete(key);
    const ts = this.now();
    this.report({
      type: 'task.exited',
      ref: w.ref,
      ts,
      outcome,
      exitCode: null,
      signal: null,
      text: `stopped before it started: ${reason}`,
    });
    return true;
  }

  /** A slot freed: the longest-waiting start goes. */
  private startWaiting(): void {
    for (const [key, w] of [...this.waiting]) {
      if (this.maxRunning > 0 && this.attempts.size >= this.maxRunning) return;
      if (this.earlierRunning(w.ref)) continue;
      this.waiting.delete(key);
      this.start(w.ref, w.task);
    }
  }

  /**
   * An earlier attempt of the same task still runs here: the one the server gave up and is having
   * stopped (it may take its stop grace). Its retry waits for it, so the task never runs twice at once.
   */
  private earlierRunning(ref: AttemptRef): boolean {
    for (const a of this.attempts.values()) {
      if (a.ref.jobId === ref.jobId && a.ref.taskId === ref.taskId && a.ref.attempt < ref.attempt)
        return true;
    }
    return false;
  }

  private cleanup(jobId: number, graceMs: number): void {
    for (const [key, w] of [...this.waiting]) if (w.ref.jobId === jobId) this.unqueue(key, 'job cleanup');
    const own = [...this.attempts.values()].filter((a) => a.ref.jobId === jobId);
    for (const attempt of own) attempt.stop('job cleanup', graceMs);
    const work = (async () => {
      await Promise.all(own.map((a) => a.done));
      const { found } = await reapTagged(`${this.nodeId}/${jobId}/`, graceMs);
      const containers = await this.removeContainers(jobId);
      this.taskFiles?.forget(jobId);
      this.report({ type: 'job.cleaned', jobId, ts: this.now(), killed: found + containers });
    })().catch((err: unknown) =>
      this.onError(new Error(`cleanup of job ${jobId} failed: ${errorText(err)}`)),
    );
    this.cleanups.add(work);
    void work.then(() => this.cleanups.delete(work));
  }

  /**
   * Removes the job's containers still on the engine (each attempt removes its own; this catches
   * what a crash or a lost engine connection left). Returns how many; engine trouble goes to onError.
   */
  private async removeContainers(jobId: number): Promise<number> {
    if (!this.containers || !this.containerJobs.delete(jobId)) return 0;
    try {
      return await this.containers.removeAll(nodeLabels(this.nodeId, jobId));
    } catch (err) {
      // No engine running means no container either; anything else is worth telling.
      if (!(await this.containers.ping(1000))) return 0;
      this.onError(new Error(`removing the containers of job ${jobId} failed: ${errorText(err)}`));
      return 0;
    }
  }

  /** A command that threw: for a start, an exit report with a system line; otherwise `onError`. */
  private failCommand(cmd: AgentCommand, err: unknown): void {
    const text = `internal error: ${errorText(err)}`;
    try {
      if (cmd.type !== 'task.start' || this.attempts.has(refKey(cmd.ref))) {
        this.onError(new Error(`${cmd.type} failed: ${errorText(err)}`));
        return;
      }
      const ts = this.now();
      this.logs.add({ ref: cmd.ref, seq: 1, ts, stream: 'system', text });
      this.report({
        type: 'task.exited',
        ref: cmd.ref,
        ts,
        outcome: 'start_error',
        exitCode: null,
        signal: null,
        text,
      });
    } catch (inner) {
      this.onError(inner);
    }
  }

  /** The last task of its job here ended: its leftovers go before its end is reported. */
  private reportAfterCleanup(report: Extract<AgentReport, { type: 'task.exited' }>): void {
    // Another attempt of the job may have started here since (the retry of an attempt the server
    // gave up while this one was being stopped): its processes are not leftovers.
    const ended = refKey(report.ref);
    const keep = (tag: string) => {
      const key = tag.slice(tag.indexOf('/') + 1);
      return key !== ended && (this.attempts.has(key) || this.waiting.has(key));
    };
    this.exiting.set(ended, report.ref);
    const work = reapTagged(`${this.nodeId}/${report.ref.jobId}/`, this.killGraceMs, { keep })
      .then(async ({ found }) => {
        const containers = await this.removeContainers(report.ref.jobId);
        this.taskFiles?.forget(report.ref.jobId);
        this.exiting.delete(ended);
        this.report({ ...report, cleaned: { killed: found + containers } });
      })
      .catch((err: unknown) => {
        this.onError(new Error(`cleanup after job ${report.ref.jobId} failed: ${errorText(err)}`));
        this.exiting.delete(ended);
        this.report(report);
      });
    this.cleanups.add(work);
    void work.then(() => this.cleanups.delete(work));
  }

  /** Status reports go out after every log line logged before them. */
  private report(report: AgentReport): void {
    // An attempt stops counting as running when its exit is reported, not a tick later.
    if (report.type === 'task.exited' && this.attempts.delete(refKey(report.ref))) this.startWaiting();
    if (report.type !== 'log') this.logs.flush();
    this.deliver(report);
  }

  private deliver(report: AgentReport): void {
    try {
      this.sink(this.nodeId, report);
    } catch (err) {
      // The sink's failure is the receiver's bug; it must not break the attempt that reported.
      this.onError(err);
    }
  }
}

function refKey(ref: AttemptRef): string {
  return `${ref.jobId}/${ref.taskId}/${ref.attempt}`;
}
