/**
 * The composition root of `jobhub server`: store, event bus, cluster link, agent gateway, the
 * replica (lease, coordinator), HTTP API, built from resolved config. On SQLite it is the only
 * server and holds the lease at once; on PostgreSQL any number of replicas share the database and
 * one at a time schedules. `stop` is graceful (stop listening, end agent sessions, let the
 * coordinator finish its turn, close the store) and idempotent. Tasks keep running on the agents
 * across a server restart.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { ServerConfig } from '../app/server-config.js';
import { BackendRegistry } from '../backends/backend.js';
import { loadBackendFile } from '../backends/config.js';
import { HOOK_KEY_LABEL, HookTokens } from '../backends/hook-tokens.js';
import { jenkinsBackend } from '../backends/jenkins.js';
import { BackendPlacer } from '../backends/placer.js';
import { BackendHub } from '../backends/runner.js';
import { checkBackendLabel } from '../backends/services.js';
import { webhookBackend } from '../backends/webhook.js';
import { JobhubError } from '../core/errors.js';
import { Coordinator } from '../engine/coordinator.js';
import { EventBus } from '../engine/event-bus.js';
import { FileService } from '../files/file-service.js';
import { FsBlobStore } from '../files/fs-blob-store.js';
import { PostgresStore } from '../store/postgres/index.js';
import { SqliteStore } from '../store/sqlite/index.js';
import type { Store } from '../store/store.js';
import { AgentGateway } from './agent-gateway.js';
import { type ClusterLink, LocalLink, PgLink } from './cluster-link.js';
import { ClusterPlacer } from './cluster-placer.js';
import type { ApiContext } from './context.js';
import { ControlPlane } from './control-plane.js';
import { buildHttpApp } from './http-app.js';
import { JobTokens } from './job-tokens.js';
import { Metrics } from './metrics.js';
import { Replica } from './replica.js';
import { Scheduler } from './scheduler.js';
import { ServerKey } from './server-key.js';
import { bootstrapTokens, StoreAuthenticator } from './tokens.js';

export interface RunningServer {
  /** Base URL, e.g. http://127.0.0.1:8081 */
  url: string;
  port: number;
  store: Store;
  replica: Replica;
  gateway: AgentGateway;
  /** Tokens made at this start (first start): shown once. */
  createdTokens: { admin?: string; agent?: string };
  stop(): Promise<void>;
}

