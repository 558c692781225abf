/**
 * The stage graph: pipelines and `needs` were compiled into each stage's `needs` by the normalizer;
 * here they become levels (for the serial plan) and the task instances of a job (one per task per
 * node the stage runs on), in the order that gives task ids.
 */
import type { JobSpec, StageSpec, TaskSpec } from '../spec/model.js';
import { stageAssignments } from './selectors.js';

/**
 * Depth of each stage: 0 for stages with no needs, else 1 + the deepest stage it needs. With an
 * explicit stack, not recursion: a chain of many thousands of stages must not overflow the call
 * stack. (The spec was checked: no cycles; a stage seen again on the way is taken as depth 0.)
 */
export function stageLevels(spec: JobSpec): Map<string, number> {
  const byName = new Map(spec.stages.map((s) => [s.name, s]));
  const level = new Map<string, number>();
  const onPath = new Set<string>();
  for (const root of spec.stages) {
    if (level.has(root.name)) continue;
    const stack: StageSpec[] = [root];
    while (stack.length > 0) {
      const s = stack[stack.length - 1] as StageSpec;
      onPath.add(s.name);
      let d = 0;
      let pending = false;
      for (const n of s.needs) {
        const dep = byName.get(n);
        if (!dep || onPath.has(dep.name)) continue;
        const known = level.get(dep.name);
        if (known === undefined) {
          stack.push(dep);
          pending = true;
          break;
        }
        d = Math.max(d, known + 1);
      }
      if (pending) continue;
      level.set(s.name, d);
      onPath.delete(s.name);
      stack.pop();
    }
  }
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
