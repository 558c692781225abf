/**
 * Where agents connect: the WebSocket endpoint of the agent protocol, one session per agent, the
 * registry the coordinator sends commands through, and the watchdog that declares a node down when
 * it has been silent longer than the heartbeat timeout.
 *
 * Two modes. `direct` (one server): reports go straight to the coordinator. `inbox` (replicas on
 * PostgreSQL): log lines are stored by the replica that receives them, status reports go to the
 * store's inbox, which the lease holder's coordinator applies in order; commands for an agent
 * connected to another replica travel as notifications, and the replica holding the session
 * delivers them. A command can be lost on the way (the notification failed, or the lease holder
 * died between its commit and its notification): the agent is then asked to reconcile again (see
 * `reconcileAgents`), which starts what it never received.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { AgentCommand, AgentEndpoint, AgentReport, AttemptRef } from '../agent/protocol.js';
import { AGENT_PATH } from '../agent/wire.js';
import type { NodeInfo, NodeState } from '../core/types.js';
import type { AgentRegistry, Coordinator } from '../engine/coordinator.js';
import type { EventBus } from '../engine/event-bus.js';
import { reportChangesState } from '../engine/report-kinds.js';
import type { NodeRecord, Store } from '../store/store.js';
import { AgentSession } from './agent-session.js';
import type { ClusterLink } from './cluster-link.js';
import type { Authenticator } from './context.js';

export interface GatewayOptions {
  store: Store;
  bus: EventBus;
  link: ClusterLink;
  mode: 'direct' | 'inbox';
  /** The coordinator, when this server holds the scheduling lease. */
  coordinator: () => Coordinator | undefined;
  auth: Authenticator;
  /** How often both sides send heartbeats. Default 5s. */
  heartbeatMs?: number;
  /** Silence after which a node is down. Default 30s. */
  heartbeatTimeoutMs?: number;
  log: (line: string) => void;
  now?: () => number;
}

/** A message on the `cmd` channel: commands for one node's agent, wherever it is connected. */
interface CmdMessage {
  node: string;
  cmds: AgentCommand[];
  /** Set on the answer to a reconciliation: the session may deliver from now on. */
  ready?: { instance: string };
}

/** What the inbox holds besides agent reports: a session's request to be reconciled. */
export interface ReconcileRequest {
  type: 'reconcile';
  instance: string;
  running: AttemptRef[];
}

const LIVE: ReadonlySet<NodeState> = new Set(['idle', 'busy', 'draining']);

