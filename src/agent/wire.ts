/**
 * The agent protocol on the wire: JSON messages over one WebSocket per agent
 * (`/api/v1/agent/connect`, authenticated by an agent token at the upgrade).
 *
 * 1. The agent says `hello`: its node info, its process instance, the attempts it runs now, and the
 *    highest sequence number in its outbox.
 * 2. The server answers `welcome`: the node's id, the address it saw the agent at, and `ackedSeq`, the
 *    last report of this node it has applied.
 * 3. The agent replays every report after `ackedSeq` (its outbox is on disk), then sends new ones as
 *    they happen. Every report carries its `seq`; the server applies each once and acks it.
 * 4. Once the replay reached the hello's `outboxSeq`, the server reconciles: it sends `command`s to
 *    stop attempts it gave up and to start again attempts the agent never received.
 * Both sides send `heartbeat`s; silence longer than the timeout means the other side is gone.
 */
import type { NodeInfo } from '../core/types.js';
import type { AgentCommand, AgentReport, AttemptRef } from './protocol.js';

export const PROTOCOL_VERSION = 1;
export const AGENT_PATH = '/api/v1/agent/connect';

export type AgentMessage =
  | {
      t: 'hello';
      protocol: number;
      info: NodeInfo;
      /** Random per agent process: a restarted agent is a new instance. */
      instance: string;
      running: AttemptRef[];
      /** The highest report seq the agent has written (0: none). */
      outboxSeq: number;
      /**
       * The highest report seq a server acknowledged to it (those reports are gone from its outbox).
       * A server whose stored watermark lags (it crashed before saving it) starts from here.
       * Absent (older agents): 0.
       */
      outboxAcked?: number;
    }
  | { t: 'report'; seq: number; report: AgentReport }
  | { t: 'heartbeat'; ts: number };

export type ServerMessage =
  | {
      t: 'welcome';
      nodeId: string;
      /** The agent's address as the server saw it. */
      remoteAddr: string;
      ackedSeq: number;
      /** How often to send heartbeats, and after how much silence the peer counts as gone. */
      heartbeatMs: number;
      heartbeatTimeoutMs: number;
      /** The node is draining (absent: not). */
      draining?: boolean;
    }
  | { t: 'ack'; seq: number }
  /** The node's draining began or ended: a draining agent lets its tasks finish when told to stop. */
  | { t: 'drain'; on: boolean }
  | { t: 'command'; command: AgentCommand }
  | { t: 'heartbeat'; ts: number }
  /** The server refuses the session (bad hello, another session for the node); it closes next. */
  | { t: 'refused'; reason: string };

export function encode(message: AgentMessage | ServerMessage): string {
  return JSON.stringify(message);
}

/** Parses a message; undefined for anything that is not an object with a string `t`. */
export function decode<T extends AgentMessage | ServerMessage>(data: unknown): T | undefined {
  try {
    const text =
      typeof data === 'string' ? data : Buffer.isBuffer(data) ? data.toString('utf8') : String(data);
    const value: unknown = JSON.parse(text);
    if (value !== null && typeof value === 'object' && typeof (value as { t?: unknown }).t === 'string') {
      return value as T;
    }
  } catch {
    // not JSON
  }
  return undefined;
}
