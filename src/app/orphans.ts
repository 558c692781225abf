/**
 * Ends embedded jobs whose `jobhub run` process died: tasks that were running become `lost`,
 * queued ones `skipped`, the job `failed` with the reason, all in one transaction with its events;
 * then every process still carrying the job's tag on the data folder's local nodes is killed.
 */
import { reapTagged } from '../agent/reaper.js';
import { ChangeBuilder } from '../engine/change-builder.js';
import { JobRun } from '../engine/job-run.js';
import type { Store } from '../store/store.js';
import { claimAlive, claimedJobIds, releaseJob } from './run-claims.js';

/** A job younger than this without a claim may be between its creation and its claim. */
const CLAIM_GRACE_MS = 60_000;

export async function recoverOrphans(store: Store, dataDir: string, now = Date.now()): Promise<number[]> {
  const recovered: number[] = [];
  for (const id of await store.listActiveJobIds()) {
    const claim = claimAlive(dataDir, id);
    if (claim.alive) continue;
    const detail = await store.getJobDetail(id);
    if (!detail) continue;
    if (!claim.claimed && now - detail.job.createdAt < CLAIM_GRACE_MS) continue;
    const reason = claim.pid
      ? `the jobhub run process that ran it (pid ${claim.pid}) ended without finishing it`
      : 'no jobhub process runs it';
    const run = new JobRun(detail);
    const b = new ChangeBuilder(now);
    for (const t of run.tasks) {
      if (t.status === 'running' || t.status === 'ready')
        b.task(run, t, 'lost', { endedAt: now, text: reason });
      else if (t.status === 'queued') b.task(run, t, 'skipped', { text: `not run: ${reason}` });
    }
    b.job(run, 'failed', { endedAt: now, reason });
    b.deriveStages();
    await store.applyChanges(b.changes);
    const nodes = new Set(run.tasks.map((t) => t.nodeId).filter((n): n is string => n !== null));
    await Promise.all([...nodes].map((n) => reapTagged(`${n}/${id}/`, 2000)));
    releaseJob(dataDir, id);
    recovered.push(id);
  }
  const active = new Set(await store.listActiveJobIds());
  for (const id of claimedJobIds(dataDir))
    if (!active.has(id) && !claimAlive(dataDir, id).alive) releaseJob(dataDir, id);
  return recovered;
}
