import { existsSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { LineSplitter } from './line-splitter.js';
import { DirectSpawner, type SpawnedChild, type Spawner } from './spawner.js';
import { errorCode, errorText } from './texts.js';

export interface GroupSpawnSpec {
  /** shell: `command` runs under `sh -c`; exec: `command` is spawned directly with `args`, no shell. */
  driver: 'shell' | 'exec';
  command: string;
  args: string[];
  /** Absolute working directory; must exist. */
  cwd: string;
  /** The complete environment of the process (nothing is inherited implicitly). */
  env: NodeJS.ProcessEnv;
  /** Run as this user and group (`--run-as`); absent: as the agent. */
  uid?: number;
  gid?: number;
}

export type OutputStream = 'stdout' | 'stderr';

export interface ProcessGroupOptions {
  /** Receives each output line with the time the chunk that completed it arrived. */
  onLine: (stream: OutputStream, text: string, ts: number) => void;
  /** Clock. Default `Date.now`. */
  now?: () => number;
  /**
   * After the main process exits, how long to wait for stdout/stderr to close. A grandchild that left
   * the group can hold the pipes open forever, so the wait is bounded. Default 1000 ms.
   */
  drainMs?: number;
  /** What forks the process. Default: this process (DirectSpawner). */
  spawner?: Spawner;
}

const direct = new DirectSpawner();

/** How a group's main process ended, or why it never started. */
export type GroupEnd =
  | { kind: 'exit'; code: number | null; signal: NodeJS.Signals | null; ts: number }
  | { kind: 'spawn_error'; text: string; code: string | undefined; ts: number };

/**
 * One process started in its own session and process group (`detached: true`), so that signals can
 * reach everything it forks: `process.kill(-pid)` targets the whole group. When the main process exits
 * whatever is left of the group is killed, then its output is drained (boundedly) and split into lines.
 */
export class ProcessGroup {
  /** Resolves true once the program runs (then `pid` is set), false when it could not start. */
  readonly started: Promise<boolean>;
  /** Resolves when the main process has exited (or failed to start); before output is drained. */
  readonly exited: Promise<GroupEnd>;
  /** Resolves after `exited`, once the group is killed and the last output line is handed on. */
  readonly finished: Promise<GroupEnd>;

  private readonly now: () => number;
  private readonly drainMs: number;
  private child: SpawnedChild | undefined;
  private resolveStarted!: (ok: boolean) => void;
  private mainExited = false;
  private done = false;
  private killTimer: NodeJS.Timeout | undefined;
  /** A terminate asked for before the process had started: its grace. */
  private pendingTerminate: number | undefined;
  private resolveExited!: (end: GroupEnd) => void;
  private resolveFinished!: (end: GroupEnd) => void;

  constructor(
    private readonly spec: GroupSpawnSpec,
    private readonly opts: ProcessGroupOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.drainMs = opts.drainMs ?? 1000;
    this.exited = new Promise((resolve) => {
      this.resolveExited = resolve;
    });
    this.finished = new Promise((resolve) => {
      this.resolveFinished = resolve;
    });
    this.started = new Promise((resolve) => {
      this.resolveStarted = resolve;
    });
    const [file, args] = spec.driver === 'shell' ? ['sh', ['-c', spec.command]] : [spec.command, spec.args];
    try {
      this.child = (opts.spawner ?? direct).spawn({
        file,
        args,
        cwd: spec.cwd,
        env: spec.env,
        ...(spec.uid !== undefined ? { uid: spec.uid } : {}),
        ...(spec.gid !== undefined ? { gid: spec.gid } : {}),
      });
    } catch (err) {
      // Invalid arguments (a NUL byte, say) throw instead of emitting 'error'.
      this.failStart(err);
      return;
    }
    this.wire(this.child);
  }

  /** The group's id (its leader's pid), once started. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get hasExited(): boolean {
    return this.mainExited;
  }

  /**
   * Sends `signal` to the whole group. Returns false when nothing received it (group gone, never
   * started, or already finished: its pgid could by then belong to someone else).
   */
  signal(signal: NodeJS.Signals): boolean {
    if (this.pid === undefined || this.done) return false;
    try {
      process.kill(-this.pid, signal);
      return true;
    } catch {
      return false; // ESRCH: nobody left in the group
    }
  }

  /**
   * SIGTERM to the group, then SIGKILL after `graceMs` if the main process is still alive. Asked
   * before the process has started (a spawn helper answers asynchronously), it happens once it has.
   */
  terminate(graceMs: number): void {
    if (this.mainExited || this.done) return;
    if (this.pid === undefined) {
      this.pendingTerminate ??= graceMs;
      return;
    }
    this.signal('SIGTERM');
    if (this.killTimer) return; // an earlier terminate already set the deadline
    this.killTimer = setTimeout(() => {
      this.killTimer = undefined;
      if (!this.mainExited) this.signal('SIGKILL');
    }, graceMs);
  }

  private wire(child: SpawnedChild): void {
    const splitters = new Map<OutputStream, LineSplitter>();
    const streams: Array<[OutputStream, Readable | null]> = [
      ['stdout', child.stdout],
      ['stderr', child.stderr],
    ];
    let chunkTs = this.now();
    for (const [name, stream] of streams) {
      if (!stream) continue;
      const splitter = new LineSplitter((text) => this.opts.onLine(name, text, chunkTs));
      splitters.set(name, splitter);
      stream.on('data', (chunk: Buffer) => {
        chunkTs = this.now();
        splitter.push(chunk);
      });
      stream.on('error', () => {}); // a broken pipe is not worth crashing the agent; 'close' follows
    }
    const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));

    child.once('spawn', () => {
      this.resolveStarted(true);
      if (this.pendingTerminate !== undefined) this.terminate(this.pendingTerminate);
    });
    child.once('error', (err) => {
      if (this.pid === undefined) this.failStart(err);
      // Errors after a successful start (a failed kill, say) change nothing: 'exit' still follows.
    });
    child.once('exit', (code: number | null, signal: NodeJS.Signals | null) => {
      const end: GroupEnd = { kind: 'exit', code, signal, ts: this.now() };
      this.mainExited = true;
      if (this.killTimer) clearTimeout(this.killTimer);
      this.killTimer = undefined;
      // Background children of a finished task must not linger (and must not hold its pipes).
      this.signal('SIGKILL');
      this.resolveExited(end);
      let timer: NodeJS.Timeout | undefined;
      const drained = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.drainMs);
      });
      void Promise.race([closed, drained]).then(() => {
        clearTimeout(timer);
        for (const [, stream] of streams) stream?.destroy();
        chunkTs = this.now();
        for (const splitter of splitters.values()) splitter.end();
        this.done = true;
        this.resolveFinished(end);
      });
    });
  }

  private failStart(err: unknown): void {
    const end: GroupEnd = {
      kind: 'spawn_error',
      text: describeSpawnError(this.spec, err),
      code: errorCode(err),
      ts: this.now(),
    };
    this.done = true;
    this.resolveStarted(false);
    this.resolveExited(end);
    this.resolveFinished(end);
  }
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'not found',
  EACCES: 'permission denied',
  ENOTDIR: 'not a directory',
  ENOEXEC: 'not an executable',
  E2BIG: 'argument list too long',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files',
  EAGAIN: 'out of processes',
  ENOMEM: 'out of memory',
};

/** A short text for a failed start, such as `cannot start "foo": not found (ENOENT)`. */
export function describeSpawnError(spec: GroupSpawnSpec, err: unknown): string {
  const code = errorCode(err);
  // A missing cwd also yields ENOENT, which would wrongly blame the program.
  if (code === 'ENOENT' && !existsSync(spec.cwd)) return `working directory "${spec.cwd}" does not exist`;
  const program = spec.driver === 'shell' ? 'sh' : spec.command;
  const reason = code ? `${ERRNO_TEXT[code] ?? code.toLowerCase()} (${code})` : errorText(err);
  return `cannot start "${program}": ${reason}`;
}
