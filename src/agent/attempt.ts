import { mkdir, stat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startContainerTask } from './containers/container-task.js';
import type { ContainerEngine } from './containers/engine.js';
import { expandEnv } from './expand-env.js';
import { probeName, waitReady } from './probes.js';
import { type GroupSpawnSpec, ProcessGroup } from './process-group.js';
import type {
  AgentReport,
  AttemptOutcome,
  AttemptRef,
  LogLine,
  LogStream,
  ResolvedCommand,
  ResolvedFiles,
  ResolvedProbe,
  ResolvedTask,
} from './protocol.js';
import { TASK_TAG_VAR } from './reaper.js';
import { giveDir, type RunAs, runAsEnv } from './run-as.js';
import type { Spawner } from './spawner.js';
import type { TaskFileSteps } from './task-files.js';
import type { TaskRun } from './task-run.js';
import { errorCode, errorText, exitText, shortDuration } from './texts.js';

/** Default time between SIGTERM and SIGKILL when an attempt times out or is not ready in time. */
export const DEFAULT_KILL_GRACE_MS = 5000;

export interface AttemptDeps {
  nodeId: string;
  /** The job's directory on this node (absolute); created here if missing. */
  jobDir: string;
  /** Takes a finished log line (the agent batches them). */
  addLine: (line: LogLine) => void;
  /** Delivers a report; the agent flushes waiting log lines first. Must not throw. */
  report: (report: AgentReport) => void;
  /** Clock for timestamps. */
  now: () => number;
  /** SIGTERM-to-SIGKILL grace on timeout and probe timeout. Default {@link DEFAULT_KILL_GRACE_MS}. */
  killGraceMs?: number;
  /** What forks task processes. Default: this process. */
  spawner?: Spawner;
  /** Moves the task's files (inputs, workspace, outputs); absent: a task with files cannot start. */
  files?: TaskFileSteps;
  /** The OS user tasks run as (`--run-as`); absent: the agent's. */
  runAs?: RunAs;
  /** Where docker tasks run; absent: they fail to start, saying this node has no container engine. */
  containers?: ContainerEngine;
}

/** Why the agent ended an attempt itself; the first one wins. */
type EndCause =
  | { kind: 'stop'; reason: string }
  | { kind: 'abandon'; reason: string }
  | { kind: 'timeout' }
  | { kind: 'probe_timeout'; text: string }
  | { kind: 'error'; text: string };

/**
 * One start of one task: prepares its working directory, spawns it in its own process group, enforces
 * its timeout, runs its readiness probes, stops it on request, and reports started / ready / exited.
 * Exactly one `task.exited` is reported per attempt, always last; all its log lines come before it.
 */
export class Attempt {
  /** Resolves once `task.exited` has been reported. Never rejects. */
  readonly done: Promise<void>;

  private readonly killGraceMs: number;
  private readonly tag: string;
  private seq = 0;
  private cause: EndCause | undefined;
  private group: TaskRun | undefined;
  /** When the process started (reported with its end: it may have waited for a slot). */
  private startedTs: number | undefined;
  private cwd = '';

