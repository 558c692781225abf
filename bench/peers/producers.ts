/**
 * The peers as the harness drives them: a producer here (enqueue one job per call, `inFlight` calls
 * at a time, like the jobhub client), a worker process (worker.ts) that runs them, and a way to
 * count finished jobs through the system's own state (polled, as jobhub's /metrics is).
 */
import path from 'node:path';
import { Queue } from 'bullmq';
import { makeWorkerUtils, type WorkerUtils } from 'graphile-worker';
import pg from 'pg';
import PgBoss from 'pg-boss';
import type { Proc } from '../lib/procs.js';
import { sleep } from '../lib/procs.js';
import type { Scope } from '../lib/scope.js';
import { PG_URL, pgSchema, REDIS_URL, redisDeletePrefix } from '../lib/services.js';

export const PEERS = ['bullmq', 'graphile', 'pgboss'] as const;
export type PeerName = (typeof PEERS)[number];

export const PEER_LABEL: Record<PeerName, string> = {
  bullmq: 'BullMQ (Redis)',
  graphile: 'graphile-worker (PostgreSQL)',
  pgboss: 'pg-boss (PostgreSQL)',
};

/** pg-boss 10's work() loop sleeps out its polling interval (≥ 0.5 s) after every batch. */
export const PGBOSS_BATCH = 25;

export interface Peer {
  name: PeerName;
  worker: Proc;
  enqueue(n: number, inFlight: number): Promise<void>;
  /** Jobs finished (completed or failed) so far. */
  finished(): Promise<number>;
  close(): Promise<void>;
}

const WORKER = path.resolve(import.meta.dirname, 'worker.ts');

async function runInFlight(n: number, inFlight: number, fn: () => Promise<unknown>): Promise<void> {
  let next = 0;
  const one = async () => {
    while (next < n) {
      next++;
      await fn();
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, n) }, one));
}

function startWorker(scope: Scope, name: PeerName, config: Record<string, unknown>): Proc {
  return scope.spawn(`worker-${name}`, process.execPath, [
    '--import',
    'tsx',
    WORKER,
    name,
    JSON.stringify(config),
  ]);
}

export async function startPeer(
  scope: Scope,
  name: PeerName,
  runId: string,
  tag: string,
  concurrency: number,
): Promise<Peer> {
  switch (name) {
    case 'bullmq': {
      const prefix = `bench-${runId}-${tag}`;
      const queueName = 'q';
      scope.defer(`redis keys ${prefix}*`, async () => {
        await redisDeletePrefix(prefix);
      });
      const queue = new Queue(queueName, { connection: { url: REDIS_URL }, prefix });
      await queue.waitUntilReady();
      const worker = startWorker(scope, name, { url: REDIS_URL, queue: queueName, prefix, concurrency });
      await worker.waitFor(/^ready$/m, 60_000);
      return {
        name,
        worker,
        async enqueue(n, inFlight) {
          await runInFlight(n, inFlight, () => queue.add('t', {}));
        },
        async finished() {
          const c = await queue.getJobCounts('completed', 'failed');
          return (c.completed ?? 0) + (c.failed ?? 0);
        },
        async close() {
          await queue.close();
        },
      };
    }
    case 'graphile': {
      const schema = pgSchema(scope, runId, `gw_${tag}`);
      const utils: WorkerUtils = await makeWorkerUtils({ connectionString: PG_URL, schema });
      await utils.migrate();
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      const worker = startWorker(scope, name, { url: PG_URL, schema, concurrency });
      await worker.waitFor(/^ready$/m, 60_000);
      let added = 0;
      return {
        name,
        worker,
        async enqueue(n, inFlight) {
          await runInFlight(n, inFlight, async () => {
            await utils.addJob('t', {}, { maxAttempts: 1 });
            added++;
          });
        },
        async finished() {
          // A job that succeeds is deleted; one that failed its last attempt stays with last_error.
          const r = await client.query<{ left: string; failed: string }>(
            `SELECT count(*) AS left, count(*) FILTER (WHERE last_error IS NOT NULL) AS failed
               FROM "${schema}"._private_jobs`,
          );
          const row = r.rows[0];
          return added - Number(row?.left ?? 0) + Number(row?.failed ?? 0);
        },
        async close() {
          await utils.release();
          await client.end();
        },
      };
    }
    case 'pgboss': {
      const schema = pgSchema(scope, runId, `pgb_${tag}`);
      const queueName = 'q';
      const boss = new PgBoss({ connectionString: PG_URL, schema, schedule: false, supervise: false });
      boss.on('error', () => {});
      await boss.start();
      await boss.createQueue(queueName);
      const worker = startWorker(scope, name, {
        url: PG_URL,
        schema,
        queue: queueName,
        concurrency,
        batchSize: PGBOSS_BATCH,
      });
      await worker.waitFor(/^ready$/m, 60_000);
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      return {
        name,
        worker,
        async enqueue(n, inFlight) {
          await runInFlight(n, inFlight, () => boss.send(queueName, {}, { retryLimit: 0 }));
        },
        async finished() {
          const r = await client.query<{ n: string }>(
            `SELECT count(*) AS n FROM "${schema}".job WHERE name = $1 AND state IN ('completed', 'failed')`,
            [queueName],
          );
          return Number(r.rows[0]?.n ?? 0);
        },
        async close() {
          await boss.stop({ graceful: false, wait: true, timeout: 5000 }).catch(() => {});
          await client.end();
        },
      };
    }
  }
}

/** Polls `finished()` until it reaches `target`; performance.now() at the poll that saw it. */
export async function waitPeer(
  peer: Peer,
  target: number,
  timeoutMs: number,
  pollMs = 20,
  stallMs = 15_000,
): Promise<number> {
  const start = performance.now();
  let last = -1;
  let lastChange = start;
  for (;;) {
    const n = await peer.finished();
    const now = performance.now();
    if (n >= target) return now;
    if (n !== last) {
      last = n;
      lastChange = now;
    }
    if (now - start > timeoutMs || now - lastChange > stallMs)
      throw new Error(
        `${peer.name}: only ${n} of ${target} jobs finished ${now - start > timeoutMs ? `after ${Math.round(timeoutMs / 1000)}s` : `and none for ${Math.round(stallMs / 1000)}s (stalled)`}`,
      );
    await sleep(pollMs);
  }
}
