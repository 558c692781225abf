/**
 * The client of jobhub's REST API (`/api/v1`), for the CLI's remote commands. Response types come
 * from the server's schemas (src/server/api-schemas.ts), so both sides agree by construction.
 *
 * A non-2xx answer becomes a JobhubError with the answer's code, message and details; a server
 * that cannot be reached becomes JobhubError('unavailable'). Streams (`follow*`) are async
 * generators over Server-Sent Events that reconnect with `Last-Event-ID` when the connection
 * drops, so a follow sees every item once, in order, even across a server restart.
 */
import { codeOfHttpStatus, type ErrorCode, type ErrorDetail, JobhubError } from '../core/errors.js';
import { isUntrustedCertificate } from '../core/tls.js';
import type {
  DeleteJobResponse,
  FileList,
  UploadResponse,
  WorkspaceList,
  WorkspaceResponse,
} from '../server/api-schemas.js';
import {
  ERROR_CODES,
  type EventsPage,
  type EventsQuery,
  type EventView,
  type JobDetailView,
  type JobList,
  type ListJobsQuery,
  type LogLineView,
  type LogsPage,
  type NodeList,
  type NodeResponse,
  type NodeView,
  type PlanView,
  type SpecView,
  type StopResponse,
  type StreamEnd,
  type SubmitResponse,
  type ValidateResponse,
} from '../server/api-schemas.js';

export interface ApiClientOptions {
  /** Base URL of the server, e.g. `http://jobhub.example:8080`. */
  server: string;
  token?: string;
  fetch?: typeof fetch;
  /** Reconnects of a stream in a row without receiving anything before giving up. Default 5. */
  maxReconnects?: number;
  /** First pause before a reconnect, doubled each time up to 5s. Default 200ms. */
  reconnectDelayMs?: number;
}

/** Content types a spec can be sent as. */
export type SpecContentType =
  | 'application/yaml'
  | 'text/yaml'
  | 'application/x-yaml'
  | 'text/plain'
  | 'application/json';

type QueryValue = string | number | boolean | readonly (string | number)[] | undefined;

/** One Server-Sent Events frame. */
export interface SseFrame {
  id?: string;
  event: string;
  data: string;
}

export interface FollowOptions {
  /** Start after this id (event seq or log line id). */
  after?: number;
  /** Aborts the stream (the generator then returns). */
  signal?: AbortSignal;
}

export class ApiClient {
  private readonly base: string;
  private readonly token: string | undefined;
  private readonly fetchFn: typeof fetch;
  private readonly maxReconnects: number;
  private readonly reconnectDelayMs: number;

  constructor(opts: ApiClientOptions) {
    this.base = opts.server.replace(/\/+$/, '');
    this.token = opts.token;
    this.fetchFn = opts.fetch ?? fetch;
    this.maxReconnects = opts.maxReconnects ?? 5;
    this.reconnectDelayMs = opts.reconnectDelayMs ?? 200;
  }

  // -------------------------------------------------------------------------------------------
  // Jobs

  /** Submits a spec, with parameter values (`name=value`) if it declares params. */
  submitSpec(
    text: string,
    contentType: SpecContentType = 'application/yaml',
    params: readonly string[] = [],
  ): Promise<SubmitResponse> {
    return this.request('POST', '/api/v1/jobs', { body: text, contentType, query: { param: [...params] } });
  }

  /** Submits a stored template (`name` or `name@version`) with parameter values (`name=value`). */
  submitTemplate(ref: string, params: readonly string[] = [], hold = false): Promise<SubmitResponse> {
    return this.request('POST', '/api/v1/jobs', {
      query: { template: ref, param: [...params], ...(hold ? { hold: true } : {}) },
    });
  }

  listJobs(query: ListJobsQuery = {}): Promise<JobList> {
    return this.request('GET', '/api/v1/jobs', { query: { ...query } });
  }

  /** Follows a `next` (or `previous`) link of a job list. */
  listJobsAt(link: string): Promise<JobList> {
    return this.request('GET', link);
  }

  getJob(id: number): Promise<JobDetailView> {
    return this.request('GET', `/api/v1/jobs/${id}`);
  }

  getSpec(id: number): Promise<SpecView> {
    return this.request('GET', `/api/v1/jobs/${id}/spec`);
  }

  getPlan(id: number): Promise<PlanView> {
    return this.request('GET', `/api/v1/jobs/${id}/plan`);
  }

  stopJob(id: number, opts: { force?: boolean } = {}): Promise<StopResponse> {
    return this.request('POST', `/api/v1/jobs/${id}/stop`, { query: { force: opts.force } });
  }

