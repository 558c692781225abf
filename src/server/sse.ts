/**
 * Server-Sent Events: the stream behind every `follow` of the API.
 *
 * `SseStream` takes the raw response over from Fastify (`reply.hijack()`), writes frames with
 * backpressure, sends a heartbeat comment, and cleans up when the client goes. After the hijack
 * nothing may throw into Fastify: every failure ends the stream instead.
 *
 * `followStore` is the one way a stream is fed: what the store holds after the last id sent, then
 * more each time the bus says something relevant was committed. It subscribes to the bus *before*
 * reading anything, and reads the store again (after the last id sent) on each wake-up rather than
 * trusting the bus payload, so the stored backlog and the live part meet without a gap or a double,
 * in id order, whatever order notifications come in.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { BusMessage, EventBus } from '../engine/event-bus.js';

export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  // The connection ends with the stream (see close()): said up front, so that no client sends its
  // next request on it (a pooled keep-alive socket would fail with "other side closed").
  connection: 'close',
  'x-accel-buffering': 'no',
} as const;

export const DEFAULT_HEARTBEAT_MS = 15_000;

/** Whether a request asks for a stream: `follow=true` or `Accept: text/event-stream`. */
export function wantsStream(req: FastifyRequest, follow: boolean | undefined): boolean {
  return follow === true || (req.headers.accept ?? '').includes('text/event-stream');
}

/** Open streams, so that closing the server can end them (they would hold `close()` up). */
export class SseRegistry {
  private readonly open = new Set<SseStream>();

  add(s: SseStream): void {
    this.open.add(s);
    s.onClose(() => this.open.delete(s));
  }

  closeAll(): void {
    for (const s of [...this.open]) s.close();
  }

  get size(): number {
    return this.open.size;
  }
}

export class SseStream {
  private closedFlag = false;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly closeHandlers: Array<() => void> = [];

  private constructor(
    private readonly res: ServerResponse,
    heartbeatMs: number,
  ) {
    res.on('close', () => this.cleanup());
    res.on('error', () => this.cleanup());
    this.heartbeat = setInterval(() => this.comment('heartbeat'), heartbeatMs);
    this.heartbeat.unref();
  }

  /** Takes the response over and sends the headers. */
  static open(reply: FastifyReply, opts: { heartbeatMs?: number; retryMs?: number } = {}): SseStream {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, SSE_HEADERS);
    const stream = new SseStream(res, opts.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
    // Tells EventSource clients how soon to reconnect; also gets the headers out at once.
    stream.write(`retry: ${opts.retryMs ?? 1000}\n\n`);
    return stream;
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  onClose(fn: () => void): void {
    if (this.closedFlag) fn();
    else this.closeHandlers.push(fn);
  }

  /** Sends one event; waits while the client's buffer is full. Resolves false once the stream is closed. */
  async send(id: number | undefined, event: string, data: unknown): Promise<boolean> {
    const frame = `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    if (!this.write(frame)) await this.drained();
    return !this.closedFlag;
  }

  comment(text: string): void {
    this.write(`: ${text.replace(/\n/g, ' ')}\n\n`);
  }

  /**
   * Ends the response (the client sees the stream end), then the connection: a stream is not
   * followed by another request on it, and an idle keep-alive socket would hold the server's
   * close() up. Idempotent.
   */
  close(): void {
    if (this.closedFlag) return;
    const socket = this.res.socket;
    try {
      this.res.end(() => socket?.destroySoon());
    } catch {
      socket?.destroy();
    }
    this.cleanup();
  }

  /** Writes; false when the data had to be buffered (or the stream is closed). */
  private write(chunk: string): boolean {
    if (this.closedFlag || this.res.writableEnded || this.res.destroyed) return false;
    try {
      return this.res.write(chunk);
    } catch {
      this.cleanup();
      return false;
    }
  }

  private drained(): Promise<void> {
    if (this.closedFlag) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.res.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      this.res.on('drain', done);
      this.res.on('close', done);
    });
  }

  private cleanup(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    clearInterval(this.heartbeat);
    const handlers = this.closeHandlers.splice(0);
    for (const fn of handlers) {
      try {
        fn();
      } catch {
        // a cleanup's failure must not stop the others
      }
    }
  }
}

export interface FollowSource {
  /** Whether a bus message may mean something new for this stream. */
  wakesOn(m: BusMessage): boolean;
  /**
   * Whether the stream is complete once what is stored now has been sent. Checked *before* each
   * read, so that whatever was committed up to the final state is read and sent before the end.
   */
  finished?(): Promise<boolean>;
  /** Sends one page of what is stored after the last item sent; resolves with how many it sent. */
  sendPage(stream: SseStream): Promise<number>;
  /** Sends the closing frame. */
  sendEnd?(stream: SseStream): Promise<void>;
}

/**
 * Feeds a stream from the store, woken by the bus, until it is finished or the client goes. Never
 * rejects: a failure is written to stderr, told to the client as `event: error` and ends the stream.
 */
export async function followStore(stream: SseStream, bus: EventBus, source: FollowSource): Promise<void> {
  let dirty = true;
  let wake: (() => void) | undefined;
  const off = bus.subscribe((m) => {
    if (dirty || !source.wakesOn(m)) return;
    dirty = true;
    wake?.();
  });
  stream.onClose(() => {
    off();
    wake?.();
  });
  try {
    while (!stream.closed) {
      if (!dirty) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
        continue;
      }
      dirty = false;
      const finished = source.finished ? await source.finished() : false;
      while (!stream.closed && (await source.sendPage(stream)) > 0) {
        // next page
      }
      if (finished && !stream.closed) {
        await source.sendEnd?.(stream);
        stream.close();
      }
    }
  } catch (err) {
    process.stderr.write(
      `jobhub: event stream failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    await stream
      .send(undefined, 'error', { error: 'the stream failed', code: 'internal' })
      .catch(() => false);
    stream.close();
  } finally {
    off();
  }
}
