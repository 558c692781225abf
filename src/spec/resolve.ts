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

/** A cycle in the graph, as a list of names from a node back to itself, or undefined. */
export function findCycle(graph: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): string[] | undefined => {
    const s = state.get(n);
    if (s === 'done') return undefined;
    if (s === 'visiting') return [...stack.slice(stack.indexOf(n)), n];
    state.set(n, 'visiting');
    stack.push(n);
    for (const m of graph.get(n) ?? []) {
      const cycle = visit(m);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(n, 'done');
    return undefined;
  };
  for (const n of graph.keys()) {
    const cycle = visit(n);
    if (cycle) return cycle;
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
