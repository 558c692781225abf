/**
 * Node assignment: fills each node assignment of a spec with a distinct live node, by role, then
 * selectors (name, role, labels) and free capacity. Deterministic: the same nodes in any order give
 * the same placement. Assignments are filled in spec order; preferred are nodes whose role is the
 * assignment's own (over `any`), then the most free cpus, then name and id. When the greedy choice
 * would leave a later assignment without a node, other choices are tried (a small search; specs
 * have few assignments).
 */
import type { Labels, NodeState } from '../core/types.js';
import type { NodeAssignment } from '../spec/model.js';
import type { PlacedNode } from '../store/store.js';
import { canRunContainers } from './capabilities.js';
import { nodeMatches } from './selectors.js';

export interface CandidateNode {
  id: string;
  name: string;
  role: string;
  labels: Labels;
  /** What the node advertised (NodeInfo.capabilities). Absent: none. */
  capabilities?: readonly string[];
  ip: string;
  state: NodeState;
  /** Free capacity now (capacity minus what running jobs reserved). */
  free: { cpus: number; memoryMb: number };
}

export type PlacementResult = { ok: true; placement: PlacedNode[] } | { ok: false; reason: string };

const LIVE: ReadonlySet<NodeState> = new Set(['idle', 'busy']);
const MAX_STEPS = 10_000;

/** What the job asks of nodes beyond its assignments' own conditions. */
export interface PlacementNeeds {
  /** Assignments that run docker tasks: only nodes that can run containers fill them. Default none. */
  containers?: ReadonlySet<string>;
}

export function placeJob(
  assignments: NodeAssignment[],
  nodes: CandidateNode[],
  needs: PlacementNeeds = {},
): PlacementResult {
  const live = nodes.filter((n) => LIVE.has(n.state));
  const wantsContainers = (a: NodeAssignment) => needs.containers?.has(a.name) === true;
  const options = assignments.map((a) =>
    live.filter((n) => fits(a, n, wantsContainers(a))).sort((x, y) => preference(a, x, y)),
  );

  for (const [i, a] of assignments.entries()) {
    if ((options[i] ?? []).length === 0) return { ok: false, reason: explain(a, nodes, wantsContainers(a)) };
  }

  const chosen: CandidateNode[] = [];
  const used = new Set<string>();
  let steps = 0;
  const search = (i: number): boolean => {
    if (i === assignments.length) return true;
    for (const n of options[i] ?? []) {
      if (++steps > MAX_STEPS) return false;
      if (used.has(n.id)) continue;
      used.add(n.id);
      chosen.push(n);
      if (search(i + 1)) return true;
      chosen.pop();
      used.delete(n.id);
    }
    return false;
  };
  if (!search(0)) {
    const names = assignments.map((a) => a.name).join(', ');
    return {
      ok: false,
      reason: `not enough distinct nodes for assignments ${names}: each needs its own node (${live.length} live)`,
    };
  }
  return {
    ok: true,
    placement: assignments.map((a, i) => {
      const n = chosen[i] as CandidateNode;
      return {
        assignment: a.name,
        role: a.role === 'any' ? n.role : a.role,
        nodeId: n.id,
        nodeName: n.name,
        ip: n.ip,
      };
    }),
  };
}

function fits(a: NodeAssignment, n: CandidateNode, containers: boolean): boolean {
  if (!nodeMatches(a, n)) return false;
  if (containers && !canRunContainers(n)) return false;
  if (a.capacity.cpus !== undefined && n.free.cpus < a.capacity.cpus) return false;
  if (a.capacity.memoryMb !== undefined && n.free.memoryMb < a.capacity.memoryMb) return false;
  return true;
}

function preference(a: NodeAssignment, x: CandidateNode, y: CandidateNode): number {
  const exact = (n: CandidateNode) => (n.role === a.role ? 0 : 1);
  return (
    exact(x) - exact(y) ||
    y.free.cpus - x.free.cpus ||
    x.name.localeCompare(y.name) ||
    x.id.localeCompare(y.id)
  );
}

function explain(a: NodeAssignment, nodes: CandidateNode[], containers: boolean): string {
  const want = [`role ${a.role}`];
  if (containers) want.push('a container engine (docker tasks)');
  if (a.selectors.length > 0) want.push(`selectors ${JSON.stringify(a.selectors.map(compactSelector))}`);
  if (a.capacity.cpus !== undefined) want.push(`${a.capacity.cpus} free cpus`);
  if (a.capacity.memoryMb !== undefined) want.push(`${a.capacity.memoryMb} MiB free memory`);
  if (nodes.length === 0)
    return `no node for assignment ${a.name} (${want.join(', ')}): no nodes are registered`;
  const why = nodes
    .slice(0, 5)
    .map((n) => `${n.name}: ${rejection(a, n, containers)}`)
    .join('; ');
  return `no node for assignment ${a.name} (${want.join(', ')}): ${why}${nodes.length > 5 ? '; ...' : ''}`;
}

function rejection(a: NodeAssignment, n: CandidateNode, containers: boolean): string {
  if (!LIVE.has(n.state)) return n.state;
  if (!nodeMatches(a, n, [])) return `role ${n.role}`;
  if (!nodeMatches(a, n)) return `labels ${JSON.stringify(n.labels)} do not match`;
  if (containers && !canRunContainers(n)) return 'no container engine';
  if (a.capacity.cpus !== undefined && n.free.cpus < a.capacity.cpus) return `${n.free.cpus} cpus free`;
  return `${n.free.memoryMb} MiB free`;
}

function compactSelector(s: NodeAssignment['selectors'][number]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (s.name) out.name = s.name;
  if (s.role) out.role = s.role;
  if (Object.keys(s.labels).length > 0) out.labels = s.labels;
  if (s.all) out.all = true;
  return out;
}
