/**
 * Decisions shared by the rules and the normalizer, so both read a spec the same way: a stage's
 * type, a task's driver and long-running flag, the implicit node assignment, the stage graph.
 */
import type { StageType } from '../core/types.js';
import { bool, list, obj, type RawObject, str } from './raw.js';

export const IMPLICIT_ASSIGNMENT = 'local';

export function taskIsLongRunning(task: RawObject): boolean {
  return bool(task.longRunning) || bool(task.background);
}

/** The driver a task asks for: given, or inferred from the one driver block it has. */
export function taskDriver(task: RawObject): { driver?: string; ambiguous?: string[] } {
  const given = str(task.driver);
  if (given) return { driver: given };
  const blocks = ['shell', 'exec', 'docker', 'stopper'].filter((b) => task[b] !== undefined);
  if (blocks.length === 1) return { driver: blocks[0] };
  if (blocks.length > 1) return { ambiguous: blocks };
  return {};
}

export function stageType(stage: RawObject): StageType {
  const t = str(stage.type);
  if (t === 'short' || t === 'longRunning' || t === 'stopper') return t;
  if (bool(stage.background) || bool(stage.longRunning)) return 'longRunning';
  const tasks = list(stage.tasks).map(obj);
  if (tasks.length > 0 && tasks.every((t) => t && taskDriver(t).driver === 'stopper')) return 'stopper';
  return 'short';
}

/** Name of the task at `index`: given, or `task-<index>`. */
export function taskName(task: RawObject | undefined, index: number): string {
  return str(task?.name) ?? `task-${index}`;
}

/** Assignment names as the spec gives them, or the implicit one. */
export function assignmentNames(spec: RawObject): string[] {
  const given = list(spec.nodeAssignments)
    .map((a) => str(obj(a)?.name))
    .filter((n): n is string => n !== undefined);
  return spec.nodeAssignments === undefined ? [IMPLICIT_ASSIGNMENT] : given;
}

/**
 * Every stage's dependencies: its explicit `needs` plus, for a stage in pipeline i, every stage of
 * pipeline i-1. Only names of existing stages are kept.
 */
export function stageNeeds(spec: RawObject): Map<string, string[]> {
  const stageNames = new Set(
    list(spec.stages)
      .map((s) => str(obj(s)?.name))
      .filter((n): n is string => n !== undefined),
  );
  const needs = new Map<string, Set<string>>();
  for (const name of stageNames) needs.set(name, new Set());
  let previous: string[] = [];
  for (const p of list(spec.pipelines)) {
    const current = list(obj(p)?.stages)
      .map(str)
      .filter((n): n is string => n !== undefined && stageNames.has(n));
    for (const s of current) for (const before of previous) if (before !== s) needs.get(s)?.add(before);
    if (current.length > 0) previous = current;
  }
  for (const s of list(spec.stages)) {
    const stage = obj(s);
    const name = str(stage?.name);
    if (!stage || !name) continue;
    for (const n of list(stage.needs)) {
      const dep = str(n);
      if (dep && stageNames.has(dep) && dep !== name) needs.get(name)?.add(dep);
    }
  }
  return new Map([...needs].map(([k, v]) => [k, [...v]]));
}

/**
 * A cycle in the graph, as a list of names from a node back to itself, or undefined. Depth-first
 * with an explicit stack (not recursion): a chain of thousands of stages must not overflow the
 * call stack.
 */
export function findCycle(graph: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, 'visiting' | 'done'>();
  for (const root of graph.keys()) {
    if (state.has(root)) continue;
    // The path from root, each with the index of the next neighbour to visit.
    const path: string[] = [root];
    const next: number[] = [0];
    state.set(root, 'visiting');
    while (path.length > 0) {
      const top = path.length - 1;
      const n = path[top] as string;
      const out = graph.get(n) ?? [];
      const i = next[top] as number;
      if (i >= out.length) {
        state.set(n, 'done');
        path.pop();
        next.pop();
        continue;
      }
      next[top] = i + 1;
      const m = out[i] as string;
      const s = state.get(m);
      if (s === 'done') continue;
      if (s === 'visiting') return [...path.slice(path.indexOf(m)), m];
      state.set(m, 'visiting');
      path.push(m);
      next.push(0);
    }
  }
  return undefined;
}

/** All stages that `stage` transitively needs. */
export function ancestors(graph: Map<string, string[]>, stage: string): Set<string> {
  const seen = new Set<string>();
  const todo = [...(graph.get(stage) ?? [])];
  for (let n = todo.pop(); n !== undefined; n = todo.pop()) {
    if (seen.has(n)) continue;
    seen.add(n);
    todo.push(...(graph.get(n) ?? []));
  }
  return seen;
}
