/**
 * The HTTP application of `jobhub server`: the REST API under `/api/v1`, its OpenAPI document and
 * interactive docs, health, readiness and metrics. Built from the ApiContext, registered but not
 * listening: the caller listens (and may attach the agent gateway's WebSocket upgrade to
 * `app.server`; nothing here answers upgrades or registers `/api/v1/agent/connect`).
 *
 * Errors are answered in one place (the error and not-found handlers below), always as
 * `{error, code, details?}`.
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { defaultServerConfig, type HttpTimeouts } from '../app/server-config.js';
import {
  codeOfHttpStatus,
  type ErrorDetail,
  httpStatusOf,
  JobhubError,
  SpecInvalidError,
  systemErrorOf,
} from '../core/errors.js';
import { JOB_STATUSES, type JobStatus } from '../core/types.js';
import type { Store } from '../store/store.js';
import { SHARED_SCHEMAS, SPEC_TEXT_TYPES } from './api-schemas.js';
import { registerAuth } from './auth-hook.js';
import { ascobRoutes } from './compat/ascob-routes.js';
import { o2rRoutes } from './compat/o2r-routes.js';
import type { ApiContext } from './context.js';
import type { Metrics } from './metrics.js';
import { DEFAULT_RATE_PER_SECOND, RateLimiter } from './rate-limit.js';
import { backendHookRoutes } from './routes/backend-hooks.js';
import { backendRoutes } from './routes/backends.js';
import type { RouteDeps } from './routes/common.js';
import { eventRoutes } from './routes/events.js';
import { fileRoutes } from './routes/files.js';
import { identityRoutes } from './routes/identity.js';
import { jobStreamRoutes } from './routes/job-streams.js';
import { jobRoutes } from './routes/jobs.js';
import { lockRoutes } from './routes/locks.js';
import { nodeRoutes } from './routes/nodes.js';
import { scheduleRoutes } from './routes/schedules.js';
import { specRoutes } from './routes/specs.js';
import { systemRoutes } from './routes/system.js';
import { templateRoutes } from './routes/templates.js';
import { DEFAULT_HEARTBEAT_MS, SseRegistry } from './sse.js';
import { webUiRoutes } from './web-ui.js';

export interface HttpAppOptions {
  /** Largest request body, in bytes. Default 10 MiB. */
  bodyLimit?: number;
  /** Time between heartbeat comments on event streams. Default 15s. */
  sseHeartbeatMs?: number;
  /** Requests per second per API token (burst: twice that); 0 turns limiting off. Default 200. */
  rateLimit?: number;
  /** Serve HTTPS with this PEM certificate and key. Default: plain HTTP. */
  https?: { cert: Buffer; key: Buffer };
  /** Limits on slow clients. Default: headers 20s, whole request 10m, idle keep-alive 72s. */
  timeouts?: HttpTimeouts;
  /** Serve the web UI at `/` (from dist/web). Default true. */
  webUi?: boolean;
}

/** A route the app registered, as `onRoute` saw it. */
export interface RegisteredRoute {
  method: string;
  url: string;
  /** Hidden from the OpenAPI document (the interactive docs' own routes). */
  hidden: boolean;
}

const routeLists = new WeakMap<FastifyInstance, RegisteredRoute[]>();

/** Every route an app built by buildHttpApp registered (for checking the OpenAPI document). */
export function registeredRoutes(app: FastifyInstance): RegisteredRoute[] {
  return [...(routeLists.get(app) ?? [])];
}

const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