  /** The run-as user's HOME, USER and LOGNAME, under the job's and task's own variables. */
  private get userEnv(): Record<string, string> {
    return this.deps.runAs ? runAsEnv(this.deps.runAs) : {};
  }
  private ready = false;
  private mainExited = false;
  private exitedReported = false;
  private readonly probeAbort = new AbortController();
  /** Aborts file transfers before the start (a stop while inputs download). */
  private readonly transferAbort = new AbortController();
  /** Why some of the task's outputs were not kept (a success then counts as a failure). */
  private outputsLost: string | undefined;
  private probing: Promise<void> = Promise.resolve();
  private timeoutTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly ref: AttemptRef,
    readonly task: ResolvedTask,
    private readonly deps: AttemptDeps,
  ) {
    this.killGraceMs = deps.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
    this.tag = `${deps.nodeId}/${ref.jobId}/${ref.taskId}/${ref.attempt}`;
    this.done = this.run().catch((err: unknown) => this.crash(err));
  }

  /** True once the attempt has reported `task.exited`. */
  get finished(): boolean {
    return this.exitedReported;
  }

  /**
   * SIGTERM to the whole group, SIGKILL after `graceMs` if the main process is still alive; reported as
   * `stopped`. Does nothing once the main process has exited or another end is under way.
   */
  stop(reason: string, graceMs: number): void {
    this.end({ kind: 'stop', reason }, graceMs);
  }

  /** As stop, but on the agent's own account (it is stopping, or lost its server): `abandoned`. */
  abandon(reason: string, graceMs: number): void {
    this.end({ kind: 'abandon', reason }, graceMs);
  }

  /** SIGKILL to the group at once, synchronously: for a process about to die itself. */
  killNow(): void {
    this.group?.signal('SIGKILL');
  }

  private async run(): Promise<void> {
    try {
      this.cwd = await this.prepareDir();
    } catch (err) {
      this.reportStartError(errorText(err));
      return;
    }
    if (this.task.files && !this.cause && !(await this.stageFiles(this.task.files))) return;
    if (this.cause) {
      // Stopped while the directory was being made: nothing was started, nothing to kill.
      this.reportExited(this.deps.now(), null, null);
      return;
    }
    const group = this.startRun();
    if (!group) return;
    this.group = group;
    if (!(await group.started) || group.pid === undefined) {
      const end = await group.finished;
      this.reportStartError(end.kind === 'spawn_error' ? end.text : `cannot start "${this.task.command}"`);
      return;
    }
    const spawnedAt = performance.now();
    this.startedTs = this.deps.now();
    this.deps.report({ type: 'task.started', ref: this.ref, ts: this.startedTs, pid: group.pid });
    const timeoutMs = this.task.timeoutMs;
    if (timeoutMs !== undefined) {
      this.timeoutTimer = setTimeout(() => this.end({ kind: 'timeout' }, this.killGraceMs), timeoutMs);
    }
    if (this.task.longRunning) {
      const ready = this.task.ready;
      if (!ready || ready.probes.length === 0) this.markReady();
      else this.probing = this.probe(ready, spawnedAt);
    }

    const exit = await group.exited;
    this.mainExited = true;
    clearTimeout(this.timeoutTimer);
    this.probeAbort.abort();
    await group.finished;
    // Probe output must land before the exit report, so wait for aborted probes to wind down.
    await this.probing;
    if (exit.kind === 'exit') {
      await this.keepOutputs();
      this.reportExited(exit.ts, exit.code, exit.signal);
    } else this.reportStartError(exit.text);
  }

  /** A process group for shell and exec tasks, a container run for docker ones (undefined: reported). */
  private startRun(): TaskRun | undefined {
    const onLine = (stream: LogStream, text: string, ts: number) => this.line(stream, text, ts);
    const container = this.task.container;
    if (!container) {
      return new ProcessGroup(this.spawnSpec(this.task, this.cwd), {
        onLine,
        now: this.deps.now,
        ...(this.deps.spawner ? { spawner: this.deps.spawner } : {}),
      });
    }
    if (!this.deps.containers) {
      this.reportStartError(`node ${this.deps.nodeId} has no container engine for driver docker`);
      return undefined;
    }
    return startContainerTask({
      nodeId: this.deps.nodeId,
      ref: this.ref,
      container,
      env: { ...this.task.env, [TASK_TAG_VAR]: this.tag },
      hostDir: this.cwd,
      engine: this.deps.containers,
      onLine,
      onNote: (text) => this.line('system', text),
      now: this.deps.now,
    });
  }

  /** Workspace and inputs into place before the start; false when that failed (reported). */
  private async stageFiles(files: ResolvedFiles): Promise<boolean> {
    if (!this.deps.files) {
      this.reportStartError('this agent cannot fetch files (it has no file transport)');
      return false;
    }
    try {
      await this.deps.files.stage(
        this.ref,
        files,
        this.deps.jobDir,
        this.cwd,
        this.transferAbort.signal,
        (t) => this.line('system', t),
      );
      return true;
    } catch (err) {
      if (this.cause) return true; // stopped meanwhile: reported as stopped next
      this.reportStartError(`files: ${errorText(err)}`);
      return false;
    }
  }

  /** Uploads what the task leaves, however it ended, before its end is reported. */
  private async keepOutputs(): Promise<void> {
    const files = this.task.files;
    if (!files || !this.deps.files || (files.outputs.length === 0 && !files.keepWorkdir)) return;
    try {
      this.outputsLost = await this.deps.files.collect(
        this.ref,
        files,
        this.cwd,
        this.transferAbort.signal,
        (t) => this.line('system', t),
      );
    } catch (err) {
      this.outputsLost = errorText(err);
      this.line('system', `outputs not kept: ${this.outputsLost}`);
    }
  }

  private async probe(ready: NonNullable<ResolvedTask['ready']>, spawnedAt: number): Promise<void> {
    try {
      const env = { ...process.env, ...this.task.env };
      const result = await waitReady({
        probes: ready.probes.map((p) => expandProbe(p, env)),
        intervalMs: ready.intervalMs,
        timeoutMs: ready.timeoutMs - (performance.now() - spawnedAt),
        signal: this.probeAbort.signal,
        log: (text) => this.line('probe', text),
        commandSpec: (command) => this.probeSpawnSpec(command),
        onLine: (text, ts) => this.line('probe', text, ts),
        now: this.deps.now,
      });
      if (result.kind === 'ready') this.markReady();
      else if (result.kind === 'timeout') {
        const text = `not ready after ${shortDuration(ready.timeoutMs)}: ${probeName(result.probe)} failed: ${result.error}`;
        this.end({ kind: 'probe_timeout', text }, this.killGraceMs);
      }
    } catch (err) {
      this.end(
        { kind: 'error', text: `readiness probes failed unexpectedly: ${errorText(err)}` },
        this.killGraceMs,
      );
    }
  }

  private markReady(): void {
    if (this.ready || this.cause || this.mainExited) return;
    this.ready = true;
    this.deps.report({ type: 'task.ready', ref: this.ref, ts: this.deps.now() });
  }

  /** Records why the attempt ends and signals its group; the exit handler then reports it. */
  private end(cause: EndCause, graceMs: number): void {
    if (this.cause || this.mainExited || this.exitedReported) return;
    this.cause = cause;
    clearTimeout(this.timeoutTimer);
    this.probeAbort.abort();
    const group = this.group;
    if (!group) {
      this.transferAbort.abort(); // not spawned yet: run() sees the cause before spawning
      return;
    }
    const what = this.task.container ? 'the container' : 'the process group';
    const kill = `SIGTERM to ${what}, SIGKILL after ${shortDuration(graceMs)}`;
    switch (cause.kind) {
      case 'stop':
      case 'abandon':
        this.line('system', `stopping: ${cause.reason} (${kill})`);
        break;
      case 'timeout':
        this.line('system', `timed out after ${shortDuration(this.task.timeoutMs ?? 0)} (${kill})`);
        break;
      case 'probe_timeout':
      case 'error':
        this.line('system', `${cause.text} (${kill})`);
        break;
    }
    group.terminate(graceMs);
  }

  private reportExited(ts: number, code: number | null, signal: NodeJS.Signals | null): void {
    const { outcome, text } = this.outcome(code, signal);
    const started = this.startedTs === undefined ? {} : { startedAt: this.startedTs };
    this.finish({
      type: 'task.exited',
      ref: this.ref,
      ts,
      outcome,
      exitCode: code,
      signal,
      text,
      ...started,
    });
  }

  private outcome(
    code: number | null,
    signal: NodeJS.Signals | null,
  ): { outcome: AttemptOutcome; text: string } {
    const cause = this.cause;
    if (cause) {
      switch (cause.kind) {
        case 'stop':
          return { outcome: 'stopped', text: `stopped: ${cause.reason}` };
        case 'abandon':
          return { outcome: 'abandoned', text: `stopped by its agent: ${cause.reason}` };
        case 'timeout':
          return { outcome: 'timeout', text: `timed out after ${shortDuration(this.task.timeoutMs ?? 0)}` };
        case 'probe_timeout':
          return { outcome: 'probe_timeout', text: cause.text };
        case 'error':
          return { outcome: 'failed', text: cause.text };
      }
    }
    if (this.task.longRunning && !this.ready) {
      // Only tasks with probes can get here: without probes they are ready once spawned.
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      return { outcome: 'failed', text: `${how} before it was ready` };
    }
    if (code === 0 && !signal && this.outputsLost) {
      return { outcome: 'failed', text: `exit code 0, but outputs were not kept: ${this.outputsLost}` };
    }
    return { outcome: code === 0 && !signal ? 'succeeded' : 'failed', text: exitText(code, signal) };
  }

  private reportStartError(text: string): void {
    this.line('system', text);
    this.finish({
      type: 'task.exited',
      ref: this.ref,
      ts: this.deps.now(),
      outcome: 'start_error',
      exitCode: null,
      signal: null,
      text,
    });
  }

  private finish(report: Extract<AgentReport, { type: 'task.exited' }>): void {
    if (this.exitedReported) return;
    this.exitedReported = true;
    this.deps.report(report);
  }

  /** Last resort for a bug in the code above: kill what runs and still report the end. */
  private crash(err: unknown): void {
    const text = `internal error: ${errorText(err)}`;
    try {
      this.group?.signal('SIGKILL');
      this.probeAbort.abort();
      clearTimeout(this.timeoutTimer);
      if (this.exitedReported) return;
      this.line('system', text);
      this.finish({
        type: 'task.exited',
        ref: this.ref,
        ts: this.deps.now(),
        outcome: this.group?.pid === undefined ? 'start_error' : 'failed',
        exitCode: null,
        signal: null,
        text,
      });
    } catch {
      // Nothing more can be done; `done` must still resolve so the agent does not wait forever.
    }
  }

  private line(stream: LogStream, text: string, ts: number = this.deps.now()): void {
    if (this.exitedReported) return; // nothing may follow the exit report
    this.seq++;
    this.deps.addLine({ ref: this.ref, seq: this.seq, ts, stream, text: masked(text, this.task.mask) });
  }

  private async prepareDir(): Promise<string> {
    const { jobDir, runAs } = this.deps;
    await makeDir(jobDir, runAs);
    const wd = this.task.workingDir;
    if (wd === '') return jobDir;
    if (!isAbsolute(wd)) {
      const dir = resolve(jobDir, wd);
      await makeDir(dir, runAs, jobDir);
      return dir;
    }
    // An absolute directory belongs to the node, not the job: use it as is, never create it.
    const info = await stat(wd).catch(() => undefined);
    if (!info) throw new Error(`working directory "${wd}" does not exist`);
    if (!info.isDirectory()) throw new Error(`working directory "${wd}" is not a directory`);
    return wd;
  }

  private spawnSpec(
    command: ResolvedCommand,
    cwd: string,
    extraEnv: Record<string, string> = {},
  ): GroupSpawnSpec {
    return {
      driver: command.driver,
      command: command.command,
      args: command.args,
      cwd,
      env: { ...process.env, ...this.userEnv, ...extraEnv, ...command.env, [TASK_TAG_VAR]: this.tag },
      ...(this.deps.runAs ? { uid: this.deps.runAs.uid, gid: this.deps.runAs.gid } : {}),
    };
  }

  /** A command probe runs where the task runs, with the task's environment plus its own. */
  private probeSpawnSpec(command: ResolvedCommand): GroupSpawnSpec {
    const cwd = command.workingDir === '' ? this.cwd : resolve(this.deps.jobDir, command.workingDir);
    return this.spawnSpec(command, cwd, this.task.env);
  }
}

