/**
 * The fault suite's summary: each fault test records what it injected and what it checked, and
 * the global teardown (global-setup.ts) prints one table for the run. Rows go to a JSON-lines file
 * named by JOBHUB_FAULT_REPORT (set by the global setup), because test files run in separate worker
 * processes.
 */
import { appendFileSync } from 'node:fs';

/** One test's contribution to the table; counts add up per kind. */
export interface FaultRow {
  /** What was injected, e.g. 'server SIGKILL (SQLite)', 'link cut', 'slowloris'. */
  kind: string;
  /** How many faults of this kind were injected. */
  injected: number;
  /** Jobs run through the fault and checked for their final state. */
  jobs: number;
  /** Log lines checked for exactly-once storage. */
  linesChecked: number;
  /** Jobs, log lines or events missing afterwards (must be 0). */
  lost: number;
  /** Tasks run twice at once, log lines or events stored twice (must be 0). */
  doubled: number;
  /** Task processes or containers left running, locks held by finished jobs (must be 0). */
  leaked: number;
  /** 5xx answers seen by clients (must be 0). */
  serverErrors: number;
}

export function recordFaults(row: Partial<FaultRow> & Pick<FaultRow, 'kind'>): void {
  const file = process.env.JOBHUB_FAULT_REPORT;
  if (!file) return;
  const full: FaultRow = {
    injected: 0,
    jobs: 0,
    linesChecked: 0,
    lost: 0,
    doubled: 0,
    leaked: 0,
    serverErrors: 0,
    ...row,
  };
  appendFileSync(file, `${JSON.stringify(full)}\n`);
}
