/** Making a job's records from a normalized spec: the job, its stages, and a task per node. */
import type { Millis } from '../core/types.js';
import { taskInstances } from '../plan/graph.js';
import type { JobSpec } from '../spec/model.js';
import type { JobDetail, Store } from '../store/store.js';

export interface SubmitInput {
  spec: JobSpec;
  rawSpec: string;
  retryOf?: number | null;
}

export function createJob(store: Store, input: SubmitInput, now: Millis): Promise<JobDetail> {
  const spec = input.spec;
  return store.createJob({
    name: spec.name,
    owner: spec.owner ?? null,
    labels: spec.labels,
    rawSpec: input.rawSpec,
    spec,
    createdAt: now,
    retryOf: input.retryOf ?? null,
    stages: spec.stages.map((s) => ({ name: s.name, index: s.index })),
    tasks: taskInstances(spec).map((i) => ({
      stage: i.stage.name,
      node: i.node,
      name: i.task.name,
      index: i.task.index,
      longRunning: i.task.longRunning,
    })),
  });
}
