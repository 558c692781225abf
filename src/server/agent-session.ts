/**
 * One connected agent, server side: its hello, the replay of its buffered reports (each applied once,
 * in order, acknowledged after it is stored), the reconciliation once the replay is complete, then
 * live reports and commands. The session delivers commands only once reconciled: anything the
 * coordinator sent before is covered by the reconciliation.
 */
import type { WebSocket } from 'ws';
import type { AgentCommand, AgentReport, AttemptRef } from '../agent/protocol.js';
import { type AgentMessage, decode, encode, PROTOCOL_VERSION, type ServerMessage } from '../agent/wire.js';
import type { NodeInfo } from '../core/types.js';

export interface SessionHooks {
  /** Registers the node from its hello; returns the watermark of applied reports. */
  register(
    info: NodeInfo,
    instance: string,
  ): Promise<{ nodeId: string; ackedSeq: number; draining: boolean }>;
  /** Applies one report; resolves once it is stored. */
  apply(nodeId: string, report: AgentReport): Promise<void>;
  /** Records the watermark (called at most every few hundred ms, and at the end). */
  saveWatermark(nodeId: string, seq: number): Promise<void>;
  /** Reconciles; `deliver` runs inside the coordinator's turn, so nothing slips in between. */
  reconcile(
    nodeId: string,
    instance: string,
    running: AttemptRef[],
    deliver: (cmds: AgentCommand[]) => void,
  ): Promise<void>;
  heard(nodeId: string): void;
  closed(session: AgentSession): void;
  log(line: string): void;
  heartbeatMs: number;
  heartbeatTimeoutMs: number;
}

/**
 * Bytes of reports received and not yet applied past which the session stops reading from the
 * agent's socket (and reads again once they are down to RESUME_BELOW). Without this a task writing
 * its output faster than the store takes it would pile its log reports up in the server's memory;
 * paused, TCP holds the agent back, and what it cannot send waits in its outbox on disk.
 */
const PAUSE_AT = 512 * 1024;
/** Commands kept for an agent still being reconciled; beyond, they are dropped (as when offline). */
const MAX_EARLY_COMMANDS = 10_000;
const RESUME_BELOW = 128 * 1024;

export class AgentSession {
  nodeId: string | undefined;
  instance: string | undefined;
  /** True once reconciled: commands are delivered from then on. */
  ready = false;
  /** The seq of the report being applied now (for hooks that store it). */
  currentSeq = 0;
  private applied = 0;
  private savedSeq = 0;
  private target = 0;
  private running: AttemptRef[] = [];
  private chain: Promise<void> = Promise.resolve();
  /** Bytes of the reports queued on `chain`, not yet applied. */
  private backlog = 0;
  private paused = false;
  private saveTimer: NodeJS.Timeout | undefined;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly helloTimeout: NodeJS.Timeout;
  private closed = false;
  /** Commands for the node between its registration and its reconcile, sent after the latter. */
  private readonly early: AgentCommand[] = [];

  constructor(
    private readonly ws: WebSocket,
    private readonly remoteAddr: string,
    private readonly hooks: SessionHooks,
  ) {
    ws.on('message', (data) => this.onMessage(decode<AgentMessage>(data), sizeOf(data)));
    ws.on('close', () => this.onClose());
    ws.on('error', () => ws.terminate());
    this.heartbeat = setInterval(() => this.send({ t: 'heartbeat', ts: Date.now() }), hooks.heartbeatMs);
    this.helloTimeout = setTimeout(() => {
      if (!this.nodeId) this.refuse('no hello within 10s');
    }, 10_000);
  }

  deliver(cmd: AgentCommand): void {
    if (this.ready) this.send({ t: 'command', command: cmd });
    // Registered, not yet reconciled: decisions taken meanwhile (a job.cleanup for a job the
    // reconcile just ended) follow the reconcile's commands; dropped, the job would wait out its
    // cleanup timeout.
    else if (this.nodeId && this.early.length < MAX_EARLY_COMMANDS) this.early.push(cmd);
  }

  /** Ends the session (another one took over, or the server stops). */
  close(reason: string): void {
    this.ws.close(1001, reason.slice(0, 120));
  }

  private onMessage(m: AgentMessage | undefined, bytes: number): void {
    if (this.closed) return;
    if (!m) {
      this.refuse('malformed message');
      return;
    }
    if (this.nodeId) this.hooks.heard(this.nodeId);
    switch (m.t) {
      case 'hello':
        this.chain = this.chain.then(() => this.onHello(m)).catch((err: unknown) => this.fail(err));
        return;
      case 'report':
        this.backlog += bytes;
        if (!this.paused && this.backlog >= PAUSE_AT) {
          this.paused = true;
          this.ws.pause();
        }
        this.chain = this.chain
          .then(() => this.onReport(m.seq, m.report))
          .catch((err: unknown) => this.fail(err))
          .finally(() => this.reportDone(bytes));
        return;
      case 'heartbeat':
        return;
    }
  }

