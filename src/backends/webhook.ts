/**
 * The webhook backend: jobhub POSTs the job (id, name, params, labels, its hook URL and token, its
 * input files) to the configured URL; the backend answers `{"id": ...}` (its own id of the run,
 * optional), then reports status, progress and output through the per-job hook
 * (routes/backend-hooks.ts). With `statusUrl`, jobhub also polls it (seed 002's asynchronous
 * polling): `{"state": "running|succeeded|failed|stopped", "text": ..., "output": "all output so far"}`.
 * Stop POSTs `stopUrl` (or `url` with `{"action": "stop"}`).
 */
import type { BackendRecord, BackendRunRecord } from '../store/store.js';
import {
  type BackendJob,
  type BackendState,
  type BackendStatus,
  type CommonSettings,
  commonSettings,
  type ExternalBackend,
  type IdentificationKeys,
} from './backend.js';
import type { BackendConfigBody } from './config-schema.js';
import { type CallOptions, type CallResult, callBackend, jsonOf } from './http-call.js';

const STATES: ReadonlySet<string> = new Set(['queued', 'running', 'succeeded', 'failed', 'stopped']);

export class WebhookBackend implements ExternalBackend {
  readonly kind = 'webhook' as const;
  readonly callback = true;
  readonly outputUnit = 'chars' as const;
  readonly settings: CommonSettings;
  readonly secrets: readonly string[];
  /** The status polled last, with its output (statusUrl only): output() reads from it. */
  private lastOutput = new Map<string, string>();

  constructor(
    readonly id: string,
    private readonly config: BackendConfigBody,
    private readonly token: string | undefined,
  ) {
    this.settings = commonSettings(config);
    this.secrets = token ? [token] : [];
  }

  async submit(job: BackendJob): Promise<IdentificationKeys> {
    const res = await this.call(this.config.url, {
      method: 'POST',
      body: JSON.stringify({ action: 'run', ...job }),
    });
    let external = `jobhub-${job.jobId}`;
    if (res.text.trim() !== '') {
      const body = jsonOf(this.id, res);
      if (typeof body.id === 'string' || typeof body.id === 'number') external = String(body.id);
    }
    return { externalId: external };
  }

  async status(keys: IdentificationKeys, run: BackendRunRecord): Promise<BackendStatus> {
    if (this.config.statusUrl) {
      const res = await this.call(this.fill(this.config.statusUrl, keys, run.jobId), { method: 'GET' });
      const body = jsonOf(this.id, res);
      const state = String(body.state ?? body.status ?? '').toLowerCase();
      if (typeof body.output === 'string') this.lastOutput.set(String(keys.externalId), body.output);
      if (STATES.has(state)) {
        return {
          state: state as BackendState,
          ...(typeof body.text === 'string' ? { text: body.text } : {}),
        };
      }
    }
    // What the backend reported through the hook (any replica stored it).
    const r = run.report;
    if (!r) return { state: 'running' };
    return { state: r.state, ...(r.text !== null ? { text: r.text } : {}) };
  }

  async output(keys: IdentificationKeys, offset: number): Promise<{ text: string; offset: number }> {
    const all = this.lastOutput.get(String(keys.externalId));
    if (all === undefined || all.length <= offset) return { text: '', offset };
    return { text: all.slice(offset), offset: all.length };
  }

  async stop(keys: IdentificationKeys, force: boolean, job: BackendJob): Promise<void> {
    const url = this.config.stopUrl ? this.fill(this.config.stopUrl, keys, job.jobId) : this.config.url;
    await this.call(url, {
      method: 'POST',
      body: JSON.stringify({ action: 'stop', id: keys.externalId, jobId: job.jobId, force }),
    });
  }

  /** A call to the backend: JSON, the bearer token when there is one, the backend's timeout and retries. */
  private call(url: string, opts: Pick<CallOptions, 'method' | 'body'>): Promise<CallResult> {
    return callBackend(url, {
      ...opts,
      backendId: this.id,
      headers: {
        'content-type': 'application/json',
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
      },
      timeoutMs: this.settings.timeoutMs,
      retries: this.settings.retries,
    });
  }

  private fill(template: string, keys: IdentificationKeys, jobId: number): string {
    return template
      .replaceAll('{id}', encodeURIComponent(String(keys.externalId ?? '')))
      .replaceAll('{jobId}', String(jobId));
  }
}

export function webhookBackend(record: BackendRecord, token: string | undefined): ExternalBackend {
  return new WebhookBackend(record.id, record.config as unknown as BackendConfigBody, token);
}
