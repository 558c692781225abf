/**
 * What starts task processes. The cost of forking a process grows with the size of the process that
 * forks, so a busy agent does not fork from its own (large) process: it asks a small helper process
 * to (HelperSpawner), which starts each task in its own process group and forwards its output and
 * exit. `DirectSpawner` forks in-process (for embedded mode and tests).
 *
 * Both hand back something shaped like Node's ChildProcess: `pid` (once known), `stdout`, `stderr`,
 * and the events `spawn`, `error`, `exit` and `close`.
 */
import { type ChildProcess, fork, spawn as spawnChild } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { PassThrough, type Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

export interface SpawnRequest {
  file: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Run as this user and group (`--run-as`; the agent is root); absent: as the agent. */
  uid?: number;
  gid?: number;
}

/** The identity options of a spawn, when the request switches user. */
export function identityOf(req: SpawnRequest): { uid?: number; gid?: number } {
  return {
    ...(req.uid !== undefined ? { uid: req.uid } : {}),
    ...(req.gid !== undefined ? { gid: req.gid } : {}),
  };
}

export interface SpawnedChild extends EventEmitter {
  /** Known once `spawn` was emitted (synchronously for a direct spawn). */
  readonly pid: number | undefined;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
}

export interface Spawner {
  spawn(req: SpawnRequest): SpawnedChild;
  close(): Promise<void>;
}

/** Forks from this process: every task in its own session and process group. */
export class DirectSpawner implements Spawner {
  spawn(req: SpawnRequest): SpawnedChild {
    return spawnChild(req.file, req.args, {
      cwd: req.cwd,
      env: req.env,
      ...identityOf(req),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    }) as ChildProcess & SpawnedChild;
  }

  async close(): Promise<void> {}
}

/** Messages between the agent and its spawn helper (see spawn-helper.ts). */
export type ToHelper = { t: 'spawn'; id: number; req: SpawnRequest };
export type FromHelper =
  | { t: 'spawned'; id: number; pid: number }
  | { t: 'error'; id: number; code: string | undefined; message: string }
  | { t: 'out'; id: number; s: 1 | 2; data: Uint8Array }
  | { t: 'exit'; id: number; code: number | null; signal: NodeJS.Signals | null }
  | { t: 'close'; id: number };

class HelperChild extends EventEmitter implements SpawnedChild {
  pid: number | undefined;
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  exited = false;
}

/**
 * Starts tasks through a small helper process. If the helper dies, the tasks it started are killed
 * (by their process groups) and reported as killed; the next spawn starts a new helper.
 */
export class HelperSpawner implements Spawner {
  private helper: ChildProcess | undefined;
  private readonly children = new Map<number, HelperChild>();
  private nextId = 1;
  private closing = false;

  spawn(req: SpawnRequest): SpawnedChild {
    const child = new HelperChild();
    const id = this.nextId++;
    this.children.set(id, child);
    const helper = this.ensure();
    helper.send({ t: 'spawn', id, req } satisfies ToHelper, (err) => {
      if (err) this.fail(id, err.message);
    });
    return child;
  }

  async close(): Promise<void> {
    this.closing = true;
    const helper = this.helper;
    this.helper = undefined;
    if (helper && helper.exitCode === null) {
      const gone = new Promise((resolve) => helper.once('exit', resolve));
      helper.disconnect();
      await gone;
    }
  }

  private ensure(): ChildProcess {
    if (this.helper?.connected) return this.helper;
    const script = fileURLToPath(new URL('./spawn-helper.js', import.meta.url));
    const helper = fork(script, [], {
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // Small on purpose: a young generation of 1 MiB keeps its memory, and so its forks, cheap.
      execArgv: ['--max-semi-space-size=1'],
    });
    helper.on('message', (m: FromHelper) => this.onMessage(m));
    helper.on('exit', () => {
      if (this.helper === helper) this.helper = undefined;
      this.orphan();
    });
    this.helper = helper;
    return helper;
  }

  private onMessage(m: FromHelper): void {
    const child = this.children.get(m.id);
    if (!child) return;
    switch (m.t) {
      case 'spawned':
        child.pid = m.pid;
        child.emit('spawn');
        return;
      case 'error':
        this.fail(m.id, m.message, m.code);
        return;
      case 'out':
        (m.s === 1 ? child.stdout : child.stderr).write(
          Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength),
        );
        return;
      case 'exit':
        child.exited = true;
        child.emit('exit', m.code, m.signal);
        return;
      case 'close':
        this.children.delete(m.id);
        child.stdout.end();
        child.stderr.end();
        child.emit('close');
        return;
    }
  }

  private fail(id: number, message: string, code?: string): void {
    const child = this.children.get(id);
    if (!child) return;
    this.children.delete(id);
    const err = Object.assign(new Error(message), code ? { code } : {});
    child.emit('error', err);
    child.stdout.end();
    child.stderr.end();
  }

  /** The helper is gone: its tasks cannot be watched any more, so they are killed and ended. */
  private orphan(): void {
    for (const [id, child] of this.children) {
      this.children.delete(id);
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
      if (child.pid === undefined) {
        child.emit('error', new Error(this.closing ? 'the agent is stopping' : 'the spawn helper died'));
      } else if (!child.exited) {
        child.exited = true;
        child.emit('exit', null, 'SIGKILL');
      }
      child.stdout.end();
      child.stderr.end();
      child.emit('close');
    }
  }
}
