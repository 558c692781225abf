/**
 * Which process runs which embedded job. `jobhub run` claims its job with a file in the data
 * folder; a job still active in the store whose claiming process is gone (killed, crashed, its
 * machine rebooted) is an orphan: nothing will ever end it, so the next jobhub command on the same
 * data folder ends it as failed and kills whatever of it is still running.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

interface Claim {
  pid: number;
  /** The process's start time (field 22 of /proc/<pid>/stat), so a reused pid is not mistaken for it. */
  startTicks: string;
}

function claimFile(dataDir: string, jobId: number): string {
  return path.join(dataDir, 'runs', `${jobId}.json`);
}

function startTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export function claimJob(dataDir: string, jobId: number): void {
  mkdirSync(path.join(dataDir, 'runs'), { recursive: true });
  const claim: Claim = { pid: process.pid, startTicks: startTicks(process.pid) ?? '' };
  writeFileSync(claimFile(dataDir, jobId), JSON.stringify(claim));
}

export function releaseJob(dataDir: string, jobId: number): void {
  rmSync(claimFile(dataDir, jobId), { force: true });
}

/** Whether the process that claimed the job is alive. A job without a claim is not claimed. */
export function claimAlive(
  dataDir: string,
  jobId: number,
): { claimed: boolean; alive: boolean; pid?: number } {
  let claim: Claim;
  try {
    claim = JSON.parse(readFileSync(claimFile(dataDir, jobId), 'utf8')) as Claim;
  } catch {
    return { claimed: false, alive: false };
  }
  const ticks = startTicks(claim.pid);
  return { claimed: true, alive: ticks !== undefined && ticks === claim.startTicks, pid: claim.pid };
}

/** Claims left by jobs that are no longer active (a crash between the end and the release). */
export function claimedJobIds(dataDir: string): number[] {
  try {
    return readdirSync(path.join(dataDir, 'runs'))
      .map((f) => /^(\d+)\.json$/.exec(f)?.[1])
      .filter((id): id is string => id !== undefined)
      .map(Number);
  } catch {
    return [];
  }
}
