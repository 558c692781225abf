/**
 * A TCP proxy between an agent and the server, in the test process, that injects network faults:
 * a cut link (connections reset, new ones refused), a blackhole (connections accepted, nothing
 * forwarded, nothing closed: the half-open link a dead router leaves), a stall (nothing forwarded
 * but everything kept, delivered late on restore: heartbeats delayed past the timeout, then
 * arriving) and a delay on every chunk.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export type ProxyMode = 'forward' | 'cut' | 'blackhole' | 'stall';

interface Pair {
  client: Socket;
  upstream: Socket | undefined;
  /** Data was dropped: on restore the connection is reset, as the peer's TCP would. */
  broken: boolean;
  /** Chunks held while stalled, per direction, in order. */
  held: Array<{ to: 'client' | 'upstream'; chunk: Buffer }>;
  /** An end closed while stalled: the close follows the held data on restore. */
  closing: boolean;
}

/** Which way a fault applies: toward the server ('upstream'), toward the agent ('client') or both. */
export type Direction = 'upstream' | 'client' | 'both';

export class TcpProxy {
  private mode: ProxyMode = 'forward';
  private direction: Direction = 'both';
  private delayMs = 0;
  private readonly pairs = new Set<Pair>();
  /** Faults injected, by mode (a delay counts as 'delay'). */
  readonly injected = new Map<string, number>();
  /** Connections the proxy has accepted. */
  accepted = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    let proxy: TcpProxy | undefined;
    const server = createServer((socket) => proxy?.accept(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const addr = server.address();
    proxy = new TcpProxy(server, typeof addr === 'object' && addr ? addr.port : 0, target);
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Connections open through the proxy now. */
  get open(): number {
    return this.pairs.size;
  }

  /**
   * Switches to a fault (or back to 'forward'); counts each switch to a fault as one injected.
   * A blackhole or stall may apply one way only (default both); a cut is always both ways.
   */
  set(mode: ProxyMode, direction: Direction = 'both'): void {
    if (mode !== 'forward' && mode !== this.mode) this.count(mode);
    const was = this.mode;
    this.mode = mode;
    this.direction = direction;
    if (mode === 'cut') for (const p of [...this.pairs]) this.reset(p);
    if (mode === 'forward' && was !== 'forward') {
      for (const p of [...this.pairs]) {
        if (p.broken) this.reset(p);
        else {
          if (!p.upstream) this.dial(p);
          for (const { to, chunk } of p.held.splice(0)) this.write(p, to, chunk);
          if (p.closing) this.closePair(p);
        }
      }
    }
  }

  /** Every chunk is forwarded this much later (order kept); 0 turns it off. */
  delay(ms: number): void {
    if (ms > 0 && this.delayMs === 0) this.count('delay');
    this.delayMs = ms;
  }

  async close(): Promise<void> {
    this.mode = 'forward';
    for (const p of [...this.pairs]) this.reset(p);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private count(kind: string): void {
    this.injected.set(kind, (this.injected.get(kind) ?? 0) + 1);
  }

  private accept(client: Socket): void {
    this.accepted++;
    if (this.mode === 'cut') {
      client.resetAndDestroy();
      return;
    }
    const p: Pair = { client, upstream: undefined, broken: false, held: [], closing: false };
    this.pairs.add(p);
    client.on('data', (chunk: Buffer) => this.pass(p, 'upstream', chunk));
    client.on('error', () => this.closePair(p));
    client.on('close', () => this.closePair(p));
    if (this.mode === 'forward') this.dial(p);
  }

  private dial(p: Pair): void {
    const up = connect(this.target.port, this.target.host);
    p.upstream = up;
    up.on('data', (chunk: Buffer) => this.pass(p, 'client', chunk));
    up.on('error', () => this.closePair(p));
    up.on('close', () => this.closePair(p));
  }

  private faulted(to: 'client' | 'upstream'): boolean {
    return this.direction === 'both' || this.direction === to;
  }

  private pass(p: Pair, to: 'client' | 'upstream', chunk: Buffer): void {
    if (this.mode === 'blackhole' && this.faulted(to)) {
      p.broken = true;
      return;
    }
    if ((this.mode === 'stall' && this.faulted(to)) || (to === 'upstream' && !p.upstream)) {
      p.held.push({ to, chunk });
      return;
    }
    if (this.delayMs > 0) setTimeout(() => this.write(p, to, chunk), this.delayMs);
    else this.write(p, to, chunk);
  }

  private write(p: Pair, to: 'client' | 'upstream', chunk: Buffer): void {
    const sock = to === 'client' ? p.client : p.upstream;
    if (sock && !sock.destroyed) sock.write(chunk);
  }

  /** A fault closed it: both ends reset. */
  private reset(p: Pair): void {
    p.client.resetAndDestroy();
    p.upstream?.resetAndDestroy();
    this.pairs.delete(p);
  }

  private closePair(p: Pair): void {
    if (this.mode === 'stall' && p.held.length > 0) {
      p.closing = true;
      return;
    }
    if (!this.pairs.delete(p)) return;
    // One side went: the other follows once what was written is flushed.
    p.client.end();
    p.upstream?.end();
    setTimeout(() => {
      p.client.destroy();
      p.upstream?.destroy();
    }, 1000).unref();
  }
}
