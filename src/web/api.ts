/**
 * The UI's one way to the REST API: same origin, the token in `X-Api-Token` (never in a URL, so it
 * lands in no log), errors as ApiError with the server's `{error, code, details}`.
 */
import { readEventStream, type StreamEvent } from './sse-reader.js';
import type { Problem } from './types.js';

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
    readonly details: unknown,
  ) {
    super(message);
  }

  /** The located problems of a spec error (`details` of spec_invalid). */
  problems(): Problem[] {
    return Array.isArray(this.details) ? (this.details as Problem[]) : [];
  }
}

export class Api {
  constructor(
    private readonly token: string,
    /** Called on 401: the token is gone or revoked. */
    private readonly onUnauthorized: () => void = () => {},
  ) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { 'x-api-token': this.token, ...extra };
  }

  async request<T>(method: string, path: string, body?: string, type = 'application/json'): Promise<T> {
    const res = await fetch(path, {
      method,
      headers: this.headers(body !== undefined ? { 'content-type': type } : {}),
      ...(body !== undefined ? { body } : {}),
    });
    const text = await res.text();
    if (!res.ok) throw this.error(res.status, text);
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body?: string, type?: string): Promise<T> {
    return this.request<T>('POST', path, body, type);
  }

  delete<T>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }

  /** A file's bytes (downloads need the token header, so they go through fetch). */
  async blob(path: string): Promise<Blob> {
    const res = await fetch(path, { headers: this.headers() });
    if (!res.ok) throw this.error(res.status, await res.text());
    return res.blob();
  }

  /**
   * Follows a Server-Sent Events stream with the token in a header (EventSource cannot send one):
   * resumes after a dropped connection from the last id, until `signal` aborts or the server ends
   * it with `event: end`.
   */
  async follow(path: string, onEvent: (e: StreamEvent) => void, signal: AbortSignal): Promise<void> {
    let lastId: string | undefined;
    let delay = 500;
    while (!signal.aborted) {
      try {
        const res = await fetch(path, {
          headers: this.headers({
            accept: 'text/event-stream',
            ...(lastId !== undefined ? { 'last-event-id': lastId } : {}),
          }),
          signal,
        });
        if (!res.ok || !res.body) throw this.error(res.status, await res.text());
        delay = 500;
        let ended = false;
        await readEventStream(res.body, (e) => {
          if (e.id !== undefined) lastId = e.id;
          if (e.event === 'end') ended = true;
          onEvent(e);
        });
        if (ended) return;
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof ApiError && err.status >= 400 && err.status < 500) throw err;
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 10_000);
    }
  }

  private error(status: number, text: string): ApiError {
    if (status === 401) this.onUnauthorized();
    try {
      const body = JSON.parse(text) as { error?: string; code?: string; details?: unknown };
      return new ApiError(body.error ?? `HTTP ${status}`, status, body.code ?? 'error', body.details);
    } catch {
      return new ApiError(text || `HTTP ${status}`, status, 'error', undefined);
    }
  }
}
