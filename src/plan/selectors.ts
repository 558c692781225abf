/** Matching selectors: a stage's selectors pick node assignments; an assignment's pick nodes. */
import type { Labels } from '../core/types.js';
import type { NodeAssignment, Selector, StageSpec } from '../spec/model.js';

function labelsMatch(want: Labels, have: Labels): boolean {
  return Object.entries(want).every(([k, v]) => have[k] === v);
}

/** The assignments a stage runs on, in spec order: OR of its selectors; none selects all. */
export function stageAssignments(stage: StageSpec, assignments: NodeAssignment[]): NodeAssignment[] {
  if (stage.selectors.length === 0) return assignments;
  return assignments.filter((a) =>
    stage.selectors.some(
      (s) =>
        s.all ||
        ((s.name === undefined || s.name === a.name) &&
          (s.role === undefined || s.role === a.role) &&
          labelsMatch(s.labels, guaranteedLabels(a))),
    ),
  );
}

/** Labels common to every selector of the assignment: what any node it gets is sure to carry. */
export function guaranteedLabels(a: NodeAssignment): Labels {
  const [first, ...rest] = a.selectors.map((s) => s.labels);
  if (!first) return {};
  return Object.fromEntries(Object.entries(first).filter(([k, v]) => rest.every((l) => l[k] === v)));
}

export interface SelectableNode {
  id: string;
  name: string;
  role: string;
  labels: Labels;
}

/** Whether a node may fill an assignment by role and selectors (capacity and state are the scheduler's). */
export function nodeMatches(
  a: NodeAssignment,
  node: SelectableNode,
  selectors: Selector[] = a.selectors,
): boolean {
  if (!(a.role === 'any' || node.role === 'any' || node.role === a.role)) return false;
  if (selectors.length === 0) return true;
  return selectors.some(
    (s) =>
      s.all ||
      ((s.name === undefined || s.name === node.name || s.name === node.id) &&
        (s.role === undefined || s.role === node.role) &&
        labelsMatch(s.labels, node.labels)),
  );
}
