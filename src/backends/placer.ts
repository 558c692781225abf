/**
 * Placement of backend jobs: their one assignment goes to the backend's node (`backend:<id>`);
 * every other job is placed by the placer given (agents).
 */
import type { Placer } from '../engine/coordinator.js';
import type { PlacementResult } from '../plan/scheduler.js';
import { BACKEND_ASSIGNMENT, backendOf } from '../spec/backend-job.js';
import type { JobRecord, Store } from '../store/store.js';
import { backendNodeId } from './backend.js';

export class BackendPlacer implements Placer {
  constructor(
    private readonly store: Store,
    private readonly agents: Placer,
  ) {}

  async place(job: JobRecord): Promise<PlacementResult> {
    const id = backendOf(job.spec.labels);
    if (id === undefined) return this.agents.place(job);
    if (!(await this.store.getBackend(id))) return { ok: false, reason: `backend "${id}" is not configured` };
    return {
      ok: true,
      placement: [
        { assignment: BACKEND_ASSIGNMENT, role: 'backend', nodeId: backendNodeId(id), nodeName: id, ip: '' },
      ],
    };
  }
}
