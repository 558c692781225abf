/**
 * Where agents connect: the WebSocket endpoint of the agent protocol, one session per agent, the
 * registry the coordinator sends commands through, and the watchdog that declares a node down when
 * it has been silent longer than the heartbeat timeout.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { AgentCommand, AgentEndpoint } from '../agent/protocol.js';
import { AGENT_PATH } from '../agent/wire.js';
import type { NodeInfo, NodeState } from '../core/types.js';
import type { AgentRegistry, Coordinator } from '../engine/coordinator.js';
import type { EventBus } from '../engine/event-bus.js';
import type { Store } from '../store/store.js';
import { AgentSession } from './agent-session.js';
import type { Authenticator } from './context.js';

export interface GatewayOptions {
  store: Store;
  bus: EventBus;
  coordinator: () => Coordinator;
  auth: Authenticator;
  /** How often both sides send heartbeats. Default 5s. */
  heartbeatMs?: number;
  /** Silence after which a node is down. Default 30s. */
  heartbeatTimeoutMs?: number;
  log: (line: string) => void;
  now?: () => number;
}

const LIVE: ReadonlySet<NodeState> = new Set(['idle', 'busy', 'draining']);

export class AgentGateway implements AgentRegistry {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 * 1024 });
  private readonly sessions = new Map<string, AgentSession>();
  private readonly lastHeard = new Map<string, number>();
  private readonly instances = new Map<string, string>();
  private readonly started: number;
  private watchdog: NodeJS.Timeout | undefined;
  readonly heartbeatMs: number;
  readonly heartbeatTimeoutMs: number;

  constructor(private readonly opts: GatewayOptions) {
    this.heartbeatMs = opts.heartbeatMs ?? 5000;
    this.heartbeatTimeoutMs = opts.heartbeatTimeoutMs ?? 30_000;
    this.started = this.now();
  }

  /** Starts answering agent upgrades on the server, and the watchdog. */
  async attach(server: Server): Promise<void> {
    for (const n of await this.opts.store.listNodes()) if (n.instance) this.instances.set(n.id, n.instance);
    server.on('upgrade', (req, socket, head) => void this.upgrade(req, socket, head));
    this.watchdog = setInterval(() => void this.check(), Math.min(1000, this.heartbeatMs));
  }

  get(nodeId: string): AgentEndpoint {
    const session = this.sessions.get(nodeId);
    return {
      nodeId,
      instance: session?.instance ?? this.instances.get(nodeId),
      send: (cmd: AgentCommand) => session?.deliver(cmd),
    };
  }

  isConnected(nodeId: string): boolean {
    return this.sessions.get(nodeId)?.ready === true;
  }

  connectedNodes(): Set<string> {
    return new Set([...this.sessions.entries()].filter(([, s]) => s.ready).map(([id]) => id));
  }

  /** Closes every session (agents will reconnect, to this server once back or to another). */
  close(): void {
    if (this.watchdog) clearInterval(this.watchdog);
    for (const s of this.sessions.values()) s.close('server stopping');
    this.wss.close();
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== AGENT_PATH) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    const header = req.headers.authorization ?? '';
    const token = header.startsWith('Bearer ')
      ? header.slice(7)
      : (req.headers['x-api-token'] as string | undefined);
    const principal = token ? await this.opts.auth.check(token).catch(() => undefined) : undefined;
    if (principal?.kind !== 'agent') {
      const status = principal ? '403 Forbidden' : '401 Unauthorized';
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const remote = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
      const session: AgentSession = new AgentSession(ws, remote, {
        heartbeatMs: this.heartbeatMs,
        heartbeatTimeoutMs: this.heartbeatTimeoutMs,
        log: this.opts.log,
        register: (info, instance) => this.register(session, info, instance),
        apply: (nodeId, report) => this.opts.coordinator().handleReport(nodeId, report),
        saveWatermark: async (nodeId, seq) => {
          await this.opts.store.applyChanges({
            nodes: [{ id: nodeId, set: { reportSeq: seq } }],
            events: [],
          });
        },
        reconcile: (nodeId, instance, running, deliver) =>
          this.opts.coordinator().reconcile(nodeId, instance, running).then(deliver),
        heard: (nodeId) => this.lastHeard.set(nodeId, this.now()),
        closed: (s) => {
          if (s.nodeId && this.sessions.get(s.nodeId) === s) this.sessions.delete(s.nodeId);
        },
      });
    });
  }

  private async register(session: AgentSession, info: NodeInfo, instance: string) {
    const previous = this.sessions.get(info.id);
    if (previous && previous !== session) previous.close('the agent connected again');
    this.sessions.set(info.id, session);
    this.lastHeard.set(info.id, this.now());
    this.instances.set(info.id, instance);
    const before = await this.opts.store.getNode(info.id);
    const state: NodeState = before?.state === 'draining' ? 'draining' : (before?.state ?? 'idle');
    const { node, event } = await this.opts.store.registerNode(
      info,
      LIVE.has(state) ? state : 'down',
      this.now(),
    );
    await this.opts.store.applyChanges({ nodes: [{ id: node.id, set: { instance } }], events: [] });
    node.instance = instance;
    this.opts.bus.publish({ kind: 'events', events: [event] });
    await this.opts.coordinator().nodeConnected(node);
    return { nodeId: node.id, ackedSeq: node.reportSeq };
  }

  /** Nodes silent for longer than the timeout are down (counted from this server's start at least). */
  private async check(): Promise<void> {
    const now = this.now();
    let nodes: Awaited<ReturnType<Store['listNodes']>>;
    try {
      nodes = await this.opts.store.listNodes();
    } catch {
      return;
    }
    for (const n of nodes) {
      if (!LIVE.has(n.state)) continue;
      const last = Math.max(this.lastHeard.get(n.id) ?? 0, this.started);
      const silent = now - last;
      if (silent <= this.heartbeatTimeoutMs) continue;
      this.sessions.get(n.id)?.close('missed heartbeats');
      this.sessions.delete(n.id);
      await this.opts
        .coordinator()
        .nodeDown(n.id, `no heartbeat for ${Math.round(silent / 1000)}s`)
        .catch((err: unknown) => this.opts.log(`marking node ${n.id} down failed: ${String(err)}`));
    }
  }
}
