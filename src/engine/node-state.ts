/** The node state machine: idle and busy while live, draining (no new work), down, left. */
import type { NodeState } from '../core/types.js';

export const NODE_TRANSITIONS: Record<NodeState, readonly NodeState[]> = {
  idle: ['busy', 'draining', 'down', 'left'],
  busy: ['idle', 'draining', 'down', 'left'],
  draining: ['idle', 'busy', 'down', 'left'],
  // busy: a node back from down may already have work waiting for it (a lost task's retry).
  down: ['idle', 'busy', 'left'],
  left: ['idle'],
};

export function canTransitionNode(from: NodeState, to: NodeState): boolean {
  return NODE_TRANSITIONS[from].includes(to);
}
