/** What every route module is given, and small helpers they share. */
import type { FastifyRequest, preValidationHookHandler } from 'fastify';
import { type ErrorDetail, JobhubError } from '../../core/errors.js';
import { parseLabelPairs } from '../../core/labels.js';
import type { ApiContext, Principal } from '../context.js';
import type { SseRegistry } from '../sse.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The body exactly as sent, for `application/json` (a spec keeps its text as submitted). */
    rawBody: string | null;
  }
}

export interface RouteDeps {
  ctx: ApiContext;
  /** Open event streams, ended when the server closes. */
  streams: SseRegistry;
  heartbeatMs: number;
}

export const API = '/api/v1';

/** The security requirement of routes that need a token (either way of sending it). */
export const SECURED: Array<Record<string, string[]>> = [{ apiToken: [] }, { bearer: [] }];

/** The caller of a route that needs a token (the auth hook has put it there). */
export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw new JobhubError('unauthorized', 'an API token is required');
  return req.principal;
}

export function badRequest(path: string, message: string): JobhubError {
  const details: ErrorDetail[] = [{ path, message }];
  return new JobhubError('bad_request', `${path} ${message}`, details);
}

/**
 * Turns `status=a,b&status=c` into `['a', 'b', 'c']` for the given query parameters, before the
 * schema validates each item. Runs as a preValidation hook.
 */
export function splitCommas(keys: readonly string[]): preValidationHookHandler {
  return (req, _reply, done) => {
    const query = req.query as Record<string, unknown>;
    for (const k of keys) {
      const v = query[k];
      if (v === undefined) continue;
      query[k] = (Array.isArray(v) ? v : [v])
        .flatMap((x) => String(x).split(','))
        .map((s) => s.trim())
        .filter((s) => s !== '');
    }
    done();
  };
}

/** ISO 8601 time or epoch milliseconds. */
export function parseTime(text: string | undefined, path: string): number | undefined {
  if (text === undefined) return undefined;
  if (/^\d+$/.test(text)) return Number(text);
  const ms = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(ms)) throw badRequest(path, 'must be an ISO 8601 time or epoch milliseconds');
  return ms;
}

/** `k=v` pairs into labels; undefined when there are none. */
export function parseLabels(pairs: readonly string[] | undefined): Record<string, string> | undefined {
  return pairs === undefined || pairs.length === 0 ? undefined : parseLabelPairs(pairs);
}

export function encodeCursor(id: number): string {
  return Buffer.from(String(id), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^[1-9]\d*$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw badRequest('query.cursor', 'is not a cursor this server gave out');
  }
  return Number(text);
}

/** The spec text of a request body: the raw JSON as sent, or the YAML/plain text. */
export function specTextOf(req: FastifyRequest): string {
  const text = req.rawBody ?? (typeof req.body === 'string' ? req.body : undefined);
  if (text === undefined || text.trim() === '') {
    throw badRequest('body', 'must be a job spec (YAML or JSON)');
  }
  return text;
}

/** `Last-Event-ID` (a resuming stream) wins over the `after` query parameter. */
export function resumeAfter(req: FastifyRequest, after: number | undefined): number {
  const header = req.headers['last-event-id'];
  const text = Array.isArray(header) ? header[0] : header;
  if (text !== undefined && /^\d+$/.test(text)) return Number(text);
  return after ?? 0;
}
