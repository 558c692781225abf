/**
 * What a node can do beyond running processes, advertised at registration (NodeInfo.capabilities), and which
 * assignments of a spec need it. Today one capability: running containers (driver docker).
 */
import type { Labels } from '../core/types.js';
import type { JobSpec } from '../spec/model.js';
import { stageAssignments } from './selectors.js';

/** The capability an agent registers with when its container engine answers a ping. */
export const CONTAINERS = 'containers';

/**
 * A label that grants the capability by hand (`--label jobhub.io/containers=true`): for an engine
 * the agent reaches but whose ping it cannot see at start.
 */
export const CONTAINERS_LABEL = 'jobhub.io/containers';

export function canRunContainers(node: {
  labels: Labels;
  capabilities?: readonly string[] | undefined;
}): boolean {
  return node.capabilities?.includes(CONTAINERS) === true || node.labels[CONTAINERS_LABEL] === 'true';
}

/** Names of the assignments that run at least one docker task: only capable nodes may fill them. */
export function containerAssignments(spec: Pick<JobSpec, 'stages' | 'nodeAssignments'>): Set<string> {
  const out = new Set<string>();
  for (const stage of spec.stages) {
    if (!stage.tasks.some((t) => t.driver === 'docker')) continue;
    for (const a of stageAssignments(stage, spec.nodeAssignments)) out.add(a.name);
  }
  return out;
}
