/**
 * Test harness of the REST API: a real embedded jobhub (SQLite in a temp dir, local nodes running
 * real processes) behind buildHttpApp, listening on a loopback port, spoken to with real HTTP.
 */
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { HOOK_KEY_LABEL, HookTokens } from '../../src/backends/hook-tokens.js';
import type { ApiContext } from '../../src/server/context.js';
import { buildHttpApp, type HttpAppOptions } from '../../src/server/http-app.js';
import { JobTokens } from '../../src/server/job-tokens.js';
import { Metrics } from '../../src/server/metrics.js';
import { ServerKey } from '../../src/server/server-key.js';
import { bootstrapTokens, StoreAuthenticator } from '../../src/server/tokens.js';
import { type Harness, harness } from './embedded.js';

export const ADMIN = 'adm';
/** The job tokens of the harness's API (agents' file routes). */
export const JOB_TOKENS = new JobTokens(ServerKey.from('test key'));
export const AGENT = 'agt';
/** The hook tokens of the harness's API (external backends' hook routes). */
export const HOOK_TOKENS = new HookTokens(ServerKey.from('test key').derive(HOOK_KEY_LABEL));

export interface ApiHarness {
  h: Harness;
  ctx: ApiContext;
  app: FastifyInstance;
  /** `http://127.0.0.1:PORT` */
  base: string;
  /** Server-side sockets open now (a test can cut connections by destroying them). */
  sockets: Set<Socket>;
  /** fetch with the admin token (unless headers say otherwise). */
  api(path: string, init?: RequestInit): Promise<Response>;
  dispose(): Promise<void>;
}

export async function apiHarness(
  opts: HttpAppOptions & { ctx?: (ctx: ApiContext) => ApiContext } = {},
): Promise<ApiHarness> {
  const h = await harness({ stopGraceMs: 2000 });
  // Real tokens in the store (the admin user and its token, as a server makes them at first start).
  await bootstrapTokens(h.store, { admin: ADMIN, agent: AGENT }, Date.now());
  let ctx: ApiContext = {
    store: h.store,
    bus: h.bus,
    coordinator: h.coordinator,
    auth: new StoreAuthenticator(h.store),
    metrics: new Metrics(),
    connectedNodes: () => new Set(),
    ready: () => true,
    now: () => Date.now(),
    key: ServerKey.from('test key'),
    tokenRevoked: async () => {},
    files: h.files,
    jobTokens: JOB_TOKENS,
    backends: { hookTokens: HOOK_TOKENS, seal: (plain) => ServerKey.from('test key').encrypt(plain) },
  };
  if (opts.ctx) ctx = opts.ctx(ctx);
  const app = await buildHttpApp(ctx, opts);
  const sockets = new Set<Socket>();
  app.server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  const base = `http://127.0.0.1:${addr.port}`;
  return {
    h,
    ctx,
    app,
    base,
    sockets,
    api(path, init = {}) {
      const headers = new Headers(init.headers);
      if (!headers.has('x-api-token') && !headers.has('authorization')) headers.set('x-api-token', ADMIN);
      return fetch(`${base}${path}`, { ...init, headers });
    },
    async dispose() {
      await app.close();
      await h.dispose();
    },
  };
}

export interface SseFrame {
  id?: string;
  event: string;
  data: string;
}

/**
 * Reads SSE frames from a response until `stop` says so (or the stream ends); comments are
 * counted in `comments`. Cancels the body when done.
 */
export async function readFrames(
  res: Response,
  stop: (frame: SseFrame, all: SseFrame[]) => boolean = (f) => f.event === 'end',
  stopOnComment: (comment: string, all: string[]) => boolean = () => false,
): Promise<{ frames: SseFrame[]; comments: string[]; ended: boolean }> {
  const frames: SseFrame[] = [];
  const comments: string[] = [];
  if (!res.body) throw new Error('no body');
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  let cur: Partial<SseFrame> = {};
  let data: string[] = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return { frames, comments, ended: true };
      buf += decoder.decode(value, { stream: true });
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        const line = buf.slice(0, nl).replace(/\r$/, '');
        buf = buf.slice(nl + 1);
        nl = buf.indexOf('\n');
        if (line === '') {
          if (cur.event !== undefined || data.length > 0) {
            const frame: SseFrame = { event: cur.event ?? 'message', data: data.join('\n') };
            if (cur.id !== undefined) frame.id = cur.id;
            frames.push(frame);
            cur = {};
            data = [];
            if (stop(frame, frames)) return { frames, comments, ended: false };
          }
          continue;
        }
        if (line.startsWith(':')) {
          comments.push(line.slice(1).trim());
          if (stopOnComment(line.slice(1).trim(), comments)) return { frames, comments, ended: false };
          continue;
        }
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const val = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'data') data.push(val);
        else if (field === 'id') cur.id = val;
        else if (field === 'event') cur.event = val;
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
