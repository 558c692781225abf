/**
 * Rate limiting per API token: a token bucket per key (a token's id; a client address for requests
 * whose token is unknown), refilled at `perSecond` and holding at most `burst`. Buckets live in
 * this process: each replica limits what it serves. Full buckets are dropped after a while, so a
 * server seeing many tokens keeps only the busy ones.
 */

export interface RateLimitOptions {
  /** Requests a key may make per second, sustained. 0 turns limiting off. Default 200. */
  perSecond?: number;
  /** Requests a key may make at once after being idle. Default 2 × perSecond (at least 1). */
  burst?: number;
  /** The clock, in ms (tests). Default Date.now. */
  now?: () => number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export const DEFAULT_RATE_PER_SECOND = 200;

/** Buckets kept before full ones are swept. */
const SWEEP_AT = 10_000;

export class RateLimiter {
  readonly perSecond: number;
  readonly burst: number;
  private readonly now: () => number;
  private readonly buckets = new Map<string, Bucket>();

  constructor(opts: RateLimitOptions = {}) {
    this.perSecond = opts.perSecond ?? DEFAULT_RATE_PER_SECOND;
    this.burst = Math.max(1, opts.burst ?? this.perSecond * 2);
    this.now = opts.now ?? Date.now;
  }

  get enabled(): boolean {
    return this.perSecond > 0;
  }

  /**
   * Takes one request from the key's bucket. Returns 0 when it may go ahead, else the ms to wait
   * before the next request would be allowed.
   */
  take(key: string): number {
    if (!this.enabled) return 0;
    const now = this.now();
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= SWEEP_AT) this.sweep(now);
      b = { tokens: this.burst, at: now };
      this.buckets.set(key, b);
    } else {
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) * this.perSecond) / 1000);
      b.at = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - b.tokens) * 1000) / this.perSecond);
  }

  /** Drops the buckets that have refilled: they hold nothing a new bucket would not. */
  private sweep(now: number): void {
    for (const [key, b] of this.buckets) {
      if (b.tokens + ((now - b.at) * this.perSecond) / 1000 >= this.burst) this.buckets.delete(key);
    }
  }
}