/** Directories made already: a busy node starts many tasks in the same job directory. */
const madeDirs = new Set<string>();

/**
 * Makes a directory (and those above it); with `runAs`, gives it to that user, and the ones made
 * above it up to `within`, so tasks that run as the user can write where they run.
 */
async function makeDir(dir: string, runAs?: RunAs, within?: string): Promise<void> {
  if (madeDirs.has(dir)) return;
  try {
    await mkdir(dir, { recursive: true });
    if (runAs) {
      await giveDir(runAs, dir);
      // Only ever inside the job's directory: a `../` working directory gives nothing away above it.
      if (within)
        for (let d = dirname(dir); d.startsWith(`${within}/`); d = dirname(d)) await giveDir(runAs, d);
    }
    if (madeDirs.size > 10_000) madeDirs.clear();
    madeDirs.add(dir);
  } catch (err) {
    const code = errorCode(err);
    throw new Error(`cannot create working directory "${dir}": ${code ?? errorText(err)}`);
  }
}

/** Fills `${VAR}` of http and tcp probes from the task's environment. */
function expandProbe(p: ResolvedProbe, env: Record<string, string | undefined>): ResolvedProbe {
  if (p.kind === 'http') {
    const url = expandEnv(p.url, env);
    return { ...p, url, label: `http ${url}` };
  }
  if (p.kind === 'tcp') {
    const address = expandEnv(p.address, env);
    return { ...p, address, label: `tcp ${address}` };
  }
  return p;
}

/** Secret values never reach the log: each occurrence becomes ***. */
function masked(text: string, secrets: readonly string[] | undefined): string {
  if (!secrets) return text;
  let out = text;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join('***');
  return out;
}
