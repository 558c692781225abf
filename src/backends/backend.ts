/**
 * External backends (seed 002): where a job whose labels pick one runs instead of jobhub's agents.
 * The interface is seed 002's: submit (returns the identification keys), status, output, stop, and an
 * optional callback (the hook a backend reports through). The registry turns the stored configs into
 * backends, credentials decrypted in memory only.
 */
import { JobhubError } from '../core/errors.js';
import type { BackendRecord, BackendRunRecord, Store } from '../store/store.js';
import {
  type BackendConfigBody,
  DEFAULT_POLL_MS,
  DEFAULT_RETRIES,
  DEFAULT_STOP_GRACE_MS,
  DEFAULT_TIMEOUT_MS,
  DEFAULT_UNREACHABLE_MS,
} from './config-schema.js';

/** What identifies a run on its backend (Jenkins: queue item and build number; webhook: its id). */
export type IdentificationKeys = Record<string, string | number>;

/** Where a run stands on its backend. */
export type BackendState = 'queued' | 'running' | 'succeeded' | 'failed' | 'stopped';

export interface BackendStatus {
  state: BackendState;
  /** Why, for a final state (`FAILURE`, the backend's message). */
  text?: string;
  /** Keys learnt while it went (Jenkins: the build number once the queue item has one). */
  keys?: IdentificationKeys;
}

/** The job as a backend gets it. */
export interface BackendJob {
  jobId: number;
  name: string;
  description: string | null;
  params: Record<string, string>;
  labels: Record<string, string>;
  submitter: string | null;
  owner: { id: string; name: string; type: string } | null;
  /** Where the backend reports (seed 002's hooks), with `token`. */
  hook: { url: string; token: string };
  /** The job's input files, fetched through the hook with its token. */
  inputs: Array<{ path: string; size: number; sha256: string; url: string }>;
}

/** The settings every kind has, defaults filled in. */
export interface CommonSettings {
  pollMs: number;
  timeoutMs: number;
  retries: number;
  unreachableMs: number;
  stopGraceMs: number;
}

export interface ExternalBackend {
  readonly id: string;
  readonly kind: BackendRecord['kind'];
  readonly settings: CommonSettings;
  /** Credential values: masked in whatever jobhub stores or shows. */
  readonly secrets: readonly string[];
  /**
   * Starts the job on the backend, carrying `marker` (unique to this attempt, stored before the
   * call) where the backend can show it back. Throws BackendUnreachable when it cannot be reached.
   */
  submit(job: BackendJob, marker: string): Promise<IdentificationKeys>;
  /**
   * After a restart that found a trigger sent but its keys not stored: the keys of the run that
   * carries `marker`, or undefined when it surely never reached the backend (then it is submitted
   * again). Throws when it cannot tell. A backend without it is submitted again.
   */
  findTriggered?(marker: string): Promise<IdentificationKeys | undefined>;
  status(keys: IdentificationKeys, run: BackendRunRecord): Promise<BackendStatus>;
  /** The unit of output offsets: bytes (Jenkins' progressiveText) or characters. */
  readonly outputUnit: 'bytes' | 'chars';
  /** Output after `offset` (in `outputUnit`), and the new offset. */
  output(keys: IdentificationKeys, offset: number): Promise<{ text: string; offset: number }>;
  /** Asks for a stop; `force`: at once (Jenkins' term/kill). */
  stop(keys: IdentificationKeys, force: boolean, job: BackendJob): Promise<void>;
  /** Whether the backend reports through the per-job hook (seed 002's callback). */
  readonly callback: boolean;
}

/** The backend could not be reached (connection refused, DNS, timeout, 5xx after retries). */
export class BackendUnreachable extends JobhubError {
  constructor(backendId: string, why: string) {
    super('unavailable', `backend ${backendId} unreachable: ${why}`);
  }
}

/** The backend answered, but not as it should (4xx, a body that makes no sense). */
export class BackendRefused extends JobhubError {
  constructor(backendId: string, why: string) {
    super('bad_request', `backend ${backendId} refused: ${why}`);
  }
}

/** The node id a backend's tasks run on (no agent has such an id: agents' ids are UUIDs). */
export const BACKEND_NODE_PREFIX = 'backend:';
export function backendNodeId(backendId: string): string {
  return `${BACKEND_NODE_PREFIX}${backendId}`;
}
export function backendIdOfNode(nodeId: string): string | undefined {
  return nodeId.startsWith(BACKEND_NODE_PREFIX) ? nodeId.slice(BACKEND_NODE_PREFIX.length) : undefined;
}

export function commonSettings(c: Partial<BackendConfigBody>): CommonSettings {
  return {
    pollMs: c.pollMs ?? DEFAULT_POLL_MS,
    timeoutMs: c.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    retries: c.retries ?? DEFAULT_RETRIES,
    unreachableMs: c.unreachableMs ?? DEFAULT_UNREACHABLE_MS,
    stopGraceMs: c.stopGraceMs ?? DEFAULT_STOP_GRACE_MS,
  };
}

/** Makes the backend of a stored config, given its decrypted token (undefined: none). */
export type BackendFactory = (record: BackendRecord, token: string | undefined) => ExternalBackend;

export interface RegistryOptions {
  store: Store;
  /** Decrypts a sealed token (the server key). */
  unseal: (sealed: string) => string;
  /** An org secret's value (decrypted), or undefined when there is none. */
  orgSecret: (org: string, name: string) => Promise<string | undefined>;
  /** One per kind. */
  factories: Record<BackendRecord['kind'], BackendFactory>;
}

/** The configured backends, read from the store (every replica sees the same). */
export class BackendRegistry {
  constructor(private readonly opts: RegistryOptions) {}

  /** Whether a backend with this id is configured. */
  async exists(id: string): Promise<boolean> {
    return (await this.opts.store.getBackend(id)) !== undefined;
  }

  /** The backend, credentials resolved; undefined when not configured. */
  async get(id: string): Promise<ExternalBackend | undefined> {
    const record = await this.opts.store.getBackend(id);
    if (!record) return undefined;
    return this.opts.factories[record.kind](record, await this.token(record));
  }

  private async token(record: BackendRecord): Promise<string | undefined> {
    if (record.sealedToken) return this.opts.unseal(record.sealedToken);
    const ref = record.config.tokenSecret as { org: string; name: string } | undefined;
    if (!ref) return undefined;
    const value = await this.opts.orgSecret(ref.org, ref.name);
    if (value === undefined) {
      throw new BackendRefused(record.id, `its token secret ${ref.org}/${ref.name} does not exist`);
    }
    return value;
  }
}

/** Replaces each credential in a text by `***` (log lines, messages). */
export function maskSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 3) out = out.split(s).join('***');
  return out;
}
