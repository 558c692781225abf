/**
 * Runs async work one item at a time, in order. The coordinator's state changes go through one
 * queue, so each decision sees the effects of the one before it, and its writes reach the store in
 * the order they were decided.
 */
export class SerialQueue {
  private tail: Promise<void> = Promise.resolve();
  private pending = 0;

  run<T>(work: () => Promise<T>): Promise<T> {
    this.pending++;
    const result = this.tail.then(work);
    this.tail = result.then(
      () => {
        this.pending--;
      },
      () => {
        this.pending--;
      },
    );
    return result;
  }

  get size(): number {
    return this.pending;
  }

  /** Resolves when everything queued so far has run. */
  idle(): Promise<void> {
    return this.tail;
  }
}
