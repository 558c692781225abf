/**
 * Semantic rules over the job's structure: unique names, references between pipelines, stages and
 * needs, cycles, and selectors that must match a node assignment.
 */
import { list, obj, type RawObject, selectorLabels, str } from './raw.js';
import { findCycle, IMPLICIT_ASSIGNMENT, stageNeeds } from './resolve.js';
import type { RawProblem } from './schema-errors.js';
import type { PathSegment } from './source.js';
import { didYouMean, nameList } from './suggest.js';

interface AssignmentFacts {
  name: string;
  role: string;
  /** Labels every node of this assignment is guaranteed to have (common to all its selectors). */
  labels: Record<string, string>;
}

export function graphRules(spec: RawObject): RawProblem[] {
  const problems: RawProblem[] = [];
  const report = (path: PathSegment[], message: string) => problems.push({ path, message });

  uniqueNames(list(spec.nodeAssignments), ['nodeAssignments'], 'node assignment', report);
  uniqueNames(list(spec.stages), ['stages'], 'stage', report);
  uniqueNames(list(spec.pipelines), ['pipelines'], 'pipeline', report);

  const stageNames = list(spec.stages)
    .map((s) => str(obj(s)?.name))
    .filter((n): n is string => n !== undefined);
  const known = new Set(stageNames);
  const stageList = nameList(stageNames);

  // Pipelines: existing stages, each in at most one pipeline.
  const inPipeline = new Map<string, PathSegment[]>();
  list(spec.pipelines).forEach((p, pi) => {
    list(obj(p)?.stages).forEach((s, si) => {
      const name = str(s);
      if (name === undefined) return;
      const path = ['pipelines', pi, 'stages', si];
      if (!known.has(name)) {
        report(path, `unknown stage "${name}"${didYouMean(name, stageNames)}; stages are: ${stageList}`);
        return;
      }
      const first = inPipeline.get(name);
      if (first) report(path, `stage "${name}" is already in ${formatAt(first)}; a stage runs once`);
      else inPipeline.set(name, path);
    });
  });

  list(spec.stages).forEach((s, i) => {
    const stage = obj(s);
    const name = str(stage?.name);
    if (!stage || !name) return;
    const needs = list(stage.needs);
    needs.forEach((n, ni) => {
      const dep = str(n);
      if (dep === undefined) return;
      if (dep === name) report(['stages', i, 'needs', ni], `stage "${name}" cannot need itself`);
      else if (!known.has(dep)) {
        report(
          ['stages', i, 'needs', ni],
          `unknown stage "${dep}"${didYouMean(dep, stageNames)}; stages are: ${stageList}`,
        );
      }
    });
    if (spec.pipelines !== undefined && !inPipeline.has(name) && needs.length === 0) {
      report(
        ['stages', i, 'name'],
        `stage "${name}" is in no pipeline and has no needs, so nothing says when it runs; add it to a pipeline or give it needs`,
      );
    }
  });

  const cycle = findCycle(stageNeeds(spec));
  if (cycle) {
    const at = list(spec.stages).findIndex((s) => str(obj(s)?.name) === cycle[0]);
    report(['stages', Math.max(at, 0), 'needs'], `needs form a cycle: ${cycle.join(' -> ')}`);
  }

  selectorRules(spec, report);
  return problems;
}

function selectorRules(spec: RawObject, report: (path: PathSegment[], message: string) => void): void {
  const assignments = assignmentFacts(spec);
  const described = nameList(assignments.map((a) => `${a.name} (${a.role})`));

  list(spec.nodeAssignments).forEach((a, ai) => {
    list(obj(a)?.selectors).forEach((sel, si) => {
      const s = obj(sel);
      if (s && isEmptySelector(s)) report(['nodeAssignments', ai, 'selectors', si], emptySelectorMessage);
    });
  });

  list(spec.stages).forEach((st, i) => {
    list(obj(st)?.selectors).forEach((sel, si) => {
      const s = obj(sel);
      if (!s) return;
      const path = ['stages', i, 'selectors', si];
      if (isEmptySelector(s)) {
        report(path, emptySelectorMessage);
        return;
      }
      // Roles and labels that use parameters are only known at submission: no verdict here.
      const bound =
        JSON.stringify(s).includes('{{') || JSON.stringify(spec.nodeAssignments ?? []).includes('{{');
      if (!bound && !assignments.some((a) => selectorMatches(s, a))) {
        const name = str(s.name);
        const role = str(s.role);
        const hint = name
          ? didYouMean(
              name,
              assignments.map((a) => a.name),
            )
          : role
            ? didYouMean(role, new Set(assignments.map((a) => a.role)))
            : '';
        report(path, `selector matches no node assignment${hint}; assignments are: ${described}`);
      }
    });
  });
}

const emptySelectorMessage = 'empty selector: give name, role, labels, or all: true';

function isEmptySelector(s: RawObject): boolean {
  return (
    s.all !== true &&
    s.name === undefined &&
    s.role === undefined &&
    Object.keys(selectorLabels(s)).length === 0
  );
}

export function selectorMatches(s: RawObject, a: AssignmentFacts): boolean {
  if (s.all === true) return true;
  const name = str(s.name);
  const role = str(s.role);
  if (name !== undefined && name !== a.name) return false;
  if (role !== undefined && role !== a.role) return false;
  return Object.entries(selectorLabels(s)).every(([k, v]) => a.labels[k] === v);
}

export function assignmentFacts(spec: RawObject): AssignmentFacts[] {
  if (spec.nodeAssignments === undefined) return [{ name: IMPLICIT_ASSIGNMENT, role: 'any', labels: {} }];
  return list(spec.nodeAssignments).flatMap((raw) => {
    const a = obj(raw);
    const name = str(a?.name);
    if (!a || !name) return [];
    const selectors = list(a.selectors)
      .map(obj)
      .filter((s): s is RawObject => s !== undefined);
    const labelSets = selectors.map(selectorLabels);
    const labels: Record<string, string> = {};
    const [first, ...rest] = labelSets;
    if (first) {
      for (const [k, v] of Object.entries(first)) if (rest.every((ls) => ls[k] === v)) labels[k] = v;
    }
    return [{ name, role: str(a.role) ?? 'any', labels }];
  });
}

function uniqueNames(
  items: unknown[],
  base: PathSegment[],
  what: string,
  report: (path: PathSegment[], message: string) => void,
): void {
  const seen = new Map<string, number>();
  items.forEach((item, i) => {
    const name = str(obj(item)?.name);
    if (name === undefined) return;
    const first = seen.get(name);
    if (first !== undefined) {
      report(
        [...base, i, 'name'],
        `duplicate ${what} name "${name}" (first at ${formatAt([...base, first])})`,
      );
    } else seen.set(name, i);
  });
}

function formatAt(path: PathSegment[]): string {
  return path
    .map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`))
    .join('')
    .replace(/^\./, '');
}
