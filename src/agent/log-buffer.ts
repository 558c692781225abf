import type { LogLine } from './protocol.js';

export interface LogBufferOptions {
  /** Longest a line waits before it is delivered. Default 50 ms. */
  flushMs?: number;
  /** Deliver at once when this many lines are waiting. Default 1000. */
  maxLines?: number;
}

/**
 * Batches log lines so that a chatty process costs one report per batch rather than one per line.
 * A batch goes out when the oldest waiting line is `flushMs` old, when `maxLines` are waiting, or
 * when `flush()` is called (the agent does so before every status report, to keep lines ahead of it).
 */
export class LogBuffer {
  private lines: LogLine[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly flushMs: number;
  private readonly maxLines: number;

  constructor(
    private readonly deliver: (lines: LogLine[]) => void,
    opts: LogBufferOptions = {},
  ) {
    this.flushMs = opts.flushMs ?? 50;
    this.maxLines = opts.maxLines ?? 1000;
  }

  add(line: LogLine): void {
    this.lines.push(line);
    if (this.lines.length >= this.maxLines) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.flushMs);
  }

  /** Delivers every waiting line now. Does nothing when none wait. */
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.lines.length === 0) return;
    const batch = this.lines;
    // Swap before delivering: a deliver that logs again must not see (or resend) this batch.
    this.lines = [];
    this.deliver(batch);
  }

  get size(): number {
    return this.lines.length;
  }
}
