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
export function findTaggedPids(prefix: string): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    let environ: string;
    try {
      environ = readFileSync(`/proc/${entry}/environ`, 'latin1');
    } catch {
      continue; // gone meanwhile, or not ours to read
    }
    for (const item of environ.split('\0')) {
      if (item.startsWith(TAG_ENTRY)) {
        if (item.slice(TAG_ENTRY.length).startsWith(prefix)) pids.push(pid);
        break;
      }
    }
  }
  return pids;
}

export interface ReapOptions {
  /** How often to look whether the SIGTERMed processes are gone. Default 50 ms. */
  pollMs?: number;
}

export interface ReapResult {
  /** Processes that carried the tag when the reap began. */
  found: number;
  /** Those still there after the grace period, sent SIGKILL. */
  killed: number;
}

/**
 * Ends every process tagged with `prefix`: SIGTERM to each, up to `graceMs` for them to go, then
 * SIGKILL to whatever still carries the tag (looked up again, so a reused pid is not hit).
 */
export async function reapTagged(
  prefix: string,
  graceMs: number,
  opts: ReapOptions = {},
): Promise<ReapResult> {
  const pollMs = opts.pollMs ?? 50;
  const first = findTaggedPids(prefix);
  if (first.length === 0) return { found: 0, killed: 0 };
  for (const pid of first) signal(pid, 'SIGTERM');
  const deadline = performance.now() + graceMs;
  let left = first;
  while (left.length > 0 && performance.now() < deadline) {
    await new Promise((resolve) =>
      setTimeout(resolve, Math.min(pollMs, Math.max(0, deadline - performance.now()))),
    );
    left = findTaggedPids(prefix);
  }
  for (const pid of left) signal(pid, 'SIGKILL');
  return { found: first.length, killed: left.length };
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // ESRCH: already gone. EPERM: not ours, nothing we can do about it.
  }
}
