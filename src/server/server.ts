/**
 * The composition root of `jobhub server`: store, event bus, agent gateway, coordinator, HTTP API,
 * built from resolved config. `start` resumes the jobs the store has as active; `stop` is graceful
 * (stop listening, end agent sessions, let the coordinator finish its turn, close the store) and
 * idempotent. Jobs and tasks keep running on the agents across a server restart.
 */
import path from 'node:path';
import type { ServerConfig } from '../app/server-config.js';
import { Coordinator } from '../engine/coordinator.js';
import { EventBus } from '../engine/event-bus.js';
import { SqliteStore } from '../store/sqlite/index.js';
import type { Store } from '../store/store.js';
import { AgentGateway } from './agent-gateway.js';
import { ClusterPlacer } from './cluster-placer.js';
import type { ApiContext } from './context.js';
import { buildHttpApp } from './http-app.js';
import { Metrics } from './metrics.js';
import { bootstrapTokens, StoreAuthenticator } from './tokens.js';

export interface RunningServer {
  /** Base URL, e.g. http://127.0.0.1:8081 */
  url: string;
  port: number;
  store: Store;
  coordinator: Coordinator;
  gateway: AgentGateway;
  /** Tokens made at this start (first start): shown once. */
  createdTokens: { admin?: string; agent?: string };
  stop(): Promise<void>;
}

export async function startServer(config: ServerConfig, log: (line: string) => void): Promise<RunningServer> {
  const store = SqliteStore.open(path.join(config.dataDir, 'jobhub.db'));
  await store.migrate();
  const bus = new EventBus();
  const metrics = new Metrics();
  const auth = new StoreAuthenticator(store);
  const given: { admin?: string; agent?: string } = {};
  if (config.adminToken) given.admin = config.adminToken;
  if (config.agentToken) given.agent = config.agentToken;
  const { created } = await bootstrapTokens(store, given, Date.now());

  let coordinator: Coordinator | undefined;
  const getCoordinator = (): Coordinator => {
    if (!coordinator) throw new Error('coordinator not built yet');
    return coordinator;
  };
  const gateway = new AgentGateway({
    store,
    bus,
    coordinator: getCoordinator,
    auth,
    heartbeatMs: config.heartbeatMs,
    heartbeatTimeoutMs: config.heartbeatTimeoutMs,
    log,
  });
  coordinator = new Coordinator({
    store,
    bus,
    placer: new ClusterPlacer(store, (id) => gateway.isConnected(id), getCoordinator),
    agents: gateway,
    stopGraceMs: config.stopGraceMs,
    onDispatch: (_node, waitedMs) => {
      metrics.tasksStarted.inc();
      metrics.dispatchLatency.observe(waitedMs / 1000);
    },
    onError: (err) =>
      log(`internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`),
  });
  const c = coordinator;
  let ready = false;
  const ctx: ApiContext = {
    store,
    bus,
    coordinator: c,
    auth,
    metrics,
    connectedNodes: () => gateway.connectedNodes(),
    ready: () => ready,
    now: Date.now,
  };
  const app = await buildHttpApp(ctx, { bodyLimit: config.bodyLimit });
  await gateway.attach(app.server);
  await app.listen({ port: config.port, host: config.host });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const resumed = await c.resume();
  if (resumed.length > 0) log(`resumed ${resumed.length} active job(s): ${resumed.join(', ')}`);
  ready = true;
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;

  let stopping: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    port,
    store,
    coordinator: c,
    gateway,
    createdTokens: created,
    stop() {
      stopping ??= (async () => {
        ready = false;
        gateway.close();
        await app.close();
        await c.close();
        await store.close();
      })();
      return stopping;
    },
  };
}
