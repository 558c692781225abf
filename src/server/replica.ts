/**
 * One server's part in a cluster of replicas: it competes for the scheduling lease; while it holds
 * it, it runs the coordinator (resumed from the store), the node watchdog and, with replicas, the
 * inbox of agent reports and the requests of other replicas. It loses the lease when its lease
 * connection fails, and stops its coordinator at once. A coordinator that failed (its memory may be
 * ahead of the store) is replaced by a new one resumed from the store. Every replica relays the
 * store's change notifications to its own event bus, so its API streams see what any replica wrote.
 */
import type { AgentCommand, AgentReport } from '../agent/protocol.js';
import type { Coordinator } from '../engine/coordinator.js';
import type { EventBus } from '../engine/event-bus.js';
import type { Store } from '../store/store.js';
import type { AgentGateway, ReconcileRequest } from './agent-gateway.js';
import type { ClusterLink, PgLink } from './cluster-link.js';
import type { ControlOp, ControlPlane } from './control-plane.js';

export interface ReplicaOptions {
  store: Store;
  bus: EventBus;
  link: ClusterLink;
  gateway: AgentGateway;
  control: () => ControlPlane;
  mode: 'direct' | 'inbox';
  makeCoordinator: () => Coordinator;
  log: (line: string) => void;
  /** How often a replica without the lease tries for it, and the holder checks it. Default 1s. */
  leaseCheckMs?: number;
  /** Called once the coordinator resumed its jobs (backends take their runs up). Default: nothing. */
  onLead?: (c: Coordinator) => Promise<void>;
}

export class Replica {
  private coordinator: Coordinator | undefined;
  private timers: NodeJS.Timeout[] = [];
  private busy = false;
  private draining = false;
  private lastSeq = 0;
  private stopped = false;
  /** Set when the running coordinator failed: the next tick replaces it. */
  private failedWith: { err: unknown } | undefined;

  constructor(private readonly opts: ReplicaOptions) {}

  leader(): Coordinator | undefined {
    return this.coordinator;
  }

  async start(): Promise<void> {
    await this.opts.link.listen('control', (payload) => {
      const c = this.coordinator;
      if (c)
        void this.opts
          .control()
          .handle(JSON.parse(payload) as ControlOp, c)
          .catch((e: unknown) => this.opts.log(String(e)));
    });
    if (this.opts.mode === 'inbox') {
      await this.relayStoreNotifications();
      this.timers.push(setInterval(() => void this.drainInbox(), 250));
    }
    await this.tick();
    this.timers.push(setInterval(() => void this.tick(), this.opts.leaseCheckMs ?? 1000));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.stepDown('server stopping');
    await this.opts.link.releaseLease();
  }

  private async tick(): Promise<void> {
    if (this.busy || this.stopped) return;
    this.busy = true;
    try {
      if (this.coordinator && this.failedWith) {
        const why = String(this.failedWith.err);
        await this.stepDown(`the coordinator failed (${why}); taking the jobs up again`);
      }
      if (this.coordinator) {
        if (!(await this.opts.link.holdsLease())) await this.stepDown('lost the scheduling lease');
        else await this.sweep();
      } else if (await this.opts.link.tryLease()) {
        await this.become();
      }
    } catch (err) {
      this.opts.log(`lease: ${String(err)}`);
    } finally {
      this.busy = false;
    }
  }

  private async become(): Promise<void> {
    const c = this.opts.makeCoordinator();
    this.coordinator = c;
    this.failedWith = undefined;
    void c.whenFailed().then((err) => {
      if (this.coordinator !== c) return;
      this.failedWith = { err };
      void this.tick();
    });
    this.opts.gateway.startWatching();
    let resumed: number[];
    try {
      resumed = await c.resume();
      await this.opts.onLead?.(c);
      // Nodes whose agent came back while no replica was scheduling: live again.
      for (const n of await this.opts.store.listNodes()) {
        if (n.state === 'down' && Date.now() - n.lastSeenAt < this.opts.gateway.heartbeatTimeoutMs)
          await c.nodeConnected(n);
      }
    } catch (err) {
      await this.stepDown(`taking the jobs up failed: ${String(err)}`);
      throw err;
    }
    if (this.opts.mode === 'inbox') {
      this.opts.log(`holding the scheduling lease; resumed ${resumed.length} active job(s)`);
      // Commands the last lease holder committed may never have reached their agents (it died before
      // its notification went out, or that failed): every agent with work reconciles again.
      this.opts.gateway.reconcileAgents(c.nodesWithActiveTasks());
      await this.drainInbox();
    } else if (resumed.length > 0) {
      this.opts.log(`resumed ${resumed.length} active job(s): ${resumed.join(', ')}`);
    }
  }

  private async stepDown(why: string): Promise<void> {
    const c = this.coordinator;
    if (!c) return;
    this.coordinator = undefined;
    this.failedWith = undefined;
    this.opts.log(`no longer scheduling: ${why}`);
    await c.close();
  }

