/**
 * The Jenkins backend, on Jenkins' documented REST API: POST `/job/NAME/buildWithParameters` (Basic
 * auth with a user's API token, plus a crumb from `/crumbIssuer/api/json` when Jenkins gives one);
 * the `Location` answered is the queue item, polled (`/queue/item/N/api/json`) until its
 * `executable.number` names the build (a cancelled item fails the job); the build is polled at
 * `/job/NAME/N/api/json` (`building`, `result`); its console is read with
 * `/job/NAME/N/logText/progressiveText?start=OFFSET` (`X-Text-Size` is the next offset); stop is
 * POST `/job/NAME/N/stop` (forced: `/term`, then `/kill`).
 *
 * Each trigger carries the run marker in a build parameter (`runParameter`, default JOBHUB_RUN). A
 * server restarted after sending a trigger whose queue item it had not stored yet looks the marker
 * up in the queue (`/queue/api/json`) and the job's recent builds (`builds[...]`, the last 100), in
 * their `ParametersAction`s, and adopts what it finds instead of triggering again.
 */
import type { BackendRecord } from '../store/store.js';
import {
  type BackendJob,
  BackendRefused,
  type BackendStatus,
  BackendUnreachable,
  type CommonSettings,
  commonSettings,
  type ExternalBackend,
  type IdentificationKeys,
} from './backend.js';
import { type BackendConfigBody, DEFAULT_RUN_PARAMETER } from './config-schema.js';
import { type CallOptions, type CallResult, callBackend, jsonOf } from './http-call.js';

export class JenkinsBackend implements ExternalBackend {
  readonly kind = 'jenkins' as const;
  readonly callback = false;
  readonly outputUnit = 'bytes' as const;
  readonly settings: CommonSettings;
  readonly secrets: readonly string[];
  private readonly base: string;
  private readonly jobPath: string;
  private readonly auth: string | undefined;
  /** The build parameter carrying the run marker; '' : none. */
  private readonly runParameter: string;

  constructor(
    readonly id: string,
    config: BackendConfigBody,
    token: string | undefined,
  ) {
    this.settings = commonSettings(config);
    this.base = config.url.replace(/\/+$/, '');
    // `folder/name` is `/job/folder/job/name` in Jenkins' URLs.
    this.jobPath = (config.job ?? '')
      .split('/')
      .filter((s) => s !== '')
      .map((s) => `/job/${encodeURIComponent(s)}`)
      .join('');
    this.auth =
      config.user && token ? `Basic ${Buffer.from(`${config.user}:${token}`).toString('base64')}` : undefined;
    this.secrets = token ? [token] : [];
    this.runParameter = config.runParameter ?? DEFAULT_RUN_PARAMETER;
  }

  async submit(job: BackendJob, marker: string): Promise<IdentificationKeys> {
    const params = { ...job.params };
    if (this.runParameter !== '') params[this.runParameter] = marker;
    const form = new URLSearchParams(params);
    const path = Object.keys(params).length > 0 ? 'buildWithParameters' : 'build';
    const headers = { 'content-type': 'application/x-www-form-urlencoded', ...(await this.crumb()) };
    const url = `${this.base}${this.jobPath}/${path}`;
    const marked = this.runParameter !== '';
    let res: CallResult | undefined;
    for (let tries = 1; res === undefined; tries++) {
      try {
        // A trigger that timed out may have been taken: with a marker, look before sending it again.
        res = await this.call(url, {
          method: 'POST',
          headers,
          body: form.toString(),
          ...(marked ? { retries: 1 } : {}),
        });
      } catch (err) {
        if (!(err instanceof BackendUnreachable) || !marked || tries >= this.settings.retries) throw err;
        const found = await this.findTriggered(marker);
        if (found) return found;
      }
    }
    const location = res.headers.get('location') ?? '';
    const m = /\/queue\/item\/(\d+)\/?$/.exec(location);
    if (!m?.[1])
      throw new BackendRefused(
        this.id,
        `the build was not queued (no queue item in Location: ${location || 'none'})`,
      );
    return { queueItem: Number(m[1]) };
  }

  /**
   * The queue item or build whose parameters carry `marker`. The queue is read before the builds: an
   * item that leaves the queue in between is a build by then. Jenkins creates the build just after
   * the item leaves the queue, so an absence is confirmed by a second look a poll later.
   */
  async findTriggered(marker: string): Promise<IdentificationKeys | undefined> {
    if (this.runParameter === '') return undefined;
    for (let look = 0; look < 2; look++) {
      if (look > 0) await new Promise((r) => setTimeout(r, this.settings.pollMs));
      const queue = jsonOf(this.id, await this.call(`${this.base}/queue/api/json`, { method: 'GET' }));
      for (const item of arrayOf(queue.items)) {
        if (typeof item.id === 'number' && this.carries(item, marker)) return { queueItem: item.id };
      }
      const tree = 'builds[number,actions[parameters[name,value]]]';
      const job = jsonOf(
        this.id,
        await this.call(`${this.base}${this.jobPath}/api/json?tree=${encodeURIComponent(tree)}`, {
          method: 'GET',
        }),
      );
      for (const build of arrayOf(job.builds)) {
        if (typeof build.number === 'number' && this.carries(build, marker)) return { build: build.number };
      }
    }
    return undefined;
  }

