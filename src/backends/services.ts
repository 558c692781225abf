/** What the HTTP routes and submissions use of the backends, built by the server. */
import { JobhubError } from '../core/errors.js';
import { ASCOB_BACKEND_LABEL, BACKEND_LABEL, backendOf } from '../spec/backend-job.js';
import type { JobSpec } from '../spec/model.js';
import type { Store } from '../store/store.js';
import type { HookTokens } from './hook-tokens.js';

export interface BackendServices {
  hookTokens: HookTokens;
  /** Encrypts a token with the server key (as org secrets are). */
  seal(plain: string): string;
}

/** A job whose labels pick a backend that is not configured is refused at submission, naming the label. */
export async function checkBackendLabel(store: Store, spec: Pick<JobSpec, 'labels'>): Promise<void> {
  const id = backendOf(spec.labels);
  if (id === undefined || (await store.getBackend(id))) return;
  const label = spec.labels[BACKEND_LABEL] !== undefined ? BACKEND_LABEL : ASCOB_BACKEND_LABEL;
  const names = (await store.listBackends()).map((b) => b.id);
  const message = `no backend "${id}" is configured on this server (${names.length > 0 ? `backends: ${names.join(', ')}` : 'none is'})`;
  throw new JobhubError('bad_request', `labels.${label}: ${message}`, [{ path: `labels.${label}`, message }]);
}
