/**
 * How a jobhub job looks as an o2r execution job (seed 003): each stage a step with o2r's step
 * words, the overall status, and the job's files as a tree.
 */
import type { JobStatus, StageStatus } from '../../core/types.js';
import type { FileRecord, JobDetail, JobRecord } from '../../store/store.js';
import type { FileTreeNode } from '../api-schemas.js';
import { fileView, treeOf } from '../file-view.js';
import { iso, isoOrNull } from '../job-view.js';
import type { O2rFileNode, O2rStatus, Step, StepStatus } from './o2r-schemas.js';

/** A stopped stage did not do its work: a failure, as the seed has no word for stopped. */
const STEP_OF: Record<StageStatus, StepStatus> = {
  queued: 'queued',
  running: 'running',
  ready: 'running',
  succeeded: 'success',
  failed: 'failure',
  stopped: 'failure',
  skipped: 'skip',
};

/**
 * The seed derives the overall status from the steps; a job's own status is that derivation,
 * made where stages end (engine/stage-status.ts), so it is read from there. A stopped job is a
 * failure: it did not do all of its work. Queued jobs count as running (not ended).
 */
const STATUS_OF: Record<JobStatus, O2rStatus> = {
  queued: 'running',
  running: 'running',
  stopping: 'running',
  succeeded: 'success',
  failed: 'failure',
  stopped: 'failure',
};

export function o2rStatus(job: JobRecord): O2rStatus {
  return STATUS_OF[job.status];
}

/** The jobhub statuses of o2r's words (for the store's filter). */
export function jobStatusesOf(words: readonly O2rStatus[]): JobStatus[] {
  return (Object.keys(STATUS_OF) as JobStatus[]).filter((s) => words.includes(STATUS_OF[s]));
}

/** Each stage as a step, in spec order; its text says what its tasks said, or why the job ended. */
export function stepsOf(detail: JobDetail): Record<string, Step> {
  const steps: Record<string, Step> = {};
  for (const stage of [...detail.stages].sort((a, b) => a.index - b.index)) {
    const texts = [
      ...new Set(
        detail.tasks
          .filter((t) => t.stage === stage.name && t.text)
          .map((t) => `${t.node}/${t.name}: ${t.text}`),
      ),
    ];
    const status = STEP_OF[stage.status];
    const text =
      texts.length > 0
        ? texts.join('; ')
        : status === 'failure' || status === 'skip'
          ? (detail.job.reason ?? '')
          : '';
    steps[stage.name] = { status, start: isoOrNull(stage.startedAt), end: isoOrNull(stage.endedAt), text };
  }
  return steps;
}

function o2rNode(node: FileTreeNode, jobId: number): O2rFileNode {
  if (node.type === 'file') {
    return {
      name: node.name,
      path: node.path,
      type: 'file',
      size: node.size,
      url: `/api/v1/jobs/${jobId}/files/${node.path}`,
    };
  }
  return {
    name: node.name,
    path: node.path,
    type: 'directory',
    size: node.size,
    children: (node.children ?? []).map((c) => o2rNode(c, jobId)),
  };
}

/** The job's files as o2r's file listing: folders with children, files with a download URL. */
export function filesTree(detail: JobDetail, files: readonly FileRecord[]): O2rFileNode {
  const root = o2rNode(treeOf(files.map((f) => fileView(f, detail))), detail.job.id);
  return { ...root, name: String(detail.job.id) };
}

export function jobView(detail: JobDetail, files: readonly FileRecord[]) {
  const job = detail.job;
  return {
    id: String(job.id),
    compendium_id: job.spec.workspace ?? null,
    creation_date: iso(job.createdAt),
    status: o2rStatus(job),
    steps: stepsOf(detail),
    files: filesTree(detail, files),
  };
}