  retryJob(id: number): Promise<SubmitResponse> {
    return this.request('POST', `/api/v1/jobs/${id}/retry`);
  }

  jobEvents(id: number, query: { after?: number; limit?: number } = {}): Promise<EventsPage> {
    return this.request('GET', `/api/v1/jobs/${id}/events`, { query });
  }

  jobLogs(id: number, query: { task?: string; after?: number; limit?: number } = {}): Promise<LogsPage> {
    return this.request('GET', `/api/v1/jobs/${id}/logs`, { query });
  }

  // -------------------------------------------------------------------------------------------
  // Specs

  planSpec(text: string, contentType: SpecContentType = 'application/yaml'): Promise<PlanView> {
    return this.request('POST', '/api/v1/plan', { body: text, contentType });
  }

  validateSpec(text: string, contentType: SpecContentType = 'application/yaml'): Promise<ValidateResponse> {
    return this.request('POST', '/api/v1/specs/validate', { body: text, contentType });
  }

  // -------------------------------------------------------------------------------------------
  // Nodes and events

  listNodes(): Promise<NodeList> {
    return this.request('GET', '/api/v1/nodes');
  }

  getNode(id: string): Promise<NodeView> {
    return this.request('GET', `/api/v1/nodes/${encodeURIComponent(id)}`);
  }

  nodeEvents(id: string, query: { after?: number; limit?: number } = {}): Promise<EventsPage> {
    return this.request('GET', `/api/v1/nodes/${encodeURIComponent(id)}/events`, { query });
  }

  /** Drains a node (`on`), or ends its draining. */
  drainNode(id: string, on: boolean): Promise<NodeResponse> {
    return this.request(on ? 'POST' : 'DELETE', `/api/v1/nodes/${encodeURIComponent(id)}/drain`);
  }

  events(query: Omit<EventsQuery, 'follow'> = {}): Promise<EventsPage> {
    return this.request('GET', '/api/v1/events', { query: { ...query } });
  }

  // -------------------------------------------------------------------------------------------
  // Files

  /** Submits a spec held (`hold=true`): it waits for its inputs and a release. */
  submitHeld(
    text: string,
    contentType: SpecContentType = 'application/yaml',
    params: readonly string[] = [],
  ): Promise<SubmitResponse> {
    return this.request('POST', '/api/v1/jobs', {
      body: text,
      contentType,
      query: { hold: true, param: [...params] },
    });
  }

  /** Uploads a local file as an input of a held job (streamed). */
  async uploadInput(jobId: number, name: string, file: string): Promise<UploadResponse> {
    const res = await this.sendStream('POST', `/api/v1/jobs/${jobId}/files`, { name }, file);
    if (!res.ok) throw await errorOf(res);
    return (await res.json()) as UploadResponse;
  }

  releaseJob(jobId: number): Promise<StopResponse> {
    return this.request('POST', `/api/v1/jobs/${jobId}/release`);
  }

  deleteJob(jobId: number): Promise<DeleteJobResponse> {
    return this.request('DELETE', `/api/v1/jobs/${jobId}`);
  }

  listFiles(jobId: number, opts: { tree?: boolean } = {}): Promise<FileList> {
    return this.request('GET', `/api/v1/jobs/${jobId}/files`, { query: { tree: opts.tree } });
  }

  /** One of a job's files, streamed; `sha256` from the answer's header. */
  async downloadFile(
    jobId: number,
    filePath: string,
  ): Promise<{ body: ReadableStream<Uint8Array>; sha256: string | null; size: number | null }> {
    const p = filePath.split('/').map(encodeURIComponent).join('/');
    const res = await this.send('GET', `/api/v1/jobs/${jobId}/files/${p}`, { headers: { accept: '*/*' } });
    if (!res.ok) throw await errorOf(res);
    if (!res.body) throw new JobhubError('internal', 'the server sent no file');
    const len = res.headers.get('content-length');
    return { body: res.body, sha256: res.headers.get('x-sha256'), size: len === null ? null : Number(len) };
  }

  /** A folder of a job's files (every file by default) as a tar.gz stream. */
  async downloadArchive(jobId: number, folder?: string): Promise<ReadableStream<Uint8Array>> {
    const res = await this.send('GET', `/api/v1/jobs/${jobId}/archive`, {
      query: { path: folder },
      headers: { accept: '*/*' },
    });
    if (!res.ok) throw await errorOf(res);
    if (!res.body) throw new JobhubError('internal', 'the server sent no archive');
    return res.body;
  }

