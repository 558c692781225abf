/**
 * The composition root of `jobhub agent`: this machine's node identity (kept in the data folder, so
 * a restart is the same node), its info, the runner of tasks, the outbox and the connection.
 *
 * Tasks do not survive an agent restart: a new agent process kills what a previous one of the same
 * node left running (processes found by their tag, containers by their labels), and the server counts
 * those attempts as lost. A stopped agent (SIGTERM) stops its tasks and reports them `abandoned`:
 * lost too, retried as their spec says. Only when its node is draining does it first let them finish.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AgentConnection } from '../agent/connection.js';
import { nodeLabels } from '../agent/containers/container-task.js';
import { ContainerEngine } from '../agent/containers/engine.js';
import { HttpFileTransport } from '../agent/file-transport.js';
import { LocalAgent } from '../agent/local-agent.js';
import { Outbox } from '../agent/outbox.js';
import { findTaggedPids } from '../agent/reaper.js';
import { checkRunAs, lookupUser } from '../agent/run-as.js';
import { HelperSpawner } from '../agent/spawner.js';
import type { Labels, NodeInfo } from '../core/types.js';
import { CONTAINERS } from '../plan/capabilities.js';
import { readBootTime } from './local-nodes.js';

export interface AgentConfig {
  /** Server URLs, tried in turn. */
  servers: string[];
  token: string;
  /** Node id, working directories and outbox. Default `./.jobhub-agent`. */
  dataDir: string;
  /** Preferred role. Default `any`. */
  role: string;
  labels: Labels;
  /** The ip others reach this node at. Default: the address the server sees. */
  ip?: string;
  /** Node name. Default: the hostname. */
  name?: string;
  /** Default `local`. */
  provider: string;
  /** How many tasks run here at once; more wait on the server. Default 0: no limit. */
  concurrency: number;
  /** Time between SIGTERM and SIGKILL when the agent stops its tasks. Default 10s. */
  stopGraceMs: number;
  /** A CA certificate (PEM file) to trust for https servers. */
  caFile?: string;
  /** The OS user (name or uid) tasks run as; the agent must be root. Default: the agent's user. */
  runAs?: string;
}

export interface RunningAgent {
  nodeId: string;
  connection: AgentConnection;
  runner: LocalAgent;
  /** Stops the tasks (grace, then kill), flushes reports, closes. Idempotent. */
  stop(): Promise<void>;
}

export function startAgent(config: AgentConfig, log: (line: string) => void): RunningAgent {
  mkdirSync(config.dataDir, { recursive: true });
  const workRoot = path.join(config.dataDir, 'work');
  // Checked before anything runs: a user that cannot be switched to, or cannot reach its
  // working directories, would fail every task later.
  const runAs = config.runAs !== undefined ? lookupUser(config.runAs) : undefined;
  if (runAs) {
    mkdirSync(workRoot, { recursive: true });
    checkRunAs(runAs, workRoot);
  }
  const nodeId = loadNodeId(config.dataDir);
  const leftovers = findTaggedPids(`${nodeId}/`);
  for (const pid of leftovers) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  if (leftovers.length > 0)
    log(`killed ${leftovers.length} process(es) left by an earlier agent of this node`);

  const containers = new ContainerEngine();
  /** Set once the engine answered: then the node registers as able to run containers. */
  let capabilities: string[] = [];

  const outbox = Outbox.open(path.join(config.dataDir, 'outbox'), { warn: log });
  let connection: AgentConnection | undefined;
  // Tasks are forked by a small helper process: forking from the agent's larger one costs more.
  const spawner = new HelperSpawner();
  const ca = config.caFile ? readFileSync(config.caFile) : undefined;
  const runner = new LocalAgent({
    // Job files travel over HTTP to the server this agent is connected to, with the job's token.
    files: new HttpFileTransport({ base: () => connection?.serverUrl, ...(ca ? { ca } : {}) }),
    nodeId,
    spawner,
    maxRunning: config.concurrency,
    workRoot,
    ...(runAs ? { runAs } : {}),
    containers,
    sink: (_node, report) => {
      outbox.append(report);
      connection?.notify();
    },
    onError: (err) => log(`error: ${String(err)}`),
  });
  const startTime = Math.floor(Date.now() / 1000);
  const bootTime = readBootTime();
  const info = (localAddress: string): NodeInfo => ({
    id: nodeId,
    name: config.name ?? os.hostname(),
    host: os.hostname(),
    addr: { ip: config.ip ?? '', bindAddr: localAddress, remoteAddr: '' },
    startTime,
    bootTime,
    role: config.role,
    labels: config.labels,
    ...(capabilities.length > 0 ? { capabilities } : {}),
    provider: config.provider,
    capacity: {
      cpus: os.cpus().length,
      memoryMb: Math.round(os.totalmem() / 1024 / 1024),
      slots: config.concurrency,
    },
  });
  /** Told by the server: a draining node's agent lets its tasks finish before it stops. */
  let draining = false;
  connection = new AgentConnection({
    servers: config.servers,
    token: config.token,
    info,
    running: () => runner.runningRefs(),
    outbox,
    onCommand: (cmd) => runner.send(cmd),
    onFence: (reason) => {
      log(`stopping every task: ${reason}`);
      runner.stopAll(reason, config.stopGraceMs);
    },
    onDrain: (on) => {
      if (on !== draining)
        log(on ? 'this node is draining: no new tasks' : 'this node is no longer draining');
      draining = on;
    },
    log,
    ...(ca ? { ca } : {}),
  });
  let stopping: Promise<void> | undefined;
  const conn = connection;
  // The first registration says whether this node runs containers, so it waits for the engine's
  // answer (bounded by the ping's timeout); leftovers of an earlier agent go before any new task.
  const ready = detectEngine(containers, nodeId, log).then((found) => {
    capabilities = found;
    if (!stopping) conn.start();
  });
  return {
    nodeId,
    connection: conn,
    runner,
    stop() {
      stopping ??= (async () => {
        await ready;
        if (draining && runner.runningCount() > 0) {
          log(`draining: waiting for ${runner.runningCount()} task(s) to finish before stopping`);
          while (runner.runningCount() > 0) await new Promise((r) => setTimeout(r, 100));
        }
        await runner.stop(config.stopGraceMs);
        // Give the last reports (the stopped tasks) a moment to reach the server.
        const deadline = Date.now() + 2000;
        while (outbox.pending > 0 && conn.connected && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 20));
        conn.stop();
        outbox.close();
        await spawner.close();
      })();
      return stopping;
    },
  };
}

/**
 * Asks the engine (DOCKER_HOST, else the default socket) whether it is there; if so, removes the
 * containers an earlier agent of this node left (found by their labels) and returns the capability
 * capability. No engine: none, and docker tasks are never placed here.
 */
async function detectEngine(
  engine: ContainerEngine,
  nodeId: string,
  log: (line: string) => void,
): Promise<string[]> {
  if (!(await engine.ping())) return [];
  try {
    const removed = await engine.removeAll(nodeLabels(nodeId));
    if (removed > 0) log(`removed ${removed} container(s) left by an earlier agent of this node`);
  } catch (err) {
    log(`error: cannot remove containers left by an earlier agent: ${String(err)}`);
  }
  log(`container engine at ${engine.host}: docker tasks run here`);
  return [CONTAINERS];
}

function loadNodeId(dataDir: string): string {
  const file = path.join(dataDir, 'node-id');
  try {
    const id = readFileSync(file, 'utf8').trim();
    if (id) return id;
  } catch {
    // first start
  }
  const id = randomUUID();
  writeFileSync(file, `${id}\n`);
  return id;
}
