/**
 * Processes the harness starts, and how it gets rid of them.
 *
 * Every child is spawned `detached` (its own process group) with `BENCH_MARKER=<run id>` in its
 * environment; tasks that jobhub agents start inherit it. Cleanup kills each process group
 * (SIGTERM, then SIGKILL), then sweeps /proc for anything still carrying the marker (tasks run in
 * their own process groups, so killing an agent's group does not reach them). The same sweep runs
 * synchronously when the harness exits or is interrupted, so nothing outlives a run.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync, type WriteStream } from 'node:fs';
import path from 'node:path';

export const MARKER_VAR = 'BENCH_MARKER';

const live = new Set<ChildProcess>();
let marker = '';

/** The run's marker: set once at start. */
export function setMarker(m: string): void {
  marker = m;
}

export function getMarker(): string {
  return marker;
}

/** Pids (other than ours) whose environment carries `BENCH_MARKER=<marker>`. */
export function markedPids(m = marker): number[] {
  if (!m) return [];
  const needle = Buffer.from(`${MARKER_VAR}=${m}\0`);
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    try {
      if (readFileSync(`/proc/${pid}/environ`).includes(needle)) out.push(pid);
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

function killGroup(child: ChildProcess, sig: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, sig);
  } catch {
    try {
      child.kill(sig);
    } catch {
      // already gone
    }
  }
}

/** Kills every live child group and every marked process, at once. Synchronous: safe in 'exit'. */
export function killEverythingNow(): void {
  for (const c of live) killGroup(c, 'SIGKILL');
  live.clear();
  for (const pid of markedPids()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

export interface Proc {
  child: ChildProcess;
  pid: number;
  name: string;
  /** Everything it printed so far (stdout and stderr), bounded to the last 64 KiB. */
  tail(): string;
  /** Resolves with the first match in its output. */
  waitFor(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** Resolves when it exits (code, or null when killed by a signal). */
  exited: Promise<number | null>;
  running(): boolean;
  /** SIGTERM to its group, SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnOpts {
  env?: Record<string, string>;
  cwd?: string;
  /** Where its output is also written (a file per process). */
  logDir: string;
}

let seq = 0;

export function spawnProc(name: string, cmd: string, args: string[], opts: SpawnOpts): Proc {
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    env: { ...process.env, NO_COLOR: '1', ...opts.env, [MARKER_VAR]: marker },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const file: WriteStream = createWriteStream(
    path.join(opts.logDir, `${String(++seq).padStart(3, '0')}-${name}.log`),
  );
  file.on('error', () => {});
  let text = '';
  const waiters = new Set<() => void>();
  const onData = (b: Buffer) => {
    file.write(b);
    text += b.toString();
    if (text.length > 65536) text = text.slice(-65536);
    for (const w of [...waiters]) w();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => {
      live.delete(child);
      file.end();
      for (const w of [...waiters]) w();
      resolve(code);
    });
    child.on('error', (err) => {
      text += `\n[spawn error: ${err.message}]`;
      live.delete(child);
      resolve(null);
    });
  });
  const running = () => child.exitCode === null && child.signalCode === null && live.has(child);
  return {
    child,
    pid: child.pid ?? -1,
    name,
    tail: () => text,
    exited,
    running,
    waitFor(re, timeoutMs) {
      return new Promise((resolve, reject) => {
        let timer: NodeJS.Timeout | undefined;
        const check = () => {
          const m = re.exec(text);
          if (m) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(m);
          } else if (!running()) {
            waiters.delete(check);
            clearTimeout(timer);
            reject(new Error(`${name} exited before printing ${re}:\n${text.slice(-2000)}`));
          }
        };
        timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(`timed out after ${timeoutMs}ms waiting for ${re} from ${name}:\n${text.slice(-2000)}`),
          );
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async stop(graceMs = 3000) {
      if (!running()) return;
      killGroup(child, 'SIGTERM');
      const t = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
      killGroup(child, 'SIGKILL'); // anything left in its group
    },
  };
}

// ---------------------------------------------------------------------------------------------
// /proc readings

/** sysconf(_SC_CLK_TCK): 100 on every Linux build we run on (`getconf CLK_TCK`). */
const CLK_TCK = 100;

/** CPU seconds (user + system) a process has used so far; its waited-for children are not counted. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces), from field 3 on.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return (utime + stime) / CLK_TCK;
}

/** Resident set size in MB (VmRSS). */
export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** Samples RSS of some pids every `everyMs` until stopped; reports peaks and last values. */
export class RssSampler {
  private readonly peak = new Map<number, number>();
  private readonly last = new Map<number, number>();
  private readonly first = new Map<number, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pids: number[],
    everyMs = 200,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  private sample(): void {
    for (const pid of this.pids) {
      try {
        const v = rssMb(pid);
        if (!this.first.has(pid)) this.first.set(pid, v);
        this.last.set(pid, v);
        this.peak.set(pid, Math.max(v, this.peak.get(pid) ?? 0));
      } catch {
        // exited
      }
    }
  }

  stop(): Map<number, { first: number; peak: number; last: number }> {
    clearInterval(this.timer);
    this.sample();
    const out = new Map<number, { first: number; peak: number; last: number }>();
    for (const pid of this.pids)
      out.set(pid, {
        first: this.first.get(pid) ?? Number.NaN,
        peak: this.peak.get(pid) ?? Number.NaN,
        last: this.last.get(pid) ?? Number.NaN,
      });
    return out;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