  /** Pushes an archive; `owner` (an org) shares it with that org's members, else it is the caller's. */
  async pushWorkspace(name: string, file: string, owner?: string): Promise<WorkspaceResponse> {
    const query: Record<string, QueryValue> = { name };
    if (owner !== undefined) query.owner = owner;
    const res = await this.sendStream('POST', '/api/v1/workspaces', query, file);
    if (!res.ok) throw await errorOf(res);
    return (await res.json()) as WorkspaceResponse;
  }

  listWorkspaces(): Promise<WorkspaceList> {
    return this.request('GET', '/api/v1/workspaces');
  }

  /** Sends a local file as a raw body, streamed (never read into memory). */
  private async sendStream(
    method: string,
    path: string,
    query: Record<string, QueryValue>,
    file: string,
  ): Promise<Response> {
    const { createReadStream, statSync } = await import('node:fs');
    const { Readable } = await import('node:stream');
    const size = statSync(file).size;
    const headers: Record<string, string> = {
      accept: 'application/json',
      'content-type': 'application/octet-stream',
      'content-length': String(size),
    };
    if (this.token !== undefined) headers['x-api-token'] = this.token;
    try {
      return await this.fetchFn(this.base + path + queryString(query), {
        method,
        headers,
        body: Readable.toWeb(createReadStream(file)) as ReadableStream<Uint8Array>,
        duplex: 'half',
      } as RequestInit);
    } catch (err) {
      throw new JobhubError('unavailable', `cannot reach jobhub server at ${this.base}: ${messageOf(err)}`);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Streams

  /** A job's events from `after` on, live, until the job has ended. */
  followJobEvents(id: number, opts: FollowOptions = {}): AsyncGenerator<EventView, StreamEnd | undefined> {
    return this.follow<EventView>(`/api/v1/jobs/${id}/events`, {}, opts);
  }

  /** A job's (or one task's) log lines from `after` on, live, until the job has ended. */
  followJobLogs(
    id: number,
    opts: FollowOptions & { task?: string } = {},
  ): AsyncGenerator<LogLineView, StreamEnd | undefined> {
    return this.follow<LogLineView>(`/api/v1/jobs/${id}/logs`, { task: opts.task }, opts);
  }

  /** Every event matching the filters, live; runs until aborted. */
  followEvents(
    filters: { job?: number; node?: string; type?: string[] } & FollowOptions = {},
  ): AsyncGenerator<EventView, StreamEnd | undefined> {
    const { after, signal, ...query } = filters;
    return this.follow<EventView>('/api/v1/events', query, {
      ...(after !== undefined ? { after } : {}),
      ...(signal ? { signal } : {}),
    });
  }

  private async *follow<T>(
    path: string,
    query: Record<string, QueryValue>,
    opts: FollowOptions,
  ): AsyncGenerator<T, StreamEnd | undefined> {
    let lastId: number | undefined = opts.after;
    let failures = 0;
    let first = true;
    for (;;) {
      if (opts.signal?.aborted) return undefined;
      const headers: Record<string, string> = { accept: 'text/event-stream' };
      // The first connection starts at `after`; a reconnect resumes after the last id received.
      const q: Record<string, QueryValue> = { ...query, follow: true };
      if (lastId !== undefined) {
        if (first) q.after = lastId;
        else headers['last-event-id'] = String(lastId);
      }
      first = false;
      const abort = new AbortController();
      const onAbort = () => abort.abort();
      opts.signal?.addEventListener('abort', onAbort);
      let failure: unknown;
      try {
        const res = await this.send('GET', path, { query: q, headers, signal: abort.signal });
        if (!res.ok) throw await errorOf(res);
        if (!res.body) throw new JobhubError('internal', `the server sent no stream for ${path}`);
        for await (const frame of sseFrames(res.body)) {
          failures = 0;
          if (frame.event === 'end') return JSON.parse(frame.data) as StreamEnd;
          if (frame.event === 'error') throw errorFromBody(500, safeJson(frame.data));
          if (frame.id !== undefined && /^\d+$/.test(frame.id)) lastId = Number(frame.id);
          yield JSON.parse(frame.data) as T;
        }
        failure = new Error('the stream ended early');
      } catch (err) {
        if (opts.signal?.aborted) return undefined;
        // Answers of the server (4xx, a stream error) are final; a dropped connection is not.
        if (err instanceof JobhubError && err.code !== 'unavailable') throw err;
        failure = err;
      } finally {
        opts.signal?.removeEventListener('abort', onAbort);
        abort.abort();
      }
      failures++;
      if (failures > this.maxReconnects) {
        if (failure instanceof JobhubError) throw failure;
        throw new JobhubError(
          'unavailable',
          `lost the stream from jobhub server at ${this.base}: ${messageOf(failure)}`,
        );
      }
      await sleep(Math.min(this.reconnectDelayMs * 2 ** (failures - 1), 5000), opts.signal);
    }
  }

  // -------------------------------------------------------------------------------------------
  // HTTP

  /** One call of the API; a non-2xx answer throws its JobhubError. (Typed wrappers: identity-client.ts.) */
  async request<T>(
    method: string,
    path: string,
    opts: { query?: Record<string, QueryValue>; body?: string; contentType?: string } = {},
  ): Promise<T> {
    let res = await this.send(method, path, opts);
    // Over the token's rate limit: wait as asked, a few times, before giving up.
    for (let tries = 0; res.status === 429 && tries < 3; tries++) {
      await res.body?.cancel();
      await sleep(Math.min(Number(res.headers.get('retry-after') ?? 1) * 1000, 10_000));
      res = await this.send(method, path, opts);
    }
    if (!res.ok) throw await errorOf(res);
    const text = await res.text();
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }

  private async send(
    method: string,
    path: string,
    opts: {
      query?: Record<string, QueryValue>;
      body?: string;
      contentType?: string;
      headers?: Record<string, string>;
      signal?: AbortSignal;
    },
  ): Promise<Response> {
    const url = this.base + path + queryString(opts.query);
    const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
    if (this.token !== undefined) headers['x-api-token'] = this.token;
    if (opts.body !== undefined) headers['content-type'] = opts.contentType ?? 'application/yaml';
    try {
      return await this.fetchFn(url, {
        method,
        headers,
        ...(opts.body !== undefined ? { body: opts.body } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      throw new JobhubError('unavailable', `cannot reach jobhub server at ${this.base}: ${messageOf(err)}`);
    }
  }
}

function queryString(query: Record<string, QueryValue> | undefined): string {
  if (!query) return '';
  const out = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const item of v) out.append(k, String(item));
    else out.append(k, String(v));
  }
  const text = out.toString();
  return text === '' ? '' : `?${text}`;
}

async function errorOf(res: Response): Promise<JobhubError> {
  let body: unknown;
  try {
    body = safeJson(await res.text());
  } catch {
    body = undefined;
  }
  return errorFromBody(res.status, body);
}

const KNOWN_CODES: ReadonlySet<string> = new Set(ERROR_CODES);

function errorFromBody(status: number, body: unknown): JobhubError {
  const b = (body ?? {}) as { error?: unknown; code?: unknown; details?: unknown };
  const code: ErrorCode =
    typeof b.code === 'string' && KNOWN_CODES.has(b.code) ? (b.code as ErrorCode) : codeOfHttpStatus(status);
  const message = typeof b.error === 'string' ? b.error : `the server answered ${status}`;
  const details = b.details as ErrorDetail[] | Record<string, unknown> | undefined;
  return new JobhubError(code, message, details);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function messageOf(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: unknown }).cause;
    if (!(cause instanceof Error)) return err.message;
    return `${err.message} (${cause.message})${certHint(cause)}`;
  }
  return String(err);
}

/** A server certificate this process does not trust: how to make it trust it. */
function certHint(cause: Error): string {
  return isUntrustedCertificate(cause)
    ? "; to trust the server's CA, set NODE_EXTRA_CA_CERTS=/path/to/ca.pem"
    : '';
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done);
  });
}

/** Parses a Server-Sent Events body into frames (comments and `retry` are skipped). */
export async function* sseFrames(body: ReadableStream<Uint8Array>): AsyncGenerator<SseFrame> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  let id: string | undefined;
  let event: string | undefined;
  let data: string[] = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += decoder.decode(value, { stream: true });
      for (;;) {
        const m = /\r\n|\r|\n/.exec(buf);
        // A lone \r at the end may be the first half of \r\n: wait for more.
        if (!m || (m[0] === '\r' && m.index === buf.length - 1)) break;
        const line = buf.slice(0, m.index);
        buf = buf.slice(m.index + m[0].length);
        if (line === '') {
          if (data.length > 0 || event !== undefined) {
            const frame: SseFrame = { event: event ?? 'message', data: data.join('\n') };
            if (id !== undefined) frame.id = id;
            yield frame;
          }
          id = undefined;
          event = undefined;
          data = [];
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'data') data.push(value);
        else if (field === 'event') event = value;
        else if (field === 'id') id = value;
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