  private async onHello(m: Extract<AgentMessage, { t: 'hello' }>): Promise<void> {
    if (this.nodeId) return; // one hello per session
    if (m.protocol !== PROTOCOL_VERSION || !m.info || typeof m.info.id !== 'string' || m.info.id === '') {
      this.refuse(`unsupported hello (protocol ${String(m.protocol)})`);
      return;
    }
    clearTimeout(this.helloTimeout);
    const info: NodeInfo = {
      ...m.info,
      addr: { ...m.info.addr, remoteAddr: this.remoteAddr, ip: m.info.addr?.ip || this.remoteAddr },
    };
    const registered = await this.hooks.register(info, m.instance);
    const nodeId = registered.nodeId;
    // Reports a server acknowledged were applied, even when a crash kept the watermark from being
    // saved: without this, a replay that will never come (the agent dropped them) is waited for and
    // the node is never reconciled, so it gets no work.
    const helloAcked = typeof m.outboxAcked === 'number' && m.outboxAcked <= m.outboxSeq ? m.outboxAcked : 0;
    const ackedSeq = Math.max(registered.ackedSeq, helloAcked);
    this.nodeId = nodeId;
    this.instance = m.instance;
    this.applied = ackedSeq;
    this.savedSeq = registered.ackedSeq;
    if (ackedSeq > this.savedSeq) this.scheduleSave();
    this.target = m.outboxSeq;
    this.running = m.running ?? [];
    this.send({
      t: 'welcome',
      nodeId,
      remoteAddr: this.remoteAddr,
      ackedSeq,
      heartbeatMs: this.hooks.heartbeatMs,
      heartbeatTimeoutMs: this.hooks.heartbeatTimeoutMs,
      ...(registered.draining ? { draining: true } : {}),
    });
    await this.maybeReconcile();
  }

  private async onReport(seq: number, report: AgentReport): Promise<void> {
    const nodeId = this.nodeId;
    if (!nodeId) return;
    if (seq > this.applied) {
      this.currentSeq = seq;
      await this.hooks.apply(nodeId, report);
      this.applied = seq;
      this.scheduleSave();
    }
    this.send({ t: 'ack', seq });
    await this.maybeReconcile();
  }

  /** A report left the backlog (applied, or failed): read on once the backlog is small again. */
  private reportDone(bytes: number): void {
    this.backlog -= bytes;
    if (this.paused && this.backlog < RESUME_BELOW && !this.closed) {
      this.paused = false;
      this.ws.resume();
    }
  }

  /** Once everything the agent had buffered at its hello has been applied. */
  private async maybeReconcile(): Promise<void> {
    if (this.ready || !this.nodeId || !this.instance || this.applied < this.target) return;
    await this.hooks.reconcile(this.nodeId, this.instance, this.running, (cmds) => {
      this.ready = true;
      for (const c of [...cmds, ...this.early.splice(0)]) this.send({ t: 'command', command: c });
    });
  }

  private scheduleSave(): void {
    if (this.saveTimer) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      void this.save();
    }, 200);
  }

  private async save(): Promise<void> {
    if (!this.nodeId || this.applied === this.savedSeq) return;
    const seq = this.applied;
    await this.hooks.saveWatermark(this.nodeId, seq).catch(() => {});
    this.savedSeq = seq;
  }

  private fail(err: unknown): void {
    this.hooks.log(`agent session ${this.nodeId ?? this.remoteAddr}: ${String(err)}`);
    this.ws.terminate();
  }

  private refuse(reason: string): void {
    this.send({ t: 'refused', reason });
    this.ws.close(4000, reason.slice(0, 120));
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.ready = false;
    clearInterval(this.heartbeat);
    clearTimeout(this.helloTimeout);
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.chain = this.chain.then(() => this.save());
    this.hooks.closed(this);
  }

  /** Tells the agent its node's draining began or ended. */
  drain(on: boolean): void {
    this.send({ t: 'drain', on });
  }

  private send(m: ServerMessage): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(encode(m));
  }
}

function sizeOf(data: unknown): number {
  if (Buffer.isBuffer(data)) return data.length;
  if (Array.isArray(data)) return data.reduce((n: number, b: Buffer) => n + b.length, 0);
  if (data instanceof ArrayBuffer) return data.byteLength;
  return typeof data === 'string' ? data.length : 0;
}
