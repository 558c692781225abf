/**
 * One HTTP call to a backend: a time limit per try, retries with a short backoff when the backend
 * cannot be reached or answers 5xx, and errors that never carry the request's credentials.
 */
import { BackendRefused, BackendUnreachable } from './backend.js';

export interface CallOptions {
  backendId: string;
  method: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  timeoutMs: number;
  /** Tries in all (1: no retry). */
  retries: number;
  /** Statuses that are an answer, not a failure (e.g. 404 for a queue item that is gone). */
  accept?: readonly number[];
}

export interface CallResult {
  status: number;
  headers: Headers;
  text: string;
}

/** Pause before try n+1 (ms): 100, 200, 400, … capped at 2s. */
function backoff(n: number): number {
  return Math.min(2000, 100 * 2 ** n);
}

/** The URL without its query and user info, for messages. */
function shown(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '(bad URL)';
  }
}

function why(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: { code?: string; message?: string } }).cause;
    if (err.name === 'TimeoutError' || err.name === 'AbortError') return 'timed out';
    if (cause?.code) return cause.code;
    return cause?.message ?? err.message;
  }
  return String(err);
}

export async function callBackend(url: string, opts: CallOptions): Promise<CallResult> {
  let last = '';
  for (let attempt = 0; attempt < opts.retries; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, backoff(attempt - 1)));
    try {
      const res = await fetch(url, {
        method: opts.method,
        ...(opts.headers ? { headers: opts.headers } : {}),
        ...(opts.body !== undefined ? { body: opts.body } : {}),
        redirect: 'manual',
        signal: AbortSignal.timeout(opts.timeoutMs),
      });
      const text = await res.text();
      if (res.status >= 500 && !opts.accept?.includes(res.status)) {
        last = `${opts.method} ${shown(url)} answered ${res.status}`;
        continue;
      }
      if (res.status >= 400 && !opts.accept?.includes(res.status)) {
        throw new BackendRefused(opts.backendId, `${opts.method} ${shown(url)} answered ${res.status}`);
      }
      return { status: res.status, headers: res.headers, text };
    } catch (err) {
      if (err instanceof BackendRefused) throw err;
      last = `${opts.method} ${shown(url)}: ${why(err)}`;
    }
  }
  throw new BackendUnreachable(opts.backendId, `${last} (${opts.retries} tries)`);
}

/** Parses a JSON answer, or says the backend answered nonsense. */
export function jsonOf(backendId: string, r: CallResult): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(r.text);
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new BackendRefused(backendId, `expected a JSON object, got ${r.text.slice(0, 80)}`);
}
