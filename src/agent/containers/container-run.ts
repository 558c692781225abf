import { PassThrough } from 'node:stream';
import { LineSplitter } from '../line-splitter.js';
import type { GroupEnd, OutputStream } from '../process-group.js';
import type { TaskRun } from '../task-run.js';
import { errorText } from '../texts.js';
import { type ContainerCreate, type ContainerEngine, EngineError } from './engine.js';

export interface ContainerRunOptions {
  engine: ContainerEngine;
  /** Receives each output line of the container with the time its chunk arrived. */
  onLine: (stream: OutputStream, text: string, ts: number) => void;
  /** Receives what the agent has to say about the container (created, removed, engine trouble). */
  onNote: (text: string) => void;
  /** Clock. Default `Date.now`. */
  now?: () => number;
  /** After the container stopped, how long to wait for the rest of its output. Default 2000 ms. */
  drainMs?: number;
}

/**
 * One container of a docker task with action `start`: created (never pulled: a missing image fails
 * the start with the engine's message), started, its output followed into lines, waited for, then
 * always removed before `finished` resolves, so no container outlives the attempt that made it.
 * Ends like a process group: `terminate` sends SIGTERM, then SIGKILL after the grace.
 */
export class ContainerRun implements TaskRun {
  readonly started: Promise<boolean>;
  readonly exited: Promise<GroupEnd>;
  readonly finished: Promise<GroupEnd>;

  private readonly engine: ContainerEngine;
  private readonly now: () => number;
  private readonly drainMs: number;
  private id: string | undefined;
  private startedPid: number | undefined;
  private mainExited = false;
  private done = false;
  private pendingTerminate: number | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  private resolveStarted!: (ok: boolean) => void;
  private resolveExited!: (end: GroupEnd) => void;
  private resolveFinished!: (end: GroupEnd) => void;

  constructor(
    private readonly spec: ContainerCreate,
    private readonly opts: ContainerRunOptions,
  ) {
    this.engine = opts.engine;
    this.now = opts.now ?? Date.now;
    this.drainMs = opts.drainMs ?? 2000;
    this.started = new Promise((resolve) => {
      this.resolveStarted = resolve;
    });
    this.exited = new Promise((resolve) => {
      this.resolveExited = resolve;
    });
    this.finished = new Promise((resolve) => {
      this.resolveFinished = resolve;
    });
    void this.run().catch((err: unknown) => this.failStart(`container: ${errorText(err)}`));
  }

  get pid(): number | undefined {
    return this.startedPid;
  }

  terminate(graceMs: number): void {
    if (this.mainExited || this.done) return;
    if (this.startedPid === undefined) {
      this.pendingTerminate ??= graceMs;
      return;
    }
    this.signal('SIGTERM');
    if (this.killTimer) return;
    this.killTimer = setTimeout(() => {
      this.killTimer = undefined;
      if (!this.mainExited) this.signal('SIGKILL');
    }, graceMs);
  }

  signal(signal: NodeJS.Signals): boolean {
    const id = this.id;
    if (id === undefined || this.done || this.startedPid === undefined) return false;
    this.engine
      .kill(id, signal)
      .catch((err: unknown) => this.opts.onNote(`${signal} failed: ${errorText(err)}`));
    return true;
  }

  private async run(): Promise<void> {
    const { image } = this.spec;
    try {
      this.id = await this.engine.create(this.spec);
    } catch (err) {
      this.failStart(createFailure(image, err));
      return;
    }
    const id = this.id;
    let pid: number;
    try {
      pid = await this.engine.start(id);
    } catch (err) {
      await this.removeContainer(id);
      this.failStart(`cannot start a container of "${image}": ${errorText(err)}`);
      return;
    }
    this.opts.onNote(`container ${id.slice(0, 12)} of ${image} started`);
    this.startedPid = pid;
    this.resolveStarted(true);
    if (this.pendingTerminate !== undefined) this.terminate(this.pendingTerminate);

    const drained = this.follow(id);
    let code: number | null = null;
    try {
      code = await this.engine.wait(id);
    } catch (err) {
      // The engine went away mid-run: the container's fate is unknown, so it is killed and removed.
      this.opts.onNote(`lost track of the container: ${errorText(err)}`);
    }
    this.mainExited = true;
    clearTimeout(this.killTimer);
    const end: GroupEnd = { kind: 'exit', code, signal: null, ts: this.now() };
    this.resolveExited(end);
    await drained;
    await this.removeContainer(id);
    this.done = true;
    this.resolveFinished(end);
  }

  /** Follows the output into lines; resolves once it ended or `drainMs` after the container stopped. */
  private async follow(id: string): Promise<void> {
    let chunkTs = this.now();
    const splitters: LineSplitter[] = [];
    const sink = (name: OutputStream): PassThrough => {
      const pass = new PassThrough();
      const splitter = new LineSplitter((text) => this.opts.onLine(name, text, chunkTs));
      splitters.push(splitter);
      pass.on('data', (chunk: Buffer) => {
        chunkTs = this.now();
        splitter.push(chunk);
      });
      return pass;
    };
    let ended: Promise<void> = Promise.resolve();
    let destroy = () => {};
    try {
      const stream = await this.engine.logs(id, sink('stdout'), sink('stderr'));
      ended = new Promise<void>((resolve) => {
        stream.once('end', resolve);
        stream.once('close', resolve);
        stream.once('error', () => resolve());
      });
      destroy = () => stream.destroy();
    } catch (err) {
      this.opts.onNote(`cannot follow the container's output: ${errorText(err)}`);
    }
    await this.exited;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.drainMs);
    });
    await Promise.race([ended, late]);
    clearTimeout(timer);
    destroy();
    for (const s of splitters) s.end();
  }

  private async removeContainer(id: string): Promise<void> {
    try {
      await this.engine.remove(id);
    } catch (err) {
      // The job's cleanup removes it by its labels later; say so rather than fail the task.
      this.opts.onNote(`container ${id.slice(0, 12)} not removed yet: ${errorText(err)}`);
    }
  }

  private failStart(text: string): void {
    if (this.done) return;
    this.done = true;
    const end: GroupEnd = { kind: 'spawn_error', text, code: undefined, ts: this.now() };
    this.resolveStarted(false);
    this.resolveExited(end);
    this.resolveFinished(end);
  }
}

/** Why a container could not be created, in words: a missing image is the usual case. */
function createFailure(image: string, err: unknown): string {
  if (err instanceof EngineError && err.status === 404) {
    return `image "${image}" is not on this node (add a task with action: pull first): ${err.message}`;
  }
  return `cannot create a container of "${image}": ${errorText(err)}`;
}
