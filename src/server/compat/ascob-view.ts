/**
 * How a jobhub job looks as an ASCOB run (seed 002; ASCOB's RunInfo): its status words, spelled as
 * ASCOB spells them (SUCCEDED), and its times as ASCOB writes them (StandardDateTime:
 * `yyyy-MM-dd'T'HH:mm:ss.SSS`, no zone; jobhub writes UTC).
 */
import type { JobStatus } from '../../core/types.js';
import type { JobRecord, Store } from '../../store/store.js';

export const ASCOB_STATUSES = [
  'DEFINED',
  'WAITING_LOCKS',
  'PENDING_SUBMIT',
  'SUBMITTED',
  'IN_DOUBT',
  'RUNNING',
  'SUCCEDED',
  'FAILED',
  'ABORTING',
  'ABORTED',
] as const;
export type AscobStatus = (typeof ASCOB_STATUSES)[number];

/** The words of a queued job depend on why it waits; the others map one to one. */
const BY_STATUS: Record<Exclude<JobStatus, 'queued'>, AscobStatus> = {
  running: 'RUNNING',
  stopping: 'ABORTING',
  stopped: 'ABORTED',
  failed: 'FAILED',
  succeeded: 'SUCCEDED',
};

/**
 * DEFINED: held (ASCOB's manualStart, not started yet). WAITING_LOCKS: queued for a lock another
 * job holds. SUBMITTED: handed to the scheduler, waiting for nodes or about to run. (ASCOB's
 * PENDING_SUBMIT and IN_DOUBT never happen here: a job is created and queued in one transaction.)
 */
export function ascobStatus(job: JobRecord): AscobStatus {
  if (job.status !== 'queued') return BY_STATUS[job.status];
  if (job.held) return 'DEFINED';
  return job.waitingFor?.startsWith('lock ') ? 'WAITING_LOCKS' : 'SUBMITTED';
}

/** The jobhub statuses a set of ASCOB words can come from (for the store's filter). */
export function jobStatusesOf(words: readonly AscobStatus[]): JobStatus[] {
  const out = new Set<JobStatus>();
  for (const w of words) {
    if (w === 'DEFINED' || w === 'WAITING_LOCKS' || w === 'SUBMITTED') out.add('queued');
    for (const [s, word] of Object.entries(BY_STATUS)) if (word === w) out.add(s as JobStatus);
  }
  return [...out];
}

/** ASCOB's time format, in UTC. */
export function ascobTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 23);
}

function ascobTimeOrNull(ms: number | null): string | null {
  return ms === null ? null : ascobTime(ms);
}

/** ASCOB's time format (no zone: UTC), ISO 8601 with a zone, or epoch milliseconds. */
export function parseAscobTime(text: string): number | undefined {
  if (/^\d+$/.test(text)) return Number(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text)) return undefined;
  const zoned = /(Z|[+-]\d{2}:?\d{2})$/i.test(text) || !text.includes('T') ? text : `${text}Z`;
  const ms = Date.parse(zoned);
  return Number.isNaN(ms) ? undefined : ms;
}

export interface RunInfo {
  id: number;
  /** Only on a resubmitted run: seed 002's answer has no such field. */
  parentId?: number;
  status: AscobStatus;
  description: string | null;
  submitter: string | null;
  definedTime: string;
  submissionTime: string | null;
  endTime: string | null;
}

/**
 * When the run was handed over to run (ASCOB's submissionTime): at creation, or when a held job
 * was released; none while it is held.
 */
async function submittedAt(store: Store, job: JobRecord): Promise<number | null> {
  if (job.held) return null;
  const released = await store.listEvents({ jobId: job.id, types: ['job.released'], limit: 1 });
  return released[0]?.ts ?? job.createdAt;
}

export async function runInfo(store: Store, job: JobRecord): Promise<RunInfo> {
  return {
    id: job.id,
    ...(job.retryOf !== null ? { parentId: job.retryOf } : {}),
    status: ascobStatus(job),
    description: job.spec.description ?? null,
    submitter: job.submitter,
    definedTime: ascobTime(job.createdAt),
    submissionTime: ascobTimeOrNull(await submittedAt(store, job)),
    endTime: ascobTimeOrNull(job.endedAt),
  };
}