export async function startServer(config: ServerConfig, log: (line: string) => void): Promise<RunningServer> {
  const pgStore = config.database
    ? PostgresStore.open(config.database, config.databaseSchema ? { schema: config.databaseSchema } : {})
    : undefined;
  const store: Store = pgStore ?? SqliteStore.open(path.join(config.dataDir, 'jobhub.db'));
  await store.migrate();
  const link: ClusterLink =
    pgStore && config.database
      ? new PgLink(config.database, config.databaseSchema ?? 'public', log)
      : new LocalLink();
  const mode = pgStore ? 'inbox' : 'direct';
  const key = ServerKey.load(process.env, pgStore ? undefined : config.dataDir);
  // (files) Blobs on this machine's file system; the job tokens agents fetch and upload with.
  const jobTokens = new JobTokens(key);
  // (backends) The file's backends replace those it gave at the last start; the API's stay.
  if (config.backendsFile) {
    const list = loadBackendFile(config.backendsFile, (p) => key.encrypt(p), Date.now());
    await store.replaceFileBackends(list);
    log(
      `backends from ${config.backendsFile}: ${list.map((b) => `${b.id} (${b.kind})`).join(', ') || 'none'}`,
    );
  }
  const hookTokens = new HookTokens(key.derive(HOOK_KEY_LABEL));
  const backendRegistry = new BackendRegistry({
    store,
    unseal: (sealed) => key.decrypt(sealed),
    orgSecret: async (org, name) => {
      const found = await store.getOrg(org);
      const sealed = found ? (await store.getSecrets(found.id, [name])).get(name) : undefined;
      return sealed === undefined ? undefined : key.decrypt(sealed);
    },
    factories: { jenkins: jenkinsBackend, webhook: webhookBackend },
  });
  let publicUrl = config.publicUrl ?? '';
  const blobs = new FsBlobStore(config.filesDir ?? path.join(config.dataDir, 'blobs'));
  await blobs.sweepTemp();
  const files = new FileService({
    store,
    blobs,
    limits: { maxFileSize: config.maxFileSize, maxJobFilesSize: config.maxJobFilesSize },
  });
  // Blobs whose rows a crash removed without them: looked for once per start, in the background.
  void files.sweepOrphans().then(
    (n) => {
      if (n > 0) log(`removed ${n} file content(s) no job or workspace refers to`);
    },
    (err: unknown) => log(`sweeping unreferenced file contents failed: ${String(err)}`),
  );
  const bus = new EventBus();
  const metrics = new Metrics();
  const auth = new StoreAuthenticator(store);
  const given: { admin?: string; agent?: string } = {};
  if (config.adminToken) given.admin = config.adminToken;
  if (config.agentToken) given.agent = config.agentToken;
  const { created } = await bootstrapTokens(store, given, Date.now());

  let replica: Replica | undefined;
  const leader = () => replica?.leader();
  const backends = new BackendHub({
    store,
    registry: backendRegistry,
    bus,
    hookTokens,
    baseUrl: () => publicUrl,
    isLeader: (c) => replica?.leader() === c,
    log,
  });
  const gateway = new AgentGateway({
    store,
    bus,
    link,
    mode,
    coordinator: leader,
    auth,
    heartbeatMs: config.heartbeatMs,
    heartbeatTimeoutMs: config.heartbeatTimeoutMs,
    log,
  });
  const control = new ControlPlane({
    store,
    link,
    leader,
    now: Date.now,
    checkSubmit: (input) => checkBackendLabel(store, input.spec),
  });
  const makeCoordinator = (): Coordinator => {
    const c: Coordinator = new Coordinator({
      store,
      bus,
      placer: new BackendPlacer(
        store,
        new ClusterPlacer(
          store,
          (n) => gateway.isLive(n),
          () => c,
        ),
      ),
      agents: backends.wrap(gateway),
      stopGraceMs: config.stopGraceMs,
      onDispatch: (_node, waitedMs) => {
        metrics.tasksStarted.inc();
        metrics.dispatchLatency.observe(waitedMs / 1000);
      },
      onError: (err) =>
        log(`internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`),
      files: async (job) => ({ token: jobTokens.sign(job.id), ...(await files.prepare(job)) }),
      secrets: async (orgId, names) => {
        const sealed = await store.getSecrets(orgId, names);
        return new Map([...sealed].map(([n, v]) => [n, key.decrypt(v)]));
      },
    });
    backends.attach(c);
    return c;
  };
  replica = new Replica({
    store,
    bus,
    link,
    gateway,
    control: () => control,
    mode,
    makeCoordinator,
    log,
    onLead: (c) => backends.lead(c),
  });
  const r = replica;
  let ready = false;
  const ctx: ApiContext = {
    store,
    bus,
    coordinator: control,
    auth,
    metrics,
    connectedNodes: () => gateway.connectedNodes(),
    ready: () => ready,
    now: Date.now,
    files,
    jobTokens,
    key,
    backends: { hookTokens, seal: (plain) => key.encrypt(plain) },
    async tokenRevoked(tokenId) {
      // Here at once; other replicas (and this one's gateway) through the link.
      auth.forget();
      await link.notify('revoked', tokenId);
    },
  };
  const app = await buildHttpApp(ctx, {
    bodyLimit: config.bodyLimit,
    rateLimit: config.rateLimit,
    timeouts: config.http,
    ...(config.tlsCert && config.tlsKey ? { https: readTls(config.tlsCert, config.tlsKey) } : {}),
  });
  await gateway.attach(app.server);
  try {
    await app.listen({ port: config.port, host: config.host });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES') {
      throw new JobhubError(
        'unavailable',
        code === 'EADDRINUSE'
          ? `port ${config.port} on ${config.host} is in use: stop what listens there, or pick another with --port`
          : `may not listen on ${config.host}:${config.port} (a port below 1024 needs privileges): pick another with --port`,
      );
    }
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  if (!publicUrl) {
    const own = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
    publicUrl = `${config.tlsCert ? 'https' : 'http'}://${own}:${port}`;
  }
  await r.start();
  ready = true;
  const retention = startRetention(files, config, log);
  // Every replica looks for due schedules; each tick is claimed in the store, so one fires it.
  const scheduler = new Scheduler({ store, submit: (input) => control.submit(input), log });
  scheduler.start();
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;

  let stopping: Promise<void> | undefined;
  return {
    url: `${config.tlsCert ? 'https' : 'http'}://${host}:${port}`,
    port,
    store,
    replica: r,
    gateway,
    createdTokens: created,
    stop() {
      stopping ??= (async () => {
        ready = false;
        if (retention) clearInterval(retention);
        backends.closeRuns();
        await scheduler.stop();
        gateway.close();
        // Requests under way get the grace period to finish (a slow upload would hold close() up
        // until its request timeout): then whatever is still open is closed.
        const force = setTimeout(() => app.server.closeAllConnections(), config.shutdownGraceMs);
        await app.close();
        clearTimeout(force);
        await r.stop();
        await link.close();
        await store.close();
      })();
      return stopping;
    },
  };
}

/** Retention: the files of jobs ended longer ago than `--retention` go, checked now and then. */
function startRetention(
  files: FileService,
  config: ServerConfig,
  log: (line: string) => void,
): NodeJS.Timeout | undefined {
  const keepMs = config.retentionMs;
  if (keepMs === undefined) return undefined;
  const sweep = () =>
    files.sweep(keepMs).then(
      (r) => {
        if (r.jobs > 0) log(`retention: removed ${r.files} file(s) of ${r.jobs} job(s)`);
      },
      (err: unknown) => log(`retention failed: ${err instanceof Error ? err.message : String(err)}`),
    );
  void sweep();
  const timer = setInterval(() => void sweep(), config.retentionCheckMs);
  timer.unref();
  return timer;
}

/** The certificate and key files, read at start: a missing or unreadable one is a clear error. */
function readTls(certFile: string, keyFile: string): { cert: Buffer; key: Buffer } {
  const read = (flag: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new JobhubError(
        'bad_request',
        `${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      );
    }
  };
  return { cert: read('--tls-cert', certFile), key: read('--tls-key', keyFile) };
}
