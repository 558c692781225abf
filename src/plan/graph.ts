/**
 * The stage graph: pipelines and `needs` were compiled into each stage's `needs` by the normalizer;
 * here they become levels (for the serial plan) and the task instances of a job (one per task per
 * node the stage runs on), in the order that gives task ids.
 */
import type { JobSpec, StageSpec, TaskSpec } from '../spec/model.js';
import { stageAssignments } from './selectors.js';

/** Depth of each stage: 0 for stages with no needs, else 1 + the deepest stage it needs. */
export function stageLevels(spec: JobSpec): Map<string, number> {
  const byName = new Map(spec.stages.map((s) => [s.name, s]));
  const level = new Map<string, number>();
  const depth = (s: StageSpec): number => {
    const known = level.get(s.name);
    if (known !== undefined) return known;
    let d = 0;
    for (const n of s.needs) {
      const dep = byName.get(n);
      if (dep) d = Math.max(d, depth(dep) + 1);
    }
    level.set(s.name, d);
    return d;
  };
  spec.stages.forEach(depth);
  return level;
}

export interface TaskInstance {
  stage: StageSpec;
  task: TaskSpec;
  /** The node assignment's name. */
  node: string;
}

/** Every task of the job on every node its stage runs on: by stage, then node, then task order. */
export function taskInstances(spec: JobSpec): TaskInstance[] {
  const out: TaskInstance[] = [];
  for (const stage of spec.stages) {
    for (const a of stageAssignments(stage, spec.nodeAssignments)) {
      for (const task of stage.tasks) out.push({ stage, task, node: a.name });
    }
  }
  return out;
}
