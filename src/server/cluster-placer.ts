/** Placement on a cluster: the scheduler over the nodes whose agents are connected now. */
import type { Coordinator, Placer } from '../engine/coordinator.js';
import { containerAssignments } from '../plan/capabilities.js';
import type { CandidateNode, PlacementResult } from '../plan/scheduler.js';
import { placeJob } from '../plan/scheduler.js';
import type { JobRecord, NodeRecord, Store } from '../store/store.js';

export class ClusterPlacer implements Placer {
  constructor(
    private readonly store: Store,
    /** Whether the node's agent is reachable now (connected here, or heard of lately). */
    private readonly isLive: (node: NodeRecord) => boolean,
    private readonly coordinator: () => Coordinator,
  ) {}

  async place(job: JobRecord): Promise<PlacementResult> {
    // Reservations matter only to assignments that ask for capacity.
    const wantsCapacity = job.spec.nodeAssignments.some(
      (a) => a.capacity.cpus !== undefined || a.capacity.memoryMb !== undefined,
    );
    const reserved = wantsCapacity
      ? this.coordinator().reservations()
      : new Map<string, { cpus: number; memoryMb: number }>();
    const nodes: CandidateNode[] = (await this.store.listNodes()).map((n) => {
      const r = reserved.get(n.id) ?? { cpus: 0, memoryMb: 0 };
      return {
        id: n.id,
        name: n.name,
        role: n.info.role,
        labels: n.info.labels,
        ...(n.info.capabilities ? { capabilities: n.info.capabilities } : {}),
        ip: n.info.addr.ip,
        // A node that is not connected is as good as down for new work.
        state: this.isLive(n) ? n.state : 'down',
        free: { cpus: n.info.capacity.cpus - r.cpus, memoryMb: n.info.capacity.memoryMb - r.memoryMb },
      };
    });
    return placeJob(job.spec.nodeAssignments, nodes, { containers: containerAssignments(job.spec) });
  }
}