export async function buildHttpApp(ctx: ApiContext, opts: HttpAppOptions = {}): Promise<FastifyInstance> {
  const t = opts.timeouts ?? defaultServerConfig().http;
  // Node checks the header and request deadlines of open connections every so often (30s by
  // default): a fraction of the shortest deadline, so a slow client is cut near its deadline.
  const limits = {
    headersTimeout: t.headersTimeoutMs,
    connectionsCheckingInterval: Math.max(250, Math.min(5000, t.headersTimeoutMs / 4)),
  };
  const app = Fastify({
    ...(opts.https ? { https: { ...opts.https, ...limits } } : { http: limits }),
    requestTimeout: t.requestTimeoutMs,
    keepAliveTimeout: t.keepAliveTimeoutMs,
    logger: false,
    bodyLimit: opts.bodyLimit ?? 10 * 1024 * 1024,
    exposeHeadRoutes: false,
  });

  const routes: RegisteredRoute[] = [];
  routeLists.set(app, routes);
  app.addHook('onRoute', (r) => {
    const methods = Array.isArray(r.method) ? r.method : [r.method];
    const hidden = (r.schema as { hide?: boolean } | undefined)?.hide === true;
    for (const m of methods) routes.push({ method: m, url: r.url ?? r.path, hidden });
  });

  for (const schema of SHARED_SCHEMAS) app.addSchema(schema);
  await app.register(fastifySwagger, {
    // Shared schemas keep their $id as their name under components.schemas.
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => String(json.$id ?? `def-${i}`) },
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'jobhub',
        version: VERSION,
        description:
          'The REST API of jobhub, a self-hosted job orchestrator. Every `/api/v1` route except this ' +
          'document needs an API token, in `X-Api-Token` or `Authorization: Bearer`. Errors answer ' +
          '`{"error", "code", "details"?}`.',
      },
      tags: [
        { name: 'jobs', description: 'Submit, list, follow, stop and retry jobs' },
        { name: 'specs', description: 'Validate and plan specs without running them' },
        { name: 'nodes', description: 'The nodes agents registered' },
        { name: 'events', description: 'The event history of jobs and nodes' },
        { name: 'files', description: "A job's files: inputs, outputs, kept working directories" },
        { name: 'workspaces', description: 'Archives that jobs run fresh copies of' },
        { name: 'locks', description: 'Named locks jobs hold while they run (seed 002)' },
        { name: 'templates', description: 'Named, versioned job specs with parameters (seed 004)' },
        {
          name: 'backends',
          description: 'External backends (Jenkins, webhook) jobs pick by label (seed 002)',
        },
        {
          name: 'hooks',
          description:
            "What an external backend calls with a job's hook token: status, progress, output, inputs",
        },
        {
          name: 'agents',
          description: "What agents call with a job's token: its inputs, workspace, outputs",
        },
        { name: 'service', description: 'Health, readiness, metrics, this document' },
        {
          name: 'ascob',
          description:
            "ASCOB's runs API (seed 002) at its own paths: a run is a jobhub job. 401 without a token, 403 with a wrong one",
        },
        {
          name: 'o2r',
          description:
            "o2r's job API (seed 003) at /api/v1/job: a compendium is a workspace with a jobhub.yaml",
        },
      ],
      components: {
        securitySchemes: {
          apiToken: { type: 'apiKey', in: 'header', name: 'X-Api-Token' },
          bearer: { type: 'http', scheme: 'bearer' },
          jobToken: {
            type: 'apiKey',
            in: 'header',
            name: 'x-job-token',
            description: "A job's token, given to the agents that run its tasks: opens that job's files only",
          },
          hookToken: {
            type: 'apiKey',
            in: 'header',
            name: 'x-hook-token',
            description:
              "A job's hook token, given to the external backend that runs it: opens that job's hooks only",
          },
        },
      },
    },
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });

  registerBodyParsers(app);
  registerAuth(app, ctx.auth, new RateLimiter({ perSecond: opts.rateLimit ?? DEFAULT_RATE_PER_SECOND }));
  registerErrorHandlers(app);

  const streams = new SseRegistry();
  const connections = trackConnections(app);
  // Open streams and unused connections would hold close() up: end them (streams resume with
  // Last-Event-ID). Requests in flight finish.
  app.addHook('preClose', async () => {
    streams.closeAll();
    connections.closeIdle();
  });

  const jobCounts = installGauges(ctx);
  app.addHook('onResponse', async (req, reply) => {
    ctx.metrics.httpLatency.observe(reply.elapsedTime / 1000, {
      route: req.routeOptions.url ?? 'unmatched',
      method: req.method,
      status: `${Math.floor(reply.statusCode / 100)}xx`,
    });
  });

  const deps: RouteDeps = { ctx, streams, heartbeatMs: opts.sseHeartbeatMs ?? DEFAULT_HEARTBEAT_MS };
  systemRoutes(app, deps, { refreshMetrics: () => jobCounts.refresh(ctx.store) });
  jobRoutes(app, deps);
  jobStreamRoutes(app, deps);
  specRoutes(app, deps);
  nodeRoutes(app, deps);
  eventRoutes(app, deps);
  fileRoutes(app, deps);
  identityRoutes(app, deps);
  lockRoutes(app, deps);
  templateRoutes(app, deps);
  scheduleRoutes(app, deps);
  backendRoutes(app, deps);
  backendHookRoutes(app, deps);
  // The seeds' own APIs, mapped onto jobhub's jobs.
  ascobRoutes(app, deps);
  o2rRoutes(app, deps);
  // The browser app (src/web), hidden from the OpenAPI document.
  if (opts.webUi !== false) webUiRoutes(app);
  return app;
}

