/**
 * Runs backend jobs for the coordinator. A backend job's one task is placed on the node
 * `backend:<id>`; the coordinator sends that node commands as it would an agent, and this hub
 * answers like an agent: it submits the job to the backend, keeps the identification keys and how
 * much output it read in the store, polls status and output, stops on request, and reports
 * `task.exited` through the coordinator's report path. So locks, stop, logs, events and the APIs work
 * unchanged. The hub runs on the replica that holds the scheduling lease; a new lease holder (or a
 * restarted server) takes the runs up from the stored keys: it polls, it does not submit again.
 */
import type { AgentCommand, AgentEndpoint, AttemptRef } from '../agent/protocol.js';
import type { AgentRegistry, Coordinator } from '../engine/coordinator.js';
import type { EventBus } from '../engine/event-bus.js';
import type { Store } from '../store/store.js';
import { type BackendRegistry, backendIdOfNode } from './backend.js';
import type { HookTokens } from './hook-tokens.js';
import { BackendRunLoop, exited, report } from './run-loop.js';

/** The "agent instance" of every backend node: constant, so a new lease holder takes runs up. */
const INSTANCE = 'backend';

export interface BackendHubOptions {
  store: Store;
  registry: BackendRegistry;
  bus: EventBus;
  hookTokens: HookTokens;
  /** The URL backends reach this server at (hooks, input files). */
  baseUrl: () => string;
  /** Whether `c` still holds the scheduling lease: a run stops reporting when it does not. */
  isLeader: (c: Coordinator) => boolean;
  log: (line: string) => void;
  /** Default Date.now. */
  now?: () => number;
}

const refKey = (r: AttemptRef) => `${r.jobId}/${r.taskId}/${r.attempt}`;

export class BackendHub {
  private coordinator: Coordinator | undefined;
  private readonly runs = new Map<string, BackendRunLoop>();

  constructor(private readonly opts: BackendHubOptions) {}

  /** The registry the coordinator sends commands through: backend nodes here, the rest to `agents`. */
  wrap(agents: AgentRegistry): AgentRegistry {
    return {
      get: (nodeId: string): AgentEndpoint | undefined =>
        backendIdOfNode(nodeId) === undefined
          ? agents.get(nodeId)
          : { nodeId, instance: INSTANCE, send: (cmd) => this.command(nodeId, cmd) },
    };
  }

  /** A new coordinator: the runs of the one before it (if any) end here (they stop reporting). */
  attach(c: Coordinator): void {
    this.closeRuns();
    this.coordinator = c;
  }

  /**
   * After the coordinator resumed its jobs: the tasks it has running on backends are taken up
   * (reconciled like an agent that reconnects; each run finds its keys in the store).
   */
  async lead(c: Coordinator): Promise<void> {
    const nodes = new Set<string>();
    for (const id of c.activeJobIds()) {
      const detail = await this.opts.store.getJobDetail(id);
      for (const t of detail?.tasks ?? []) {
        if (t.nodeId && backendIdOfNode(t.nodeId) !== undefined) nodes.add(t.nodeId);
      }
    }
    for (const nodeId of nodes) {
      for (const cmd of await c.reconcile(nodeId, INSTANCE, [])) this.command(nodeId, cmd);
    }
  }

  /** Ends every run here (they keep going on their backends; the next lease holder takes them up). */
  closeRuns(): void {
    for (const r of this.runs.values()) r.close();
    this.runs.clear();
  }

  private command(nodeId: string, cmd: AgentCommand): void {
    const c = this.coordinator;
    if (!c) return;
    const backendId = backendIdOfNode(nodeId) ?? '';
    switch (cmd.type) {
      case 'task.start': {
        const key = refKey(cmd.ref);
        if (this.runs.has(key)) return;
        const run = new BackendRunLoop(this.opts, c, nodeId, backendId, cmd.ref);
        this.runs.set(key, run);
        void run
          .go()
          .catch((err: unknown) =>
            this.opts.log(`backend ${backendId}: job ${cmd.ref.jobId}: ${String(err)}`),
          )
          .finally(() => {
            if (this.runs.get(key) === run) this.runs.delete(key);
          });
        return;
      }
      case 'task.stop': {
        const run = this.runs.get(refKey(cmd.ref));
        if (run) run.requestStop(cmd.graceMs === 0, cmd.reason);
        else
          void report(this.opts, c, nodeId, exited(cmd.ref, 'stopped', `stopped: ${cmd.reason}`, this.now()));
        return;
      }
      case 'job.cleanup': {
        for (const run of this.runs.values())
          if (run.ref.jobId === cmd.jobId) run.requestStop(true, 'job ended');
        void report(this.opts, c, nodeId, {
          type: 'job.cleaned',
          jobId: cmd.jobId,
          ts: this.now(),
          killed: 0,
        });
        return;
      }
    }
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }
}
