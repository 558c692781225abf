/**
 * The API's way to change jobs and nodes. On the replica that holds the scheduling lease, the
 * coordinator does it. On another replica, a new job is created in the store and the lease holder
 * is told to take it up; a stop or a drain is asked of the lease holder, and the answer waits until
 * the store shows it done. Only the lease holder ever writes a job's or node's state.
 */
import { ConflictError, JobhubError, NotFoundError } from '../core/errors.js';
import type { Coordinator } from '../engine/coordinator.js';
import { createJob, type SubmitInput } from '../engine/job-factory.js';
import { isJobTerminal } from '../engine/job-state.js';
import type { JobRecord, NodeRecord, Store } from '../store/store.js';
import type { ClusterLink } from './cluster-link.js';
import { lockSnapshot } from './lock-view.js';

export type ControlOp =
  | { op: 'adopt'; jobId: number }
  | { op: 'stop'; jobId: number; reason: string; force: boolean }
  | { op: 'drain'; nodeId: string; on: boolean }
  | { op: 'node'; nodeId: string }
  | { op: 'release'; jobId: number }
  | { op: 'locks' }
  | { op: 'break'; name: string; by: string };

export interface ControlPlaneOptions {
  store: Store;
  link: ClusterLink;
  leader: () => Coordinator | undefined;
  now: () => number;
  /** How long a forwarded request waits for the lease holder. Default 10s. */
  forwardTimeoutMs?: number;
  /** Refuses a submission before any job is made (a backend label naming no backend). Default: none. */
  checkSubmit?: (input: SubmitInput) => Promise<void>;
}

export class ControlPlane {
  constructor(private readonly opts: ControlPlaneOptions) {}

  async submit(input: SubmitInput): Promise<JobRecord> {
    await this.opts.checkSubmit?.(input);
    const c = this.opts.leader();
    if (c) return c.submit(input);
    const detail = await createJob(this.opts.store, input, this.opts.now());
    await this.forward({ op: 'adopt', jobId: detail.job.id });
    return detail.job;
  }

  async retry(jobId: number, submitter?: string | null): Promise<JobRecord> {
    const job = await this.opts.store.getJob(jobId);
    if (!job) throw new NotFoundError(`job ${jobId}`);
    return this.submit({
      spec: job.spec,
      rawSpec: job.rawSpec,
      retryOf: job.id,
      owner: job.owner,
      submitter: submitter ?? job.submitter,
    });
  }

  async requestStop(jobId: number, reason: string, opts: { force?: boolean } = {}): Promise<void> {
    const c = this.opts.leader();
    if (c) return c.requestStop(jobId, reason, opts);
    const job = await this.opts.store.getJob(jobId);
    if (!job) throw new NotFoundError(`job ${jobId}`);
    if (isJobTerminal(job.status))
      throw new ConflictError(`job ${jobId} is already ${job.status}`, { status: job.status });
    await this.forward({ op: 'stop', jobId, reason, force: opts.force === true });
    await this.until(async () => {
      const j = await this.opts.store.getJob(jobId);
      return j && (j.stopRequested || isJobTerminal(j.status)) ? true : undefined;
    });
  }

  /** Releases a held job (see Coordinator.release); the answer waits until the store shows it. */
  async release(jobId: number): Promise<JobRecord> {
    const c = this.opts.leader();
    if (c) return c.release(jobId);
    const job = await this.opts.store.getJob(jobId);
    if (!job) throw new NotFoundError(`job ${jobId}`);
    if (!job.held)
      throw new ConflictError(`job ${jobId} is not held (released already)`, { status: job.status });
    await this.forward({ op: 'release', jobId });
    return this.until(async () => {
      const j = await this.opts.store.getJob(jobId);
      return j && !j.held ? j : undefined;
    });
  }

  async setDraining(nodeId: string, draining: boolean): Promise<NodeRecord> {
    const c = this.opts.leader();
    if (c) return c.setDraining(nodeId, draining);
    const node = await this.opts.store.getNode(nodeId);
    if (!node) throw new NotFoundError(`node ${nodeId}`);
    if (node.state === 'down' || node.state === 'left') {
      throw new ConflictError(`node ${nodeId} is ${node.state}`, { state: node.state });
    }
    await this.forward({ op: 'drain', nodeId, on: draining });
    return this.until(async () => {
      const n = await this.opts.store.getNode(nodeId);
      return n && (n.state === 'draining') === draining ? n : undefined;
    });
  }

  /** The declared locks changed in the store: the lease holder reads them again. */
  async locksDeclared(): Promise<void> {
    const c = this.opts.leader();
    if (c) return c.locksDeclared();
    await this.forward({ op: 'locks' });
  }

  /**
   * Breaks a lock: its holders hold it no more. Returns the jobs that held it (on another replica
   * than the lease holder, once the store shows their `lock.broken` events).
   */
  async breakLock(name: string, by: string): Promise<number[]> {
    const c = this.opts.leader();
    if (c) return c.breakLock(name, by);
    const lock = (await lockSnapshot(this.opts.store, () => true)).find((l) => l.name === name);
    const holders = (lock?.holders ?? []).map((h) => h.jobId ?? 0);
    const since = await this.opts.store.lastEventSeq();
    await this.forward({ op: 'break', name, by });
    if (holders.length === 0) return [];
    return this.until(async () => {
      const events = await this.opts.store.listEvents({ types: ['lock.broken'], afterSeq: since });
      const broken = events.filter((e) => e.data?.lock === name).map((e) => e.jobId ?? 0);
      return holders.every((h) => broken.includes(h)) ? broken : undefined;
    });
  }

  /** On the lease holder: carries out what another replica asked. */
  async handle(op: ControlOp, c: Coordinator): Promise<void> {
    switch (op.op) {
      case 'adopt':
        return c.adopt(op.jobId);
      case 'stop':
        return c.requestStop(op.jobId, op.reason, { force: op.force }).catch(() => {});
      case 'drain':
        await c.setDraining(op.nodeId, op.on).catch(() => {});
        return;
      case 'release':
        await c.release(op.jobId).catch(() => {});
        return;
      case 'locks':
        return c.locksDeclared();
      case 'break':
        await c.breakLock(op.name, op.by);
        return;
      case 'node': {
        const node = await this.opts.store.getNode(op.nodeId);
        if (node) await c.nodeConnected(node);
        return;
      }
    }
  }

  private forward(op: ControlOp): Promise<void> {
    return this.opts.link.notify('control', JSON.stringify(op));
  }

  private async until<T>(check: () => Promise<T | undefined>): Promise<T> {
    const deadline = this.opts.now() + (this.opts.forwardTimeoutMs ?? 10_000);
    for (;;) {
      const v = await check();
      if (v !== undefined) return v;
      if (this.opts.now() > deadline) {
        throw new JobhubError(
          'unavailable',
          'no server replica holding the scheduling lease answered; try again',
        );
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}
