/** Which agent reports change what the coordinator knows. */
import type { AgentReport } from '../agent/protocol.js';

/**
 * False for `task.started`: the coordinator records a task as running when it dispatches it (and the
 * real start time arrives with `task.exited`), so it ignores the start report. Replicas need not
 * route it through the store's inbox to the lease holder: that would be four round trips for nothing.
 */
export function reportChangesState(report: AgentReport): boolean {
  return report.type !== 'task.started';
}
