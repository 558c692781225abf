/**
 * The agent's side of the agent protocol (see wire.ts): one WebSocket to a server, reconnected with
 * backoff (trying each server URL in turn), a hello, the replay of the outbox after the server's
 * acknowledged seq, then live reports, commands in, heartbeats both ways.
 *
 * When the server has been silent longer than its heartbeat timeout, it will have declared this node
 * down and given its tasks up (to run them elsewhere): the agent then stops them itself, so a task
 * never runs twice at once. A short server restart (well under the timeout) leaves tasks running.
 */
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { isUntrustedCertificate } from '../core/tls.js';
import type { NodeInfo } from '../core/types.js';
import type { Outbox } from './outbox.js';
import type { AgentCommand, AttemptRef } from './protocol.js';
import {
  AGENT_PATH,
  type AgentMessage,
  decode,
  encode,
  PROTOCOL_VERSION,
  type ServerMessage,
} from './wire.js';

export interface ConnectionOptions {
  /** Server base URLs (http:// or https://); tried in turn. */
  servers: string[];
  token: string;
  /** The node info to register with; `localAddress` is this end of the connection (the bind address). */
  info: (localAddress: string) => NodeInfo;
  running: () => AttemptRef[];
  outbox: Outbox;
  onCommand: (cmd: AgentCommand) => void;
  /** Called when the server was silent too long: stop what runs (the server gave it up). */
  onFence: (reason: string) => void;
  /** The node's draining began or ended (told at each welcome, and when it changes). Default: ignored. */
  onDrain?: (on: boolean) => void;
  /** Status lines for the agent's own log. */
  log: (line: string) => void;
  /** First reconnect delay, doubled up to `maxBackoffMs`. Defaults 250ms and 10s. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** TLS: a CA to trust (PEM) for https servers. */
  ca?: string | Buffer;
}

type State = 'connecting' | 'handshake' | 'live' | 'closed';

/** Bytes waiting in the socket past which reports wait for it to drain. */
const SEND_BUFFER_MAX = 8 * 1024 * 1024;

function zeroMask(mask: Buffer): void {
  mask.fill(0);
}

export class AgentConnection {
  readonly instance = randomUUID();
  private ws: WebSocket | undefined;
  private state: State = 'closed';
  private serverIndex = 0;
  private backoff: number;
  private sentSeq = 0;
  private heartbeatMs = 5000;
  private timeoutMs = 30_000;
  private lastHeard = Date.now();
  private lastBeat = 0;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private fenced = false;
  private stopped = false;
  private pumping = false;
  private pumpRetry: NodeJS.Timeout | undefined;
  /** The node id the server gave (the info's id). */
  nodeId: string | undefined;

  constructor(private readonly opts: ConnectionOptions) {
    this.backoff = opts.minBackoffMs ?? 250;
  }

  start(): void {
    this.stopped = false;
    this.connect();
    this.heartbeatTimer = setInterval(() => this.tick(), 500);
  }

  /** A report was written to the outbox: send it if we are live. */
  notify(): void {
    if (this.state === 'live') this.pump();
  }

  get connected(): boolean {
    return this.state === 'live';
  }

  /** The base URL of the server this agent is connected to (or trying next): job files go there. */
  get serverUrl(): string | undefined {
    return this.opts.servers[this.serverIndex % this.opts.servers.length];
  }