export class AgentGateway implements AgentRegistry {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 * 1024 });
  private readonly sessions = new Map<string, AgentSession>();
  /** The agent token each open session connected with (a revocation closes its sessions). */
  private readonly sessionTokens = new Map<AgentSession, string>();
  private readonly lastHeard = new Map<string, number>();
  private readonly instances = new Map<string, string>();
  private readonly pendingReady = new Map<string, (cmds: AgentCommand[]) => void>();
  private readonly heardSinceFlush = new Set<string>();
  private timers: NodeJS.Timeout[] = [];
  /** Reconcile notices to send again (the link failed). */
  private readonly retries = new Set<NodeJS.Timeout>();
  private closed = false;
  private unsubscribe: (() => void) | undefined;
  /** When this server became the lease holder: nodes get a full timeout from then to show up. */
  private watchingSince = 0;
  readonly heartbeatMs: number;
  readonly heartbeatTimeoutMs: number;

  constructor(private readonly opts: GatewayOptions) {
    this.heartbeatMs = opts.heartbeatMs ?? 5000;
    this.heartbeatTimeoutMs = opts.heartbeatTimeoutMs ?? 30_000;
  }

  /** Starts answering agent upgrades on the server, listening for commands, flushing heartbeats. */
  async attach(server: Server): Promise<void> {
    for (const n of await this.opts.store.listNodes()) if (n.instance) this.instances.set(n.id, n.instance);
    await this.opts.link.listen('cmd', (payload) => this.onCmd(payload));
    await this.opts.link.listen('node', (payload) => {
      const m = JSON.parse(payload) as { node: string; instance: string };
      this.instances.set(m.node, m.instance);
    });
    await this.opts.link.listen('revoked', (tokenId) => this.revoked(tokenId));
    await this.opts.link.listen('reconcile', (payload) =>
      this.closeSessions(JSON.parse(payload) as string[]),
    );
    // A node's draining (decided by the lease holder, here or on another replica) is told to its agent.
    this.unsubscribe = this.opts.bus.subscribe((m) => {
      if (m.kind !== 'events') return;
      for (const e of m.events) {
        if (e.type !== 'node.state' || !e.nodeId || (e.to === 'draining') === (e.from === 'draining'))
          continue;
        this.sessions.get(e.nodeId)?.drain(e.to === 'draining');
      }
    });
    server.on('upgrade', (req, socket, head) => void this.upgrade(req, socket, head));
    this.timers.push(setInterval(() => void this.check(), Math.min(1000, this.heartbeatMs)));
    this.timers.push(setInterval(() => void this.flushHeard(), this.heartbeatMs));
  }

  /** A token was revoked (here or on another replica): forget it, and close its agents' sessions. */
  revoked(tokenId: string): void {
    this.opts.auth.forget?.();
    for (const [session, t] of this.sessionTokens) {
      if (t !== tokenId) continue;
      this.opts.log(`node ${session.nodeId ?? '?'}: its agent token was revoked; disconnecting it`);
      session.close('the agent token was revoked');
    }
  }

  /** The lease holder's coordinator (re)starts watching nodes; they get a full timeout first. */
  startWatching(): void {
    this.watchingSince = this.now();
  }

  get(nodeId: string): AgentEndpoint {
    return {
      nodeId,
      instance: this.sessions.get(nodeId)?.instance ?? this.instances.get(nodeId),
      send: (cmd: AgentCommand) => this.route(nodeId, [cmd]),
    };
  }

  isConnected(nodeId: string): boolean {
    return this.sessions.get(nodeId)?.ready === true;
  }

  /** Reachable for new work: connected here, or (replicas) heard of by some replica lately. */
  isLive(node: NodeRecord): boolean {
    if (this.isConnected(node.id)) return true;
    return (
      this.opts.mode === 'inbox' &&
      this.now() - node.lastSeenAt < Math.min(this.heartbeatTimeoutMs, 3 * this.heartbeatMs)
    );
  }

  connectedNodes(): Set<string> {
    return new Set([...this.sessions.entries()].filter(([, s]) => s.ready).map(([id]) => id));
  }

  /** Delivers a reconciliation's commands and lets the session deliver from then on. */
  deliverReconciled(nodeId: string, instance: string, cmds: AgentCommand[]): void {
    const local = this.pendingReady.get(`${nodeId}/${instance}`);
    if (local) {
      this.pendingReady.delete(`${nodeId}/${instance}`);
      local(cmds);
      return;
    }
    if (this.opts.mode === 'inbox') void this.publish({ node: nodeId, cmds, ready: { instance } });
  }

  /**
   * Has the agents of these nodes reconcile again, wherever they are connected: their sessions are
   * closed, and each agent reconnects at once and says what it runs, so the lease holder starts what
   * it never received and stops what it should not run. For commands that may have been lost; the
   * notice is sent again until the link takes it.
   */
  reconcileAgents(nodeIds: readonly string[]): void {
    if (nodeIds.length === 0) return;
    // Through the link, to every replica (this one included, and the only one with a local link).
    this.opts.link.notify('reconcile', JSON.stringify(nodeIds)).catch((err: unknown) => {
      if (this.closed) return;
      this.opts.log(`asking nodes ${nodeIds.join(', ')} to reconcile failed (${String(err)}); retrying`);
      const t = setTimeout(() => {
        this.retries.delete(t);
        this.reconcileAgents(nodeIds);
      }, 1000);
      this.retries.add(t);
    });
  }

  /** Closes every session (agents will reconnect, to this server once back or to another). */
  close(): void {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    for (const t of this.retries) clearTimeout(t);
    this.retries.clear();
    this.unsubscribe?.();
    for (const s of this.sessions.values()) s.close('server stopping');
    this.wss.close();
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  /** A command goes to the session here, or (replicas) to whichever replica holds it. */
  private route(nodeId: string, cmds: AgentCommand[]): void {
    const session = this.sessions.get(nodeId);
    if (session) {
      for (const c of cmds) session.deliver(c);
    } else if (this.opts.mode === 'inbox') {
      void this.publish({ node: nodeId, cmds });
    }
  }

  private async publish(m: CmdMessage): Promise<void> {
    await this.opts.link.notify('cmd', JSON.stringify(m)).catch((err: unknown) => {
      // The store says they were sent: only a reconciliation tells the agent (or, for a `ready`, lets
      // its session deliver at all).
      this.opts.log(
        `sending commands for node ${m.node} to its replica failed: ${String(err)}; reconciling it`,
      );
      this.reconcileAgents([m.node]);
    });
  }

  /** The sessions of these nodes held here end: their agents reconnect and reconcile. */
  private closeSessions(nodeIds: readonly string[]): void {
    for (const id of nodeIds) this.sessions.get(id)?.close('reconciling again: commands may have been lost');
  }

  private onCmd(payload: string): void {
    const m = JSON.parse(payload) as CmdMessage;
    const session = this.sessions.get(m.node);
    if (!session) return;
    if (m.ready) {
      const waiting = this.pendingReady.get(`${m.node}/${m.ready.instance}`);
      if (waiting) {
        this.pendingReady.delete(`${m.node}/${m.ready.instance}`);
        waiting(m.cmds);
      }
      return;
    }
    for (const c of m.cmds) session.deliver(c);
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
    let principal: Awaited<ReturnType<Authenticator['check']>>;
    try {
      principal = token ? await this.opts.auth.check(token) : undefined;
    } catch {
      // The store cannot say (PostgreSQL restarting): not an unknown token. The agent tries again.
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
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
        apply: (nodeId, report) => this.apply(nodeId, report, session),
        saveWatermark: async (nodeId, seq) => {
          if (this.opts.mode === 'direct') {
            await this.opts.store.applyChanges({
              nodes: [{ id: nodeId, set: { reportSeq: seq } }],
              events: [],
            });
          }
        },
        reconcile: (nodeId, instance, running, deliver) => this.reconcile(nodeId, instance, running, deliver),
        heard: (nodeId) => {
          this.lastHeard.set(nodeId, this.now());
          this.heardSinceFlush.add(nodeId);
        },
        closed: (s) => {
          this.sessionTokens.delete(s);
          if (s.nodeId && this.sessions.get(s.nodeId) === s) {
            this.sessions.delete(s.nodeId);
            // The only server knows no agent has the node now: a start sent meanwhile reaches no
            // instance, and is sent again to whichever instance connects next (see reconcile).
            if (this.opts.mode === 'direct') this.instances.delete(s.nodeId);
          }
          if (s.nodeId && s.instance) this.pendingReady.delete(`${s.nodeId}/${s.instance}`);
        },
      });
      this.sessionTokens.set(session, principal.tokenId);
    });
  }

  private async apply(nodeId: string, report: AgentReport, session: AgentSession): Promise<void> {
    if (this.opts.mode === 'direct') {
      const c = this.opts.coordinator();
      if (!c) throw new Error('no coordinator');
      await c.handleReport(nodeId, report);
      return;
    }
    if (report.type === 'log') {
      const rows = report.lines.map((l) => ({
        jobId: l.ref.jobId,
        taskId: l.ref.taskId,
        attempt: l.ref.attempt,
        seq: l.seq,
        ts: l.ts,
        stream: l.stream,
        text: l.text,
      }));
      await this.opts.store.appendLogs(rows);
      this.opts.bus.publish({ kind: 'logs', lines: rows });
      return;
    }
    if (!reportChangesState(report)) return;
    await this.opts.store.enqueueReports([{ nodeId, seq: session.currentSeq, body: report }]);
  }

  private async reconcile(
    nodeId: string,
    instance: string,
    running: AttemptRef[],
    deliver: (cmds: AgentCommand[]) => void,
  ): Promise<void> {
    if (this.opts.mode === 'direct') {
      const c = this.opts.coordinator();
      if (!c) throw new Error('no coordinator');
      await c.reconcile(nodeId, instance, running).then(deliver);
      c.nodeReady();
      return;
    }
    this.pendingReady.set(`${nodeId}/${instance}`, deliver);
    const request: ReconcileRequest = { type: 'reconcile', instance, running };
    await this.opts.store.enqueueReports([{ nodeId, seq: null, body: request }]);
  }

  private async register(session: AgentSession, info: NodeInfo, instance: string) {
    const previous = this.sessions.get(info.id);
    if (previous && previous !== session) previous.close('the agent connected again');
    this.sessions.set(info.id, session);
    this.lastHeard.set(info.id, this.now());
    this.instances.set(info.id, instance);
    const before = await this.opts.store.getNode(info.id);
    const state: NodeState = before?.state ?? 'idle';
    const { node, event } = await this.opts.store.registerNode(info, state, this.now());
    await this.opts.store.applyChanges({ nodes: [{ id: node.id, set: { instance } }], events: [] });
    node.instance = instance;
    this.opts.bus.publish({ kind: 'events', events: [event] });
    if (this.opts.mode === 'inbox') {
      await this.opts.link.notify('node', JSON.stringify({ node: node.id, instance }));
      await this.opts.link.notify('control', JSON.stringify({ op: 'node', nodeId: node.id }));
    } else {
      await this.opts.coordinator()?.nodeConnected(node);
    }
    const ackedSeq =
      this.opts.mode === 'inbox' ? await this.opts.store.nodeReportHigh(node.id) : node.reportSeq;
    return { nodeId: node.id, ackedSeq, draining: node.state === 'draining' };
  }

  /** Heartbeats received here since the last flush, stamped in the store for the lease holder. */
  private async flushHeard(): Promise<void> {
    const ids = [...this.heardSinceFlush];
    this.heardSinceFlush.clear();
    await this.opts.store.touchNodes(ids, this.now()).catch(() => {});
  }

  /** On the lease holder: nodes silent longer than the timeout are down. */
  private async check(): Promise<void> {
    const coordinator = this.opts.coordinator();
    if (!coordinator) return;
    const now = this.now();
    let nodes: Awaited<ReturnType<Store['listNodes']>>;
    try {
      nodes = await this.opts.store.listNodes();
    } catch {
      return;
    }
    for (const n of nodes) {
      if (!LIVE.has(n.state)) continue;
      const last = Math.max(this.lastHeard.get(n.id) ?? 0, n.lastSeenAt, this.watchingSince);
      const silent = now - last;
      if (silent <= this.heartbeatTimeoutMs) continue;
      this.sessions.get(n.id)?.close('missed heartbeats');
      this.sessions.delete(n.id);
      await coordinator
        .nodeDown(n.id, `no heartbeat for ${Math.round(silent / 1000)}s`)
        .catch((err: unknown) => this.opts.log(`marking node ${n.id} down failed: ${String(err)}`));
    }
  }
}
