import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/**
 * The environment variable every task process (and its probes) gets: `<nodeId>/<jobId>/<taskId>/<attempt>`.
 * Children inherit it even when they leave the process group (setsid, double fork), so it is how
 * the reaper finds daemons that a process-group kill cannot reach.
 */
export const TASK_TAG_VAR = 'JOBHUB_TASK_TAG';

const TAG_ENTRY = `${TASK_TAG_VAR}=`;

/**
 * Pids of the live processes whose JOBHUB_TASK_TAG starts with `prefix` (e.g. `node-1/42/` for every
 * process of job 42 on node-1). Reads /proc/<pid>/environ; processes it may not read (other users),
 * zombies (empty environ) and this process itself are skipped. Returns [] where /proc does not exist.
 */
export function findTaggedPids(prefix: string, keep?: (tag: string) => boolean): number[] {
  return scanTags()
    .filter(([, tag]) => tag.startsWith(prefix) && !keep?.(tag))
    .map(([pid]) => pid);
}

/** Every live process's tag, from one pass over /proc. */
function scanTags(): Array<[pid: number, tag: string]> {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const out: Array<[number, string]> = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    let environ: string;
    try {
      environ = readFileSync(`/proc/${entry}/environ`, 'latin1');
    } catch {
      continue;
    }
    const at = environ.indexOf(TAG_ENTRY);
    if (at < 0 || (at > 0 && environ[at - 1] !== '\0')) continue;
    const end = environ.indexOf('\0', at);
    out.push([pid, environ.slice(at + TAG_ENTRY.length, end < 0 ? undefined : end)]);
  }
  return out;
}

/**
 * Requests for tagged pids that arrive within a few milliseconds share one pass over /proc: when
 * many jobs end at once (a busy agent), each does not pay for its own scan.
 */
class BatchedScanner {
  private pending: Array<{
    prefix: string;
    keep: ((tag: string) => boolean) | undefined;
    resolve: (pids: number[]) => void;
  }> = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly windowMs: number) {}

  find(prefix: string, keep?: (tag: string) => boolean): Promise<number[]> {
    return new Promise((resolve) => {
      this.pending.push({ prefix, keep, resolve });
      this.timer ??= setTimeout(() => this.flush(), this.windowMs);
    });
  }

  private flush(): void {
    this.timer = undefined;
    const batch = this.pending;
    this.pending = [];
    const tags = scanTags();
    for (const { prefix, keep, resolve } of batch) {
      resolve(tags.filter(([, tag]) => tag.startsWith(prefix) && !keep?.(tag)).map(([pid]) => pid));
    }
  }
}

const scanner = new BatchedScanner(2);

export interface ReapOptions {
  /** How often to look whether the signalled processes are gone. Default 50 ms. */
  pollMs?: number;
  /**
   * After SIGKILL, how long to wait for the processes to disappear (death is not instant, and a process
   * in uninterruptible sleep lingers), sending SIGKILL again to any still tagged. Default 1000 ms.
   */
  killWaitMs?: number;
  /** Tags (with the prefix) to leave alone, e.g. the attempts still running. Default: none. */
  keep?: (tag: string) => boolean;
}

export interface ReapResult {
  /** Processes that carried the tag when the reap began. */
  found: number;
  /** Processes sent SIGKILL: still there after the grace period, or tagged ones forked meanwhile. */
  killed: number;
}

/**
 * Ends every process tagged with `prefix`: SIGTERM to each, up to `graceMs` for them to go, then
 * SIGKILL to whatever still carries the tag (looked up again, so a reused pid is not hit), and waits
 * (boundedly) until they are gone, so that a caller reporting "cleaned" tells the truth.
 */
export async function reapTagged(
  prefix: string,
  graceMs: number,
  opts: ReapOptions = {},
): Promise<ReapResult> {
  const pollMs = opts.pollMs ?? 50;
  const keep = opts.keep;
  const first = await scanner.find(prefix, keep);
  if (first.length === 0) return { found: 0, killed: 0 };
  for (const pid of first) signal(pid, 'SIGTERM');
  let left = await waitGone(prefix, graceMs, pollMs, keep);
  const killed = new Set<number>();
  const killDeadline = performance.now() + (opts.killWaitMs ?? 1000);
  while (left.length > 0) {
    for (const pid of left) {
      killed.add(pid);
      signal(pid, 'SIGKILL');
    }
    const rest = killDeadline - performance.now();
    if (rest <= 0) break;
    left = await waitGone(prefix, rest, pollMs, keep);
  }
  return { found: first.length, killed: killed.size };
}

/** Polls until no process carries the tag or `ms` have passed; returns the pids still tagged. */
async function waitGone(
  prefix: string,
  ms: number,
  pollMs: number,
  keep: ((tag: string) => boolean) | undefined,
): Promise<number[]> {
  const deadline = performance.now() + ms;
  let left = findTaggedPids(prefix, keep);
  while (left.length > 0 && performance.now() < deadline) {
    const pause = Math.min(pollMs, Math.max(0, deadline - performance.now()));
    await new Promise((resolve) => setTimeout(resolve, pause));
    left = findTaggedPids(prefix, keep);
  }
  return left;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // ESRCH: already gone. EPERM: not ours, nothing we can do about it.
  }
}