// ---------------------------------------------------------------------------------------------
// Connections

/**
 * Connections a client opened but never sent a request on (HTTP clients pre-open them). Node's
 * closeIdleConnections (Fastify's default on close) leaves those alone, and they then hold close()
 * up until the client gives them up. Idle keep-alive connections are Fastify's to close; upgraded
 * (agent) connections have been read from, so they stay the gateway's.
 */
function trackConnections(app: FastifyInstance): { closeIdle(): void } {
  const open = new Set<Socket>();
  app.server.on('connection', (socket: Socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
  });
  return {
    closeIdle() {
      for (const socket of open) if (socket.bytesRead === 0) socket.destroy();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Bodies

/**
 * Specs come as YAML or JSON text, or as a JSON object. JSON is checked here (malformed: 400) and
 * its text kept as sent (`req.rawBody`), so a job's rawSpec is exactly what was submitted.
 */
function registerBodyParsers(app: FastifyInstance): void {
  app.decorateRequest('rawBody', null);
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = String(body);
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    try {
      const value: unknown = JSON.parse(text);
      req.rawBody = text;
      done(null, value);
    } catch (err) {
      done(malformedJson(text, err), undefined);
    }
  });
  app.addContentTypeParser([...SPEC_TEXT_TYPES], { parseAs: 'string' }, (_req, body, done) => {
    done(null, String(body));
  });
  // (files) A submission may carry its inputs: multipart bodies reach the route as a stream.
  app.addContentTypeParser('multipart/form-data', (_req, payload, done) => done(null, payload));
}

function malformedJson(text: string, err: unknown): JobhubError {
  const message = err instanceof Error ? err.message : String(err);
  const detail: ErrorDetail = { path: 'body', message };
  const pos = /position (\d+)/.exec(message);
  if (pos?.[1] !== undefined) {
    const before = text.slice(0, Number(pos[1]));
    const lines = before.split('\n');
    detail.line = lines.length;
    detail.column = (lines[lines.length - 1]?.length ?? 0) + 1;
  }
  return new JobhubError('bad_request', `the body is not valid JSON: ${message}`, [detail]);
}

// ---------------------------------------------------------------------------------------------
// Errors

interface ErrorAnswer {
  status: number;
  body: { error: string; code: string; details?: unknown };
}

interface AjvError {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: { missingProperty?: string; allowedValues?: unknown[] };
}

const PART_NAMES: Record<string, string> = {
  querystring: 'query',
  params: 'params',
  body: 'body',
  headers: 'headers',
};

/** `/status/0` under `query` → `query.status[0]`. */
function fieldPath(part: string, instancePath: string, missing?: string): string {
  let path = part;
  const segments = instancePath.split('/').filter((s) => s !== '');
  if (missing !== undefined) segments.push(missing);
  for (const s of segments)
    path += /^\d+$/.test(s) ? `[${s}]` : `.${s.replace(/~1/g, '/').replace(/~0/g, '~')}`;
  return path;
}

function validationAnswer(context: string | undefined, validation: AjvError[]): ErrorAnswer {
  const part = PART_NAMES[context ?? ''] ?? context ?? 'request';
  const details: ErrorDetail[] = validation.map((v) => {
    const path = fieldPath(part, v.instancePath ?? '', v.params?.missingProperty);
    let message = v.params?.missingProperty !== undefined ? 'is required' : (v.message ?? 'is invalid');
    if (v.params?.allowedValues) message += `: ${v.params.allowedValues.map(String).join(', ')}`;
    return { path, message };
  });
  const first = details[0];
  return {
    status: 400,
    body: {
      error: first ? `${first.path} ${first.message}` : 'the request is invalid',
      code: 'bad_request',
      details,
    },
  };
}

/** The one mapping from anything thrown to an answer. */
export function errorAnswer(err: unknown): ErrorAnswer {
  const system = systemErrorOf(err); // a full disk: 507 with what to do, not an internal error
  if (system) return errorAnswer(system);
  if (err instanceof SpecInvalidError) {
    return { status: 400, body: { error: err.message, code: 'spec_invalid', details: err.problems } };
  }
  if (err instanceof JobhubError) {
    const status = httpStatusOf(err);
    if (status >= 500 && err.code !== 'unavailable' && err.code !== 'insufficient_storage') {
      return { status, body: { error: 'internal error; see the server log', code: err.code } };
    }
    const body: ErrorAnswer['body'] = { error: err.message, code: err.code };
    if (err.details !== undefined) body.details = err.details;
    return { status, body };
  }
  const fe = err as Partial<FastifyError>;
  if (Array.isArray(fe.validation)) {
    return validationAnswer(fe.validationContext, fe.validation as unknown as AjvError[]);
  }
  const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500;
  if (status >= 400 && status < 500) {
    const code = codeOfHttpStatus(status);
    const message =
      status === 413
        ? 'the request body is too large'
        : status === 415
          ? `unsupported content type; send a spec as application/json, ${SPEC_TEXT_TYPES.join(', ')}`
          : (fe.message ?? 'bad request');
    return { status, body: { error: message, code } };
  }
  return { status: 500, body: { error: 'internal error; see the server log', code: 'internal' } };
}

/**
 * A body refused before it was all read (too large, say) may still be arriving. Answering and closing
 * at once resets the connection while the client writes, and the client loses the answer. So the rest
 * is read and dropped first, up to a bound in bytes and time; past it, the answer goes anyway.
 */
function drainRefusedBody(req: FastifyRequest, reply: FastifyReply): Promise<void> {
  const raw = req.raw;
  if (raw.complete || raw.readableEnded || raw.destroyed) return Promise.resolve();
  reply.header('connection', 'close');
  return new Promise((resolve) => {
    let dropped = 0;
    const done = () => {
      clearTimeout(timer);
      raw.off('data', onData);
      resolve();
    };
    const onData = (chunk: Buffer) => {
      dropped += chunk.length;
      if (dropped > LINGER_MAX_BYTES) done();
    };
    const timer = setTimeout(done, LINGER_MAX_MS);
    raw.on('data', onData);
    raw.once('end', done);
    raw.once('close', done);
    raw.resume();
  });
}

/** How much of a refused body is read and dropped, and for how long, before the answer goes. */
const LINGER_MAX_BYTES = 64 * 1024 * 1024;
const LINGER_MAX_MS = 5_000;

function registerErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler(async (err: unknown, req, reply: FastifyReply) => {
    const answer = errorAnswer(err);
    if (answer.status >= 500) {
      const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
      process.stderr.write(`jobhub: ${req.method} ${req.url} failed: ${text}\n`);
    }
    if (reply.sent || reply.raw.headersSent) return;
    await drainRefusedBody(req, reply);
    return reply.code(answer.status).type('application/json; charset=utf-8').send(answer.body);
  });
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0] ?? req.url;
    return reply
      .code(404)
      .type('application/json; charset=utf-8')
      .send({ error: `no route ${req.method} ${path}`, code: 'not_found' });
  });
}

