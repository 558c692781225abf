import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalAgent, type LocalAgentOptions } from '../../src/agent/local-agent.js';
import type { AgentReport, AttemptRef, LogLine, ResolvedTask } from '../../src/agent/protocol.js';

export type Exited = Extract<AgentReport, { type: 'task.exited' }>;
export type Started = Extract<AgentReport, { type: 'task.started' }>;

let counter = 0;

/**
 * A LocalAgent over a fresh temporary work root, recording every report. Tests wait on reports
 * (promises resolved from the sink), never on sleeps.
 */
export class Harness {
  readonly reports: AgentReport[] = [];
  readonly nodeId: string;
  readonly agent: LocalAgent;
  readonly jobId: number;
  private taskId = 0;
  private waiters: Array<{ match: (r: AgentReport) => boolean; resolve: (r: AgentReport) => void }> = [];

  private constructor(
    readonly workRoot: string,
    opts: Partial<LocalAgentOptions>,
  ) {
    counter++;
    // Unique per test process and harness, so reaper prefixes of parallel tests never overlap.
    this.nodeId = `t${process.pid}-${counter}`;
    this.jobId = counter;
    this.agent = new LocalAgent({
      nodeId: this.nodeId,
      workRoot,
      sink: (nodeId, report) => this.onReport(nodeId, report),
      ...opts,
    });
  }

  static async create(opts: Partial<LocalAgentOptions> = {}): Promise<Harness> {
    const root = await mkdtemp(join(tmpdir(), 'jobhub-agent-'));
    return new Harness(root, opts);
  }

  get jobDir(): string {
    return join(this.workRoot, `job-${this.jobId}`);
  }

  /** Tag prefix of every process of this harness's job. */
  get jobPrefix(): string {
    return `${this.nodeId}/${this.jobId}/`;
  }

  async dispose(): Promise<void> {
    await this.agent.stop(500);
    await rm(this.workRoot, { recursive: true, force: true });
  }

  /** Starts a task; returns its ref. */
  start(task: Partial<ResolvedTask> & Pick<ResolvedTask, 'command'>, ref?: Partial<AttemptRef>): AttemptRef {
    const full: AttemptRef = { jobId: this.jobId, taskId: ++this.taskId, attempt: 1, ...ref };
    this.agent.send({
      type: 'task.start',
      ref: full,
      task: {
        driver: 'shell',
        args: [],
        env: {},
        workingDir: '',
        label: `stage/node/task${full.taskId}`,
        longRunning: false,
        ...task,
      },
    });
    return full;
  }

  stopTask(ref: AttemptRef, reason = 'test', graceMs = 1000): void {
    this.agent.send({ type: 'task.stop', ref, reason, graceMs });
  }

  /** Resolves with the first report (past or future) that matches. */
  waitFor(match: (r: AgentReport) => boolean, what = 'report'): Promise<AgentReport> {
    const seen = this.reports.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter = { match, resolve };
      this.waiters.push(waiter);
      // Only a failure message for a hang; the test's own timeout would fire anyway.
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(
          new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.reports.filter(isStatus))}`),
        );
      }, 20_000);
      waiter.resolve = (r) => {
        clearTimeout(timer);
        resolve(r);
      };
    });
  }

  async exited(ref: AttemptRef): Promise<Exited> {
    return (await this.waitFor(
      (r) => r.type === 'task.exited' && sameRef(r.ref, ref),
      'task.exited',
    )) as Exited;
  }

  async started(ref: AttemptRef): Promise<Started> {
    return (await this.waitFor(
      (r) => r.type === 'task.started' && sameRef(r.ref, ref),
      'task.started',
    )) as Started;
  }

  async ready(ref: AttemptRef): Promise<void> {
    await this.waitFor((r) => r.type === 'task.ready' && sameRef(r.ref, ref), 'task.ready');
  }

  /** Waits for a log line of `ref` that satisfies `match`. */
  async line(ref: AttemptRef, match: (l: LogLine) => boolean): Promise<LogLine> {
    const report = await this.waitFor(
      (r) => r.type === 'log' && r.lines.some((l) => sameRef(l.ref, ref) && match(l)),
      'log line',
    );
    if (report.type !== 'log') throw new Error('unreachable');
    const found = report.lines.find((l) => sameRef(l.ref, ref) && match(l));
    if (!found) throw new Error('unreachable');
    return found;
  }

  /** Every log line of `ref` received so far, in arrival order. */
  lines(ref: AttemptRef): LogLine[] {
    return this.reports.flatMap((r) => (r.type === 'log' ? r.lines.filter((l) => sameRef(l.ref, ref)) : []));
  }

  texts(ref: AttemptRef, stream?: LogLine['stream']): string[] {
    return this.lines(ref)
      .filter((l) => stream === undefined || l.stream === stream)
      .map((l) => l.text);
  }

  statuses(ref: AttemptRef): string[] {
    return this.reports.filter((r) => 'ref' in r && sameRef(r.ref, ref)).map((r) => r.type);
  }

  private onReport(nodeId: string, report: AgentReport): void {
    if (nodeId !== this.nodeId) throw new Error(`report from ${nodeId}`);
    this.reports.push(report);
    for (const waiter of [...this.waiters]) {
      if (waiter.match(report)) {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        waiter.resolve(report);
      }
    }
  }
}

function isStatus(r: AgentReport): boolean {
  return r.type !== 'log';
}

export function sameRef(a: AttemptRef, b: AttemptRef): boolean {
  return a.jobId === b.jobId && a.taskId === b.taskId && a.attempt === b.attempt;
}

/**
 * True when `pid` no longer runs: /proc/<pid> is gone, or only a zombie is left (an orphan whose
 * parent, the container's init, has not reaped it yet; it runs nothing and holds nothing).
 */
export function isGone(pid: number): boolean {
  if (!existsSync(`/proc/${pid}`)) return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The state follows the parenthesised command name, which may itself contain spaces or parens.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'Z' || state === 'X';
  } catch {
    return true;
  }
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
