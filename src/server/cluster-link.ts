/**
 * What server replicas share besides the store: a scheduling lease (exactly one replica runs the
 * coordinator and the timers) and notifications between replicas. One server on SQLite uses the
 * local link: it always holds the lease, and notifications stay in the process. Replicas on
 * PostgreSQL use the PostgreSQL link: the lease is a session advisory lock held on a connection of
 * its own (it goes when that connection or the process dies), notifications are LISTEN/NOTIFY.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import pg from 'pg';

export interface ClusterLink {
  /** Tries to take the lease; true when this replica holds it (now or already). */
  tryLease(): Promise<boolean>;
  /** Whether the lease is still held (its connection alive). */
  holdsLease(): Promise<boolean>;
  releaseLease(): Promise<void>;
  /** Sends a notification to every replica, this one included. Long payloads are split. */
  notify(channel: string, payload: string): Promise<void>;
  listen(channel: string, handler: (payload: string) => void): Promise<void>;
  close(): Promise<void>;
}

export class LocalLink implements ClusterLink {
  private readonly emitter = new EventEmitter();

  async tryLease(): Promise<boolean> {
    return true;
  }

  async holdsLease(): Promise<boolean> {
    return true;
  }

  async releaseLease(): Promise<void> {}

  async notify(channel: string, payload: string): Promise<void> {
    queueMicrotask(() => this.emitter.emit(channel, payload));
  }

  async listen(channel: string, handler: (payload: string) => void): Promise<void> {
    this.emitter.on(channel, handler);
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}

/** NOTIFY payloads must stay under 8000 bytes: longer ones travel in numbered parts. */
const PART_BYTES = 7000;

export class PgLink implements ClusterLink {
  private listener: pg.Client | undefined;
  private leaseClient: pg.Client | undefined;
  private readonly sender: pg.Pool;
  private readonly handlers = new Map<string, Array<(payload: string) => void>>();
  private readonly parts = new Map<string, string[]>();
  private readonly lockKey: string;
  private closed = false;

  /** `namespace` (the schema) keeps replicas of different clusters in one database apart. */
  constructor(
    private readonly url: string,
    private readonly namespace: string,
    private readonly log: (line: string) => void,
  ) {
    this.sender = new pg.Pool({ connectionString: url, max: 2 });
    this.sender.on('error', () => {});
    // A stable 63-bit key from the namespace.
    this.lockKey = BigInt.asIntN(
      64,
      BigInt(`0x${createHash('sha256').update(`jobhub:${namespace}`).digest('hex').slice(0, 16)}`),
    ).toString();
  }

  private channel(name: string): string {
    return `${name}_${createHash('sha256').update(this.namespace).digest('hex').slice(0, 12)}`;
  }

  async tryLease(): Promise<boolean> {
    if (this.leaseClient) return this.holdsLease();
    const client = new pg.Client({ connectionString: this.url });
    client.on('error', () => {
      if (this.leaseClient === client) this.leaseClient = undefined;
    });
    try {
      await client.connect();
      const r = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS ok', [
        this.lockKey,
      ]);
      if (r.rows[0]?.ok) {
        this.leaseClient = client;
        return true;
      }
    } catch (err) {
      this.log(`lease: ${String(err)}`);
    }
    await client.end().catch(() => {});
    return false;
  }

  async holdsLease(): Promise<boolean> {
    const client = this.leaseClient;
    if (!client) return false;
    try {
      await client.query('SELECT 1');
      return true;
    } catch {
      this.leaseClient = undefined;
      return false;
    }
  }

  async releaseLease(): Promise<void> {
    const client = this.leaseClient;
    this.leaseClient = undefined;
    await client?.end().catch(() => {}); // ending the session releases the advisory lock
  }

  async notify(channel: string, payload: string): Promise<void> {
    const name = this.channel(channel);
    if (Buffer.byteLength(payload) <= PART_BYTES) {
      await this.sender.query('SELECT pg_notify($1, $2)', [name, `0|${payload}`]);
      return;
    }
    // Parts go in one transaction on one connection: delivered together and in order.
    const id = `${process.pid}-${Math.random().toString(36).slice(2)}`;
    const chunks: string[] = [];
    for (let i = 0; i < payload.length; i += PART_BYTES / 4)
      chunks.push(payload.slice(i, i + PART_BYTES / 4));
    const client = await this.sender.connect();
    let broken: Error | undefined;
    // Checked-out connections have no error listener of the pool's: a lost one must not end the process.
    const onError = (err: Error) => {
      broken = err;
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      for (const [i, c] of chunks.entries()) {
        await client.query('SELECT pg_notify($1, $2)', [name, `${id}:${i}:${chunks.length}|${c}`]);
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  async listen(channel: string, handler: (payload: string) => void): Promise<void> {
    const name = this.channel(channel);
    const list = this.handlers.get(name) ?? [];
    list.push(handler);
    this.handlers.set(name, list);
    const client = await this.listenerClient();
    await client.query(`LISTEN "${name}"`);
  }

  /** Raw LISTEN on a channel not namespaced (the store's own notifications). */
  async listenRaw(channel: string, handler: (payload: string) => void): Promise<void> {
    const list = this.handlers.get(channel) ?? [];
    list.push((p) => handler(p));
    this.handlers.set(channel, list);
    this.rawChannels.add(channel);
    const client = await this.listenerClient();
    await client.query(`LISTEN "${channel}"`);
  }

  private readonly rawChannels = new Set<string>();

  async close(): Promise<void> {
    this.closed = true;
    await this.releaseLease();
    await this.listener?.end().catch(() => {});
    this.listener = undefined;
    await this.sender.end().catch(() => {});
  }

  private async listenerClient(): Promise<pg.Client> {
    if (this.listener) return this.listener;
    const client = new pg.Client({ connectionString: this.url });
    this.listener = client;
    client.on('notification', (n) => this.onNotification(n.channel, n.payload ?? ''));
    client.on('error', (err) => {
      this.log(`notifications: ${err.message}; reconnecting`);
      if (this.listener === client) this.listener = undefined;
      void this.relisten();
    });
    await client.connect();
    return client;
  }

  /** After the listening connection dropped: a new one, listening on every channel again. */
  private async relisten(): Promise<void> {
    for (let delay = 250; !this.closed; delay = Math.min(delay * 2, 5000)) {
      try {
        const client = await this.listenerClient();
        for (const name of this.handlers.keys()) await client.query(`LISTEN "${name}"`);
        return;
      } catch {
        this.listener = undefined;
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private onNotification(name: string, raw: string): void {
    const handlers = this.handlers.get(name) ?? [];
    if (this.rawChannels.has(name)) {
      for (const h of handlers) h(raw);
      return;
    }
    const bar = raw.indexOf('|');
    const head = raw.slice(0, bar);
    const body = raw.slice(bar + 1);
    let payload: string | undefined = body;
    if (head !== '0') {
      const [id, index, total] = head.split(':');
      const got = this.parts.get(id ?? '') ?? [];
      got[Number(index)] = body;
      this.parts.set(id ?? '', got);
      payload = undefined;
      if (got.filter((x) => x !== undefined).length === Number(total)) {
        this.parts.delete(id ?? '');
        payload = got.join('');
      }
    }
    if (payload !== undefined) for (const h of handlers) h(payload);
  }
}
