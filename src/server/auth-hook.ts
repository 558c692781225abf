/**
 * API tokens. Every route under `/api/v1/` needs one (in `X-Api-Token` or `Authorization: Bearer`),
 * except the OpenAPI document, and so do the ASCOB runs API's routes (`/api/runs...`); the token's
 * principal is put on the request. Agent tokens only speak the agent protocol (the WebSocket at
 * `/api/v1/agent/connect`, served by the gateway, which checks its own tokens), so they are refused
 * here.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { JobhubError } from '../core/errors.js';
import type { Authenticator, Principal } from './context.js';
import { RateLimiter } from './rate-limit.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who made the request; null on routes that need no token. */
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /**
     * Answer an unknown, revoked or expired token with 403 instead of 401: the ASCOB runs API (seed
     * 002) says 401 without a token and 403 with a wrong one, and its clients act on that.
     */
    wrongTokenForbidden?: boolean;
  }
}

export const API_PREFIX = '/api/v1/';

/** Routes under the API prefix that need no token (exact paths). */
export const PUBLIC_API_PATHS: ReadonlySet<string> = new Set([
  '/api/v1/openapi.json',
  // The agent protocol; the gateway authenticates agents itself.
  '/api/v1/agent/connect',
]);

/**
 * Routes outside `/api/v1` that need a token too: the ASCOB runs API (seed 002) keeps its own paths
 * so that its clients work unchanged (see server/compat/).
 */
export const COMPAT_TOKEN_PREFIXES: readonly string[] = ['/api/runs', '/api/search/runs'];

/** Whether a route (by its registered path) needs an API token. */
export function needsToken(routePath: string): boolean {
  if (COMPAT_TOKEN_PREFIXES.some((p) => routePath === p || routePath.startsWith(`${p}/`))) return true;
  return (
    routePath.startsWith(API_PREFIX) &&
    !PUBLIC_API_PATHS.has(routePath) &&
    // (files) Agents fetch and upload a job's files with that job's token (routes/files.ts checks it).
    !routePath.startsWith(AGENT_JOB_FILES_PREFIX) &&
    // External backends report with the job's hook token (routes/backend-hooks.ts checks it).
    !routePath.startsWith(BACKEND_HOOKS_PREFIX)
  );
}

/** Routes that authenticate with a job's hook token (`x-hook-token`) instead of an API token. */
export const BACKEND_HOOKS_PREFIX = '/api/v1/hooks/';

/** Routes that authenticate with a job's token (`x-job-token`) instead of an API token. */
export const AGENT_JOB_FILES_PREFIX = '/api/v1/agent/jobs/';

/** The token of a request: `X-Api-Token`, or `Authorization: Bearer <token>`. */
export function tokenOf(req: FastifyRequest): string | undefined {
  const header = req.headers['x-api-token'];
  const direct = Array.isArray(header) ? header[0] : header;
  if (direct !== undefined && direct.trim() !== '') return direct.trim();
  const authz = req.headers.authorization;
  const m = authz === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(authz);
  return m?.[1];
}

/** Takes a request from the key's bucket, or answers 429 with Retry-After. */
function limit(limiter: RateLimiter, key: string, reply: FastifyReply): void {
  const waitMs = limiter.take(key);
  if (waitMs === 0) return;
  reply.header('retry-after', String(Math.max(1, Math.ceil(waitMs / 1000))));
  throw new JobhubError(
    'rate_limited',
    `too many requests with this token: at most ${limiter.perSecond} a second; retry in ${waitMs}ms`,
    { retryAfterMs: waitMs },
  );
}

export function authHook(
  auth: Authenticator,
  limiter = new RateLimiter({ perSecond: 0 }),
): onRequestAsyncHookHandler {
  return async (req, reply) => {
    const token = tokenOf(req);
    if (token === undefined) {
      throw new JobhubError(
        'unauthorized',
        'an API token is required: send it in X-Api-Token or Authorization: Bearer',
      );
    }
    const principal = await auth.check(token);
    if (!principal) {
      // Guessing tokens costs the guesser's address its bucket.
      limit(limiter, `addr:${req.ip}`, reply);
      const code = req.routeOptions.config.wrongTokenForbidden === true ? 'forbidden' : 'unauthorized';
      throw new JobhubError(code, 'unknown, revoked or expired API token');
    }
    limit(limiter, principal.tokenId, reply);
    if (principal.kind === 'agent') {
      throw new JobhubError('forbidden', 'agent tokens may only connect agents; use an admin token');
    }
    req.principal = principal;
  };
}

/**
 * Decorates requests with `principal` and adds the token check to every route registered from now
 * on that needs it (a route-level hook: unknown paths answer 404 without asking for a token).
 */
export function registerAuth(app: FastifyInstance, auth: Authenticator, limiter?: RateLimiter): void {
  app.decorateRequest('principal', null);
  const hook = authHook(auth, limiter);
  app.addHook('onRoute', (route) => {
    if (!needsToken(route.url ?? route.path)) return;
    const existing = route.onRequest;
    route.onRequest =
      existing === undefined ? [hook] : [hook, ...(Array.isArray(existing) ? existing : [existing])];
  });
}
