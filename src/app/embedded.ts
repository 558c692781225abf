/**
 * The composition root of embedded mode (`jobhub run`): store, event bus, local nodes and the
 * coordinator, built from resolved config, in one process.
 */
import type { AgentReport } from '../agent/protocol.js';
import { Coordinator } from '../engine/coordinator.js';
import { EventBus } from '../engine/event-bus.js';
import { FileService } from '../files/file-service.js';
import { FsBlobStore } from '../files/fs-blob-store.js';
import { LocalFileTransport } from '../files/local-transport.js';
import { SqliteStore } from '../store/sqlite/index.js';
import type { Store } from '../store/store.js';
import { blobsDir, type JobhubConfig, storeFile } from './config.js';
import { LocalNodes } from './local-nodes.js';

export interface Embedded {
  config: JobhubConfig;
  store: Store;
  bus: EventBus;
  coordinator: Coordinator;
  nodes: LocalNodes;
  /** Job files: blobs in `<data>/blobs`, moved by the local agents directly. */
  files: FileService;
  /** Stops every task (grace, then kill), the coordinator and the store. Idempotent. */
  close(): Promise<void>;
}

export async function startEmbedded(config: JobhubConfig): Promise<Embedded> {
  const store = SqliteStore.open(storeFile(config));
  await store.migrate();
  const bus = new EventBus();
  let coordinator: Coordinator | undefined;
  const sink = (nodeId: string, report: AgentReport) => {
    coordinator?.handleReport(nodeId, report).catch((err: unknown) => {
      process.stderr.write(`jobhub: could not apply a report of node ${nodeId}: ${String(err)}\n`);
    });
  };
  const files = new FileService({ store, blobs: new FsBlobStore(blobsDir(config)) });
  const nodes = new LocalNodes({
    dataDir: config.dataDir,
    store,
    bus,
    sink,
    files: new LocalFileTransport(files),
  });
  coordinator = new Coordinator({
    store,
    bus,
    placer: nodes,
    agents: nodes,
    stopGraceMs: config.stopGraceMs,
    files: async (job) => ({ token: '', ...(await files.prepare(job)) }),
  });
  const c = coordinator;
  let closing: Promise<void> | undefined;
  return {
    config,
    store,
    bus,
    coordinator: c,
    nodes,
    files,
    close() {
      closing ??= (async () => {
        await nodes.stopAll(config.stopGraceMs);
        await c.close();
        await store.close();
      })();
      return closing;
    },
  };
}