  /** Closes the connection for good. Idempotent. */
  stop(): void {
    this.stopped = true;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.pumpRetry) clearTimeout(this.pumpRetry);
    this.pumpRetry = undefined;
    this.state = 'closed';
    this.ws?.close(1000, 'agent stopping');
    this.ws = undefined;
  }

  private connect(): void {
    if (this.stopped) return;
    const base = this.opts.servers[this.serverIndex % this.opts.servers.length] ?? '';
    const url = `${base.replace(/^http/, 'ws').replace(/\/$/, '')}${AGENT_PATH}`;
    this.state = 'connecting';
    const ws = new WebSocket(url, {
      headers: { authorization: `Bearer ${this.opts.token}` },
      handshakeTimeout: 10_000,
      // Masking protects browsers' proxies from forged requests; this client is no browser, and an
      // all-zero mask lets both ends skip XORing every byte (most of the cost of a chatty task's logs).
      generateMask: zeroMask,
      ...(this.opts.ca ? { ca: this.opts.ca } : {}),
    });
    this.ws = ws;
    ws.on('open', () => {
      this.state = 'handshake';
      this.heard();
      this.send({
        t: 'hello',
        protocol: PROTOCOL_VERSION,
        info: this.opts.info(
          ws.readyState === WebSocket.OPEN
            ? ((ws as unknown as { _socket?: { localAddress?: string } })._socket?.localAddress ?? '')
            : '',
        ),
        instance: this.instance,
        running: this.opts.running(),
        outboxSeq: this.opts.outbox.high,
        outboxAcked: this.opts.outbox.acked,
      });
    });
    ws.on('message', (data) => this.onMessage(decode<ServerMessage>(data)));
    ws.on('unexpected-response', (_req, res) => {
      const why =
        res.statusCode === 401
          ? ': the agent token is unknown, revoked or expired (check --token / JOBHUB_AGENT_TOKEN)'
          : res.statusCode === 403
            ? ': the token is not an agent token (make one with jobhub token create --agent)'
            : '';
      this.opts.log(`server ${base} refused the agent: HTTP ${res.statusCode}${why}`);
      // With this listener ws leaves the handshake open: without ending it, no close comes, and the
      // agent would never try again (a 503 while the server's database restarts is worth a retry).
      this.state = 'closed'; // told already: no "cannot reach" for the abort below
      ws.terminate();
    });
    ws.on('error', (err) => {
      if (this.state === 'connecting') {
        const hint = isUntrustedCertificate(err)
          ? " (the server's certificate is not trusted: give its CA with --ca-file)"
          : '';
        this.opts.log(`cannot reach ${base}: ${err.message}${hint}`);
      }
    });
    ws.on('close', () => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      const wasLive = this.state === 'live';
      this.state = 'closed';
      if (wasLive) this.opts.log(`lost the connection to ${base}; reconnecting`);
      this.scheduleReconnect(wasLive);
    });
  }

  private scheduleReconnect(wasLive: boolean): void {
    if (this.stopped) return;
    if (!wasLive) this.serverIndex++; // try the next server
    const delay = wasLive ? (this.opts.minBackoffMs ?? 250) : this.backoff;
    this.backoff = Math.min(this.backoff * 2, this.opts.maxBackoffMs ?? 10_000);
    const jitter = delay * (0.8 + Math.random() * 0.4);
    this.reconnectTimer = setTimeout(() => this.connect(), jitter);
  }

  private onMessage(m: ServerMessage | undefined): void {
    if (!m) return;
    this.heard();
    switch (m.t) {
      case 'welcome':
        this.nodeId = m.nodeId;
        this.heartbeatMs = m.heartbeatMs;
        this.timeoutMs = m.heartbeatTimeoutMs;
        this.opts.outbox.ack(m.ackedSeq);
        this.sentSeq = Math.max(m.ackedSeq, this.opts.outbox.acked);
        this.state = 'live';
        this.backoff = this.opts.minBackoffMs ?? 250;
        this.fenced = false;
        this.opts.onDrain?.(m.draining === true);
        this.opts.log(
          `connected to ${this.opts.servers[this.serverIndex % this.opts.servers.length]} as node ${m.nodeId}`,
        );
        this.pump();
        return;
      case 'ack':
        this.opts.outbox.ack(m.seq);
        return;
      case 'command':
        this.opts.onCommand(m.command);
        return;
      case 'heartbeat':
        return;
      case 'drain':
        this.opts.onDrain?.(m.on);
        return;
      case 'refused':
        this.opts.log(`server refused the session: ${m.reason}`);
        this.ws?.close(4000, 'refused');
        return;
    }
  }

  /** Sends what the outbox holds after what was sent, minding the socket's buffer. */
  private pump(): void {
    // While the socket is full a retry is due anyway: new reports wait for it (reading records
    // back from disk for every new report would cost more than sending them).
    if (this.pumping || this.pumpRetry) return;
    this.pumping = true;
    try {
      if (this.ws && this.ws.bufferedAmount > SEND_BUFFER_MAX) {
        this.retryPump();
        return;
      }
      for (const r of this.opts.outbox.after(this.sentSeq)) {
        if (this.state !== 'live' || !this.ws) return;
        if (this.ws.bufferedAmount > SEND_BUFFER_MAX) {
          this.retryPump();
          return;
        }
        if (r.json !== undefined) {
          // The outbox kept the report's JSON: the message is built around it, not stringified again.
          if (this.ws.readyState === WebSocket.OPEN)
            this.ws.send(`{"t":"report","seq":${r.seq},"report":${r.json}}`);
        } else this.send({ t: 'report', seq: r.seq, report: r.report });
        this.sentSeq = r.seq;
      }
    } finally {
      this.pumping = false;
    }
  }

  private retryPump(): void {
    this.pumpRetry = setTimeout(() => {
      this.pumpRetry = undefined;
      this.pump();
    }, 20);
  }

  private tick(): void {
    const silent = Date.now() - this.lastHeard;
    if (this.state === 'live' || this.state === 'handshake') {
      if (silent > this.timeoutMs) {
        this.opts.log(`server silent for ${Math.round(silent / 1000)}s; reconnecting`);
        this.ws?.terminate();
      } else if (Date.now() - this.lastBeat >= this.heartbeatMs) {
        this.lastBeat = Date.now();
        this.send({ t: 'heartbeat', ts: this.lastBeat });
      }
    }
    // Stop before the server gives the tasks up (it waits the full timeout).
    if (!this.fenced && silent > this.timeoutMs * 0.75 && this.opts.running().length > 0) {
      this.fenced = true;
      this.opts.onFence(`no contact with the server for ${Math.round(silent / 1000)}s`);
    }
  }

  private heard(): void {
    this.lastHeard = Date.now();
  }

  private send(m: AgentMessage): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(encode(m));
  }
}