  /** Jobs another replica (or a coordinator that failed since) created whose notice got lost: taken up here. */
  private async sweep(): Promise<void> {
    const c = this.coordinator;
    if (!c) return;
    const mine = new Set(c.activeJobIds());
    for (const id of await this.opts.store.listActiveJobIds()) if (!mine.has(id)) await c.adopt(id);
  }

  /** Applies the inbox in order: agent reports, and reconciliations of reconnected agents. */
  private async drainInbox(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      for (;;) {
        const c = this.coordinator;
        if (!c) return;
        const items = await this.opts.store.takeReports(0, 500);
        if (items.length === 0) return;
        const marks = new Map<string, number>();
        for (const item of items) {
          const body = item.body as AgentReport | ReconcileRequest;
          if (body.type === 'reconcile') {
            const cmds: AgentCommand[] = await c.reconcile(item.nodeId, body.instance, body.running);
            this.opts.gateway.deliverReconciled(item.nodeId, body.instance, cmds);
          } else {
            await c.handleReport(item.nodeId, body);
          }
          if (item.seq !== null) marks.set(item.nodeId, Math.max(marks.get(item.nodeId) ?? 0, item.seq));
        }
        await this.opts.store.finishReports(
          items.map((i) => i.id),
          [...marks].map(([nodeId, seq]) => ({ nodeId, seq })),
        );
      }
    } catch (err) {
      this.opts.log(`inbox: ${String(err)}`);
    } finally {
      this.draining = false;
    }
  }

  /** What any replica commits reaches this replica's event bus (API streams wake on it). */
  private async relayStoreNotifications(): Promise<void> {
    const link = this.opts.link as PgLink;
    this.lastSeq = await this.opts.store.lastEventSeq();
    // What this replica commits its writers publish at once: those events need no reading back.
    const seen = new PublishedSeqs();
    this.opts.bus.subscribe((m) => {
      if (m.kind === 'events') seen.add(m.events);
    });
    let reading = false;
    let again = false;
    /** The largest seq announced: every event up to it is committed. */
    let announced = this.lastSeq;
    const readEvents = async () => {
      if (reading) {
        again = true;
        return;
      }
      reading = true;
      try {
        do {
          again = false;
          for (;;) {
            this.lastSeq = seen.advance(this.lastSeq);
            if (this.lastSeq >= announced) break;
            const events = await this.opts.store.listEvents({ afterSeq: this.lastSeq, limit: 1000 });
            if (events.length === 0) break;
            this.lastSeq = events[events.length - 1]?.seq ?? this.lastSeq;
            this.opts.bus.publish({ kind: 'events', events });
          }
        } while (again);
      } finally {
        reading = false;
      }
    };
    await link.listenRaw('jobhub_events', (payload) => {
      // The payload is the largest seq the committing transaction appended (older servers: none).
      const seq = Number(payload);
      announced = Number.isSafeInteger(seq) && seq > 0 ? Math.max(announced, seq) : Number.MAX_SAFE_INTEGER;
      void readEvents().catch(() => {});
    });
    await link.listenRaw('jobhub_inbox', () => void this.drainInbox());
    await link.listenRaw('jobhub_logs', (payload) => {
      // A wake-up for log streams: they read the lines from the store themselves.
      try {
        const m = JSON.parse(payload) as { jobId: number; taskIds: number[] };
        const ts = Date.now();
        this.opts.bus.publish({
          kind: 'logs',
          lines: m.taskIds.map((taskId) => ({
            jobId: m.jobId,
            taskId,
            attempt: 0,
            seq: 0,
            ts,
            stream: 'system',
            text: '',
          })),
        });
      } catch {
        // not ours
      }
    });
  }
}

/**
 * The seqs of events published on this replica's bus, as runs of consecutive seqs. Event seqs are
 * drawn in commit order across replicas (see the store's event log), so once the events after the
 * relay's position are all among them, nothing in between can be missing: the relay moves past them
 * without reading them back from the store.
 */
class PublishedSeqs {
  /** First seq of a run → its last seq. */
  private readonly runs = new Map<number, number>();

  add(events: readonly { seq: number }[]): void {
    let first: number | undefined;
    let last = 0;
    for (const e of events) {
      if (first !== undefined && e.seq === last + 1) {
        last = e.seq;
        continue;
      }
      if (first !== undefined) this.put(first, last);
      first = e.seq;
      last = e.seq;
    }
    if (first !== undefined) this.put(first, last);
  }

  /** The relay's new position: past every run that continues from `from`. */
  advance(from: number): number {
    let at = from;
    for (let end = this.runs.get(at + 1); end !== undefined; end = this.runs.get(at + 1)) {
      this.runs.delete(at + 1);
      at = Math.max(at, end);
    }
    if (this.runs.size > 10_000) for (const [first, end] of this.runs) if (end <= at) this.runs.delete(first);
    return at;
  }

  private put(first: number, last: number): void {
    this.runs.set(first, Math.max(last, this.runs.get(first) ?? 0));
  }
}