// ---------------------------------------------------------------------------------------------
// Metrics

/** Job counts by status for `jobhub_jobs`, read on each scrape (one GROUP BY over an index). */
class JobCounts {
  private counts: Partial<Record<JobStatus, number>> = {};

  async refresh(store: Store): Promise<void> {
    this.counts = await store.countJobsByStatus();
  }

  read(): Array<[Record<string, string>, number]> {
    return JOB_STATUSES.map((s) => [{ status: s }, this.counts[s] ?? 0]);
  }
}

/** Gauges are registered once per Metrics; they read from the latest app built with it. */
const gaugeSources = new WeakMap<Metrics, { ctx: ApiContext; counts: JobCounts }>();

function installGauges(ctx: ApiContext): JobCounts {
  const counts = new JobCounts();
  const known = gaugeSources.has(ctx.metrics);
  gaugeSources.set(ctx.metrics, { ctx, counts });
  if (!known) {
    const source = () => gaugeSources.get(ctx.metrics);
    ctx.metrics.gauge('jobhub_jobs', 'Jobs by status.', () => source()?.counts.read() ?? []);
    ctx.metrics.gauge('jobhub_agents_connected', 'Agents connected now.', () => [
      [{}, source()?.ctx.connectedNodes().size ?? 0],
    ]);
  }
  return counts;
}
