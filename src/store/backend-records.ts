/** What the store keeps for external backends (migration 10): their configs, and each run's keys. */
import type { Millis } from '../core/types.js';

/** A configured backend. `config` never holds a credential in clear: see `sealedToken`. */
export interface BackendRecord {
  id: string;
  kind: 'jenkins' | 'webhook';
  /** The kind's settings (see backends/config-schema.ts), without the token. */
  config: Record<string, unknown>;
  /** The API token / secret, encrypted with the server key; null: none, or an org secret reference. */
  sealedToken: string | null;
  /** Where it came from: the `--backends` file (replaced at each start) or the API. */
  source: 'file' | 'api';
  updatedAt: Millis;
}

/** One attempt of a backend job's task on its backend: what identifies it there, and how far we read. */
export interface BackendRunRecord {
  jobId: number;
  taskId: number;
  attempt: number;
  backendId: string;
  /**
   * Seed 002's identification keys: Jenkins `{queueItem, build}`, webhook `{externalId}`; while a
   * Jenkins trigger is on its way, `{triggering: <run marker>}` (looked up on resume, see jenkins.ts).
   */
  keys: Record<string, string | number>;
  /** Backend position in the output read so far (Jenkins: characters of the console text). */
  outputOffset: number;
  /** Log lines stored so far for this attempt (the next line gets seq + 1). */
  logSeq: number;
  /** The last status the backend reported through its hook; null: none yet. */
  report: BackendReport | null;
  updatedAt: Millis;
}

/** A status a backend reported (webhook hook) for jobhub to apply. */
export interface BackendReport {
  state: 'running' | 'succeeded' | 'failed' | 'stopped';
  text: string | null;
  /** Progress 0..100, when the backend says. */
  progress: number | null;
}

/** Fields of a run that change while it goes. */
export interface BackendRunUpdate {
  keys?: Record<string, string | number>;
  outputOffset?: number;
  logSeq?: number;
  report?: BackendReport | null;
}
