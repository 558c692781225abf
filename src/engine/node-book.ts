/**
 * The coordinator's view of the nodes its jobs use: their records (cached from the store) and how
 * many active tasks each runs, so that a node turns `busy` with its first task and `idle` after its
 * last, in the same transaction as the task change that caused it.
 */
import type { NodeRecord, Store } from '../store/store.js';
import type { ChangeBuilder } from './change-builder.js';

/** How many tasks per slot a node is sent at most (see isFull). */
const PREFETCH = 2;

export class NodeBook {
  private readonly records = new Map<string, NodeRecord>();
  private readonly active = new Map<string, number>();
  /** Jobs with a task waiting for a free slot on a node, first come first served. */
  private readonly waiting = new Map<string, Set<number>>();

  constructor(private readonly store: Store) {}

  get(id: string): NodeRecord | undefined {
    return this.records.get(id);
  }

  /** The node's record, read from the store the first time. */
  async load(id: string): Promise<NodeRecord | undefined> {
    const known = this.records.get(id);
    if (known) return known;
    const node = await this.store.getNode(id);
    if (node) this.records.set(id, node);
    return node;
  }

  /** A fresher record (after a registration). */
  put(node: NodeRecord): void {
    this.records.set(node.id, node);
  }

  activeTasks(id: string): number {
    return this.active.get(id) ?? 0;
  }

  /**
   * Whether the node has as many tasks as it takes (counting this decision's starts). A node with
   * `slots` takes twice that: the agent runs `slots` at once and keeps the rest waiting, so that a
   * freed slot is filled at once, without a round trip to the server.
   */
  isFull(id: string, b: ChangeBuilder): boolean {
    const slots = this.records.get(id)?.info.capacity.slots ?? 0;
    return slots > 0 && this.activeTasks(id) + (b.activeDelta.get(id) ?? 0) >= slots * PREFETCH;
  }

  /** Remembers a job to wake when the node has a free slot. */
  wait(id: string, jobId: number): void {
    const set = this.waiting.get(id) ?? new Set<number>();
    set.add(jobId);
    this.waiting.set(id, set);
  }

  /** Sets the counts from scratch (when the coordinator resumes its jobs). */
  recount(counts: Map<string, number>): void {
    this.active.clear();
    for (const [id, n] of counts) this.active.set(id, n);
  }

  /**
   * Applies a decision's task activity to the counts and adds the busy/idle transitions it causes.
   * Call after the decision's task changes, before its commit. Draining, down and left nodes keep
   * their state. Returns the jobs to wake: waiting for slots that this decision freed.
   */
  settle(b: ChangeBuilder): number[] {
    const wake: number[] = [];
    for (const [id, delta] of b.activeDelta) {
      const before = this.activeTasks(id);
      const after = Math.max(0, before + delta);
      this.active.set(id, after);
      const waiting = this.waiting.get(id);
      if (delta < 0 && waiting) {
        for (const jobId of waiting) {
          if (wake.length >= -delta) break;
          waiting.delete(jobId);
          wake.push(jobId);
        }
      }
      const node = this.records.get(id);
      if (!node) continue;
      if (node.state === 'idle' && after > 0) b.node(node, 'busy');
      else if (node.state === 'busy' && after === 0) b.node(node, 'idle');
    }
    b.activeDelta.clear();
    return wake;
  }
}
