/**
 * A peer's worker process: takes jobs from BullMQ, graphile-worker or pg-boss and runs each by
 * spawning `true`, 8 at a time. Started by the harness in its own process (as jobhub's agent is);
 * prints `ready` once it takes jobs, and stops cleanly on SIGTERM.
 *
 * Usage: node --import tsx bench/peers/worker.ts SYSTEM CONFIG_JSON
 *   bullmq:   {"url": redis URL, "queue": name, "prefix": key prefix, "concurrency": 8}
 *   graphile: {"url": postgres URL, "schema": name, "concurrency": 8}
 *   pgboss:   {"url": postgres URL, "schema": name, "queue": name, "concurrency": 8, "batchSize": n}
 */
import { spawnTrue } from './spawn-true.js';

const system = process.argv[2];
const config = JSON.parse(process.argv[3] ?? '{}') as {
  url: string;
  queue?: string;
  prefix?: string;
  schema?: string;
  concurrency: number;
  batchSize?: number;
};

let stop: () => Promise<void> = async () => {};

async function main(): Promise<void> {
  switch (system) {
    case 'bullmq': {
      const { Worker } = await import('bullmq');
      const worker = new Worker(
        config.queue ?? 'bench',
        async () => {
          await spawnTrue();
        },
        {
          connection: { url: config.url, maxRetriesPerRequest: null },
          prefix: config.prefix ?? 'bull',
          concurrency: config.concurrency,
        },
      );
      worker.on('error', (err) => process.stderr.write(`worker error: ${String(err)}\n`));
      await worker.waitUntilReady();
      stop = () => worker.close();
      break;
    }
    case 'graphile': {
      const { run } = await import('graphile-worker');
      const runner = await run({
        connectionString: config.url,
        schema: config.schema ?? 'graphile_worker',
        concurrency: config.concurrency,
        noHandleSignals: true,
        pollInterval: 2000,
        taskList: {
          t: async () => {
            await spawnTrue();
          },
        },
      });
      stop = () => runner.stop();
      break;
    }
    case 'pgboss': {
      const { default: PgBoss } = await import('pg-boss');
      const boss = new PgBoss({
        connectionString: config.url,
        schema: config.schema ?? 'pgboss',
        schedule: false,
        supervise: false,
      });
      boss.on('error', (err) => process.stderr.write(`pg-boss error: ${String(err)}\n`));
      await boss.start();
      const queue = config.queue ?? 'bench';
      await boss.createQueue(queue);
      // One work() loop per slot: each fetches `batchSize` jobs and runs them one after another.
      for (let i = 0; i < config.concurrency; i++) {
        await boss.work(
          queue,
          { batchSize: config.batchSize ?? 1, pollingIntervalSeconds: 0.5 },
          async (jobs) => {
            for (const _ of jobs) await spawnTrue();
          },
        );
      }
      stop = () => boss.stop({ graceful: true, wait: true, timeout: 5000 });
      break;
    }
    default:
      throw new Error(`unknown system ${system}`);
  }
  process.stdout.write('ready\n');
}

let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) process.exit(0);
  stopping = true;
  const t = setTimeout(() => process.exit(0), 5000);
  void stop().finally(() => {
    clearTimeout(t);
    process.exit(0);
  });
});

main().catch((err: unknown) => {
  process.stderr.write(`worker failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
