/**
 * Embedded mode's nodes: each node assignment of a job gets its own local node, with its own
 * working directory under the data folder and a stable id kept there, so a multi-node spec runs on
 * one machine with the plan it would have on a cluster. This is the embedded Placer and the
 * registry of its in-process agents.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ContainerEngine } from '../agent/containers/engine.js';
import type { FileTransport } from '../agent/file-transport.js';
import { LocalAgent } from '../agent/local-agent.js';
import type { AgentEndpoint, ReportSink } from '../agent/protocol.js';
import type { NodeInfo } from '../core/types.js';
import type { AgentRegistry, Placer } from '../engine/coordinator.js';
import type { EventBus } from '../engine/event-bus.js';
import type { PlacementResult } from '../plan/scheduler.js';
import { guaranteedLabels } from '../plan/selectors.js';
import type { NodeAssignment } from '../spec/model.js';
import type { JobRecord, PlacedNode, Store } from '../store/store.js';

export const LOCAL_IP = '127.0.0.1';

export interface LocalNodesOptions {
  dataDir: string;
  store: Store;
  bus: EventBus;
  sink: ReportSink;
  now?: () => number;
  /** How the local agents move job files (embedded: straight into the blob store). */
  files?: FileTransport;
}

export class LocalNodes implements Placer, AgentRegistry {
  private readonly agents = new Map<string, LocalAgent>();
  /** Docker tasks run on the engine DOCKER_HOST names (asked only when one runs). */
  private readonly containers = new ContainerEngine();
  private readonly byAssignment = new Map<string, PlacedNode>();
  private readonly bootTime = readBootTime();
  private readonly startTime = Math.floor(Date.now() / 1000);

  constructor(private readonly opts: LocalNodesOptions) {}

  async place(job: JobRecord): Promise<PlacementResult> {
    const placement: PlacedNode[] = [];
    for (const a of job.spec.nodeAssignments) placement.push(await this.ensure(a));
    return { ok: true, placement };
  }

  get(nodeId: string): AgentEndpoint | undefined {
    return this.agents.get(nodeId);
  }

  /** Ids of the local nodes started so far (all of them are "connected": they live in this process). */
  connectedIds(): ReadonlySet<string> {
    return new Set(this.agents.keys());
  }

  /** Kills the jobs' processes on every local node, synchronously (see LocalAgent.killNow). */
  killNow(jobIds: readonly number[]): void {
    for (const agent of this.agents.values()) agent.killNow(jobIds);
  }

  /** Stops every running task of every local node; idempotent. */
  async stopAll(graceMs: number): Promise<void> {
    await Promise.all([...this.agents.values()].map((a) => a.stop(graceMs)));
  }

  private async ensure(a: NodeAssignment): Promise<PlacedNode> {
    const known = this.byAssignment.get(a.name);
    if (known && known.role === a.role) return { ...known, assignment: a.name };
    const dir = path.join(this.opts.dataDir, 'nodes', a.name);
    mkdirSync(dir, { recursive: true });
    const id = nodeId(dir, a.name);
    const info: NodeInfo = {
      id,
      name: a.name,
      host: os.hostname(),
      addr: { ip: LOCAL_IP, bindAddr: LOCAL_IP, remoteAddr: LOCAL_IP },
      startTime: this.startTime,
      bootTime: this.bootTime,
      role: a.role,
      labels: guaranteedLabels(a),
      provider: 'local',
      capacity: { cpus: os.cpus().length, memoryMb: Math.round(os.totalmem() / 1024 / 1024) },
    };
    const { event } = await this.opts.store.registerNode(info, 'idle', (this.opts.now ?? Date.now)());
    this.opts.bus.publish({ kind: 'events', events: [event] });
    if (!this.agents.has(id)) {
      const agent = new LocalAgent({
        nodeId: id,
        workRoot: path.join(dir, 'work'),
        sink: this.opts.sink,
        containers: this.containers,
        ...(this.opts.files ? { files: this.opts.files } : {}),
      });
      this.agents.set(id, agent);
    }
    const placed: PlacedNode = {
      assignment: a.name,
      role: a.role,
      nodeId: id,
      nodeName: a.name,
      ip: LOCAL_IP,
    };
    this.byAssignment.set(a.name, placed);
    return placed;
  }
}

/** The node's id, made on first use and kept in its folder, so the same folder is the same node. */
function nodeId(dir: string, name: string): string {
  const file = path.join(dir, 'node-id');
  try {
    const id = readFileSync(file, 'utf8').trim();
    if (id) return id;
  } catch {
    // first use
  }
  const id = `local-${name}-${randomBytes(4).toString('hex')}`;
  writeFileSync(file, `${id}\n`);
  return id;
}

/** Machine boot time in unix seconds, from /proc/stat's btime (seed 001). */
export function readBootTime(): number {
  try {
    const m = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'));
    if (m) return Number(m[1]);
  } catch {
    // not Linux
  }
  return Math.floor(Date.now() / 1000 - os.uptime());
}
