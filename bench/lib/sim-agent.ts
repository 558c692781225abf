/**
 * A simulated agent: the real agent protocol (src/agent/wire.ts) over a real WebSocket, in the
 * harness process. It says hello, sends heartbeats at the period the server asks for, and runs each
 * task.start it receives by spawning the task's command (so the work is real), reporting
 * task.started and task.exited with increasing seqs, as jobhub's agent does from its outbox.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import WebSocket from 'ws';
import type { AgentCommand, AgentReport } from '../../src/agent/protocol.js';
import type { AgentMessage, ServerMessage } from '../../src/agent/wire.js';
import type { NodeInfo } from '../../src/core/types.js';
import { AGENT_TOKEN } from './jobhub.js';

const AGENT_PATH = '/api/v1/agent/connect';
const PROTOCOL_VERSION = 1;

export class SimAgent {
  readonly id = randomUUID();
  readonly instance = randomUUID();
  private ws: WebSocket | undefined;
  private seq = 0;
  private beat: NodeJS.Timeout | undefined;
  private readonly running = new Map<string, ChildProcess>();
  private readonly stopping = new Set<string>();
  started = 0;
  welcomed = false;
  closed = false;
  error: string | undefined;

  constructor(
    private readonly server: string,
    private readonly name: string,
    private readonly slots: number,
  ) {}

  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const url = `${this.server.replace(/^http/, 'ws')}${AGENT_PATH}`;
      const ws = new WebSocket(url, {
        headers: { authorization: `Bearer ${AGENT_TOKEN}` },
        handshakeTimeout: 30_000,
      });
      this.ws = ws;
      const timer = setTimeout(() => reject(new Error(`${this.name}: no welcome in 60s`)), 60_000);
      ws.on('open', () => {
        const info: NodeInfo = {
          id: this.id,
          name: this.name,
          host: os.hostname(),
          addr: { ip: '127.0.0.1', bindAddr: '127.0.0.1', remoteAddr: '' },
          startTime: Math.floor(Date.now() / 1000),
          bootTime: Math.floor(Date.now() / 1000 - os.uptime()),
          role: 'any',
          labels: { sim: 'true' },
          provider: 'sim',
          capacity: { cpus: 2, memoryMb: 1024, slots: this.slots },
        };
        this.send({
          t: 'hello',
          protocol: PROTOCOL_VERSION,
          info,
          instance: this.instance,
          running: [],
          outboxSeq: 0,
        });
      });
      ws.on('message', (data) => {
        let m: ServerMessage;
        try {
          m = JSON.parse(String(data)) as ServerMessage;
        } catch {
          return;
        }
        if (m.t === 'welcome') {
          this.welcomed = true;
          clearTimeout(timer);
          // Heartbeats at the period the server asked for, each agent at its own phase.
          const every = m.heartbeatMs;
          setTimeout(() => {
            if (this.closed) return;
            this.beat = setInterval(() => this.send({ t: 'heartbeat', ts: Date.now() }), every);
          }, Math.random() * every);
          resolve();
        } else if (m.t === 'command') this.onCommand(m.command);
        else if (m.t === 'refused') {
          this.error = m.reason;
          reject(new Error(`${this.name} refused: ${m.reason}`));
        }
      });
      ws.on('error', (err) => {
        this.error = err.message;
        clearTimeout(timer);
        reject(err);
      });
      ws.on('close', () => {
        if (this.beat) clearInterval(this.beat);
      });
    });
  }

  private report(r: AgentReport): void {
    this.seq++;
    this.send({ t: 'report', seq: this.seq, report: r });
  }

  private onCommand(cmd: AgentCommand): void {
    if (cmd.type === 'task.start') {
      const key = `${cmd.ref.jobId}/${cmd.ref.taskId}/${cmd.ref.attempt}`;
      const t = cmd.task;
      const child =
        t.driver === 'shell'
          ? spawn('sh', ['-c', t.command], { stdio: 'ignore' })
          : spawn(t.command, t.args, { stdio: 'ignore' });
      this.running.set(key, child);
      this.started++;
      child.on('spawn', () =>
        this.report({ type: 'task.started', ref: cmd.ref, ts: Date.now(), pid: child.pid ?? 0 }),
      );
      child.on('error', (err) => {
        this.running.delete(key);
        this.report({
          type: 'task.exited',
          ref: cmd.ref,
          ts: Date.now(),
          outcome: 'start_error',
          exitCode: null,
          signal: null,
          text: err.message,
        });
      });
      child.on('exit', (code, signal) => {
        if (!this.running.delete(key)) return;
        this.report({
          type: 'task.exited',
          ref: cmd.ref,
          ts: Date.now(),
          outcome: this.stopping.delete(key) ? 'stopped' : code === 0 ? 'succeeded' : 'failed',
          exitCode: code,
          signal,
          text: code === null ? `killed by ${signal}` : `exit code ${code}`,
        });
      });
    } else if (cmd.type === 'task.stop') {
      const key = `${cmd.ref.jobId}/${cmd.ref.taskId}/${cmd.ref.attempt}`;
      const child = this.running.get(key);
      if (child) {
        this.stopping.add(key);
        child.kill('SIGKILL');
      }
    } else if (cmd.type === 'job.cleanup') {
      this.report({ type: 'job.cleaned', jobId: cmd.jobId, ts: Date.now(), killed: 0 });
    }
  }

  private send(m: AgentMessage): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(m));
  }

  close(): void {
    this.closed = true;
    if (this.beat) clearInterval(this.beat);
    for (const c of this.running.values()) c.kill('SIGKILL');
    this.ws?.terminate();
  }
}
