/** Making a job's records from a normalized spec: the job, its stages, and a task per node. */
import type { Millis, Owner } from '../core/types.js';
import { taskInstances } from '../plan/graph.js';
import { refuseUses } from '../plan/workflow.js';
import type { JobSpec, ParamValue } from '../spec/model.js';
import type { JobDetail, Store, TemplateOrigin } from '../store/store.js';

export interface SubmitInput {
  spec: JobSpec;
  rawSpec: string;
  retryOf?: number | null;
  /** Who owns the job; default the spec's `owner` as written (embedded mode has no users). */
  owner?: Owner | null;
  /** Who submitted it. */
  submitter?: string | null;
  /** Create it held: queued, not placed until released (its inputs upload meanwhile). */
  held?: boolean;
  /** Parameter values, resolved against the spec (see spec/params.ts); default none. */
  params?: Record<string, ParamValue> | null;
  /** The template version the spec came from; default none. */
  template?: TemplateOrigin | null;
}

export async function createJob(store: Store, input: SubmitInput, now: Millis): Promise<JobDetail> {
  const spec = input.spec;
  // A `use` stage has no tasks of its own: only its expansion (on the server) can run.
  refuseUses(spec);
  return store.createJob({
    name: spec.name,
    owner: input.owner !== undefined ? input.owner : (spec.owner ?? null),
    submitter: input.submitter ?? null,
    held: input.held === true,
    labels: spec.labels,
    rawSpec: input.rawSpec,
    spec,
    createdAt: now,
    retryOf: input.retryOf ?? null,
    params: input.params ?? null,
    template: input.template ?? null,
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
