/**
 * `jobhub run --ui`: the same REST API and web UI as `jobhub server`, over the embedded pieces
 * (store, bus, coordinator, local nodes), on loopback only. Signing in takes the admin token: the
 * one in JOBHUB_ADMIN_TOKEN, or one made for this run and printed by the caller.
 */
import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../server/context.js';
import { buildHttpApp } from '../server/http-app.js';
import { Metrics } from '../server/metrics.js';
import { ServerKey } from '../server/server-key.js';
import { bootstrapTokens, newToken, StoreAuthenticator } from '../server/tokens.js';
import type { Embedded } from './embedded.js';

export interface EmbeddedUiOptions {
  /** Port on 127.0.0.1. Default 0: a free port. */
  port?: number;
  /** The admin token to sign in with. Default: JOBHUB_ADMIN_TOKEN, else a new one for this run. */
  adminToken?: string;
}

export interface EmbeddedUi {
  url: string;
  /** The token to sign in with. */
  token: string;
  close(): Promise<void>;
}

export async function startEmbeddedUi(embedded: Embedded, opts: EmbeddedUiOptions = {}): Promise<EmbeddedUi> {
  const { store, bus, coordinator, nodes, files, config } = embedded;
  const token = opts.adminToken ?? newToken('user');
  await bootstrapTokens(store, { admin: token }, Date.now());
  const auth = new StoreAuthenticator(store);
  const ctx: ApiContext = {
    store,
    bus,
    coordinator,
    auth,
    metrics: new Metrics(),
    connectedNodes: () => nodes.connectedIds(),
    key: ServerKey.load(process.env, config.dataDir),
    async tokenRevoked() {
      auth.forget();
    },
    ready: () => true,
    now: Date.now,
    files,
  };
  const app: FastifyInstance = await buildHttpApp(ctx);
  await app.listen({ port: opts.port ?? 0, host: '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : (opts.port ?? 0);
  return { url: `http://127.0.0.1:${port}/`, token, close: () => app.close() };
}