  /** Whether a queue item's or build's `ParametersAction` has the run parameter set to `marker`. */
  private carries(thing: Record<string, unknown>, marker: string): boolean {
    return arrayOf(thing.actions).some((action) =>
      arrayOf(action.parameters).some((p) => p.name === this.runParameter && p.value === marker),
    );
  }

  async status(keys: IdentificationKeys): Promise<BackendStatus> {
    if (keys.build === undefined) {
      const res = await this.call(`${this.base}/queue/item/${keys.queueItem}/api/json`, {
        method: 'GET',
        accept: [404],
      });
      if (res.status === 404)
        return { state: 'failed', text: `Jenkins queue item ${keys.queueItem} is gone and named no build` };
      const item = jsonOf(this.id, res);
      if (item.cancelled === true)
        return { state: 'failed', text: `Jenkins cancelled queue item ${keys.queueItem}` };
      const exe = item.executable as { number?: unknown } | null | undefined;
      if (!exe || typeof exe.number !== 'number') return { state: 'queued' };
      keys = { ...keys, build: exe.number };
      return { ...(await this.buildStatus(keys)), keys };
    }
    return this.buildStatus(keys);
  }

  private async buildStatus(keys: IdentificationKeys): Promise<BackendStatus> {
    const build = jsonOf(this.id, await this.call(`${this.buildUrl(keys)}/api/json`, { method: 'GET' }));
    if (build.building === true || build.result === null || build.result === undefined)
      return { state: 'running' };
    const result = String(build.result);
    const text = `Jenkins build #${keys.build}: ${result}`;
    if (result === 'SUCCESS') return { state: 'succeeded', text };
    if (result === 'ABORTED' || result === 'NOT_BUILT') return { state: 'stopped', text };
    return { state: 'failed', text };
  }

  async output(keys: IdentificationKeys, offset: number): Promise<{ text: string; offset: number }> {
    if (keys.build === undefined) return { text: '', offset };
    const res = await this.call(`${this.buildUrl(keys)}/logText/progressiveText?start=${offset}`, {
      method: 'GET',
    });
    const size = Number(res.headers.get('x-text-size'));
    return {
      text: res.text,
      offset: Number.isFinite(size) && size >= offset ? size : offset + Buffer.byteLength(res.text),
    };
  }

  async stop(keys: IdentificationKeys, force: boolean): Promise<void> {
    const headers = await this.crumb();
    if (keys.build === undefined) {
      // Still queued: cancel the queue item.
      await this.call(`${this.base}/queue/cancelItem?id=${keys.queueItem}`, {
        method: 'POST',
        headers,
        accept: [404],
      });
      return;
    }
    await this.call(`${this.buildUrl(keys)}/stop`, { method: 'POST', headers });
    if (force) {
      // Jenkins' harder stops; an older Jenkins answers 404 for them.
      await this.call(`${this.buildUrl(keys)}/term`, { method: 'POST', headers, accept: [404] });
      await this.call(`${this.buildUrl(keys)}/kill`, { method: 'POST', headers, accept: [404] });
    }
  }

  private buildUrl(keys: IdentificationKeys): string {
    return `${this.base}${this.jobPath}/${keys.build}`;
  }

  /** Jenkins' CSRF crumb as a header, when it issues one (404: CSRF protection is off). */
  private async crumb(): Promise<Record<string, string>> {
    const res = await this.call(`${this.base}/crumbIssuer/api/json`, { method: 'GET', accept: [404] });
    if (res.status === 404) return {};
    const c = jsonOf(this.id, res);
    return typeof c.crumbRequestField === 'string' && typeof c.crumb === 'string'
      ? { [c.crumbRequestField]: c.crumb }
      : {};
  }

  private call(
    url: string,
    opts: Pick<CallOptions, 'method' | 'headers' | 'body' | 'accept'> & { retries?: number },
  ): Promise<CallResult> {
    return callBackend(url, {
      ...opts,
      backendId: this.id,
      headers: { ...(opts.headers ?? {}), ...(this.auth ? { authorization: this.auth } : {}) },
      timeoutMs: this.settings.timeoutMs,
      retries: opts.retries ?? this.settings.retries,
    });
  }
}

/** The objects of a JSON array (Jenkins answers `{}` for actions the tree leaves out); [] otherwise. */
function arrayOf(v: unknown): Array<Record<string, unknown>> {
  return Array.isArray(v)
    ? v.filter((x): x is Record<string, unknown> => typeof x === 'object' && x !== null)
    : [];
}

export function jenkinsBackend(record: BackendRecord, token: string | undefined): ExternalBackend {
  return new JenkinsBackend(record.id, record.config as unknown as BackendConfigBody, token);
}
