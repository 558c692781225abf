/**
 * The PostgreSQL backend: the store contract, plus what only a shared server can show (schemas,
 * migrations racing, replicas racing on a row, notifications). Needs JOBHUB_TEST_PG_URL.
 */
import type pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, JobhubError } from '../../src/core/errors.js';
import { PostgresStore } from '../../src/store/postgres/index.js';
import { MIGRATIONS } from '../../src/store/postgres/migrations.js';
import type { TaskChange } from '../../src/store/store.js';
import { PG_SKIP_NOTICE, PG_URL, pgClient, type TestDb, testDb } from '../helpers/store.js';
import { logLine, newJob, nodeInfo, storeContract } from './store-contract.js';

if (!PG_URL) console.warn(PG_SKIP_NOTICE);

/** Polls until `check` holds (for things no event announces: a lock wait, a notification). */
async function until(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe.skipIf(!PG_URL)('PostgresStore', () => {
  storeContract('PostgresStore', () => testDb('postgres'));

  describe('PostgresStore: schema and migrations', () => {
    let db: TestDb;
    beforeEach(() => {
      db = testDb('postgres');
    });
    afterEach(async () => {
      await db.dispose();
    });

    it('creates its schema and puts every table in it', async () => {
      const store = db.open();
      await store.migrate();
      const c = await pgClient();
      try {
        const { rows } = await c.query<{ table_name: string }>(
          'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name',
          [db.where],
        );
        expect(rows.map((r) => r.table_name)).toEqual([
          'backend_runs',
          'backends',
          'events',
          'files',
          'jobs',
          'locks',
          'logs',
          'memberships',
          'nodes',
          'orgs',
          'report_inbox',
          'schedules',
          'schema_migrations',
          'secrets',
          'stages',
          'tasks',
          'templates',
          'tokens',
          'users',
          'workspaces',
        ]);
      } finally {
        await c.end();
      }
      expect((await store.createJob(newJob())).job.id).toBe(1);
    });

    it('applies each migration once when four replicas migrate at the same time', async () => {
      const stores = [db.open(), db.open(), db.open(), db.open()];
      await Promise.all(stores.map((s) => s.migrate()));
      const c = await pgClient();
      try {
        const { rows } = await c.query<{ version: number; n: string }>(
          `SELECT version, COUNT(*) AS n FROM "${db.where}".schema_migrations GROUP BY version ORDER BY version`,
        );
        expect(rows.map((r) => [r.version, Number(r.n)])).toEqual(MIGRATIONS.map((m) => [m.version, 1]));
      } finally {
        await c.end();
      }
      const first = await stores[0]!.migrations();
      for (const s of stores) expect(await s.migrations()).toEqual(first);
    });

    it('refuses a schema name it cannot quote', () => {
      expect(() => PostgresStore.open(PG_URL!, { schema: 'no"pe; DROP' })).toThrow(JobhubError);
    });
  });

  describe('PostgresStore: replicas', () => {
    let db: TestDb;
    let a: PostgresStore;
    let b: PostgresStore;
    let raw: pg.Client;

    beforeEach(async () => {
      db = testDb('postgres');
      a = db.open() as PostgresStore;
      b = db.open() as PostgresStore;
      await a.migrate();
      await b.migrate();
      raw = await pgClient();
    });
    afterEach(async () => {
      await raw.end();
      await db.dispose();
    });

    const start = (taskId: number, nodeId: string) => ({
      tasks: [
        {
          jobId: 1,
          taskId,
          expect: { status: 'queued', attempt: 0 },
          set: { status: 'running', attempt: 1, nodeId },
        } satisfies TaskChange,
      ],
      events: [
        { type: 'task.status' as const, ts: 2_000, jobId: 1, taskId, nodeId, from: 'queued', to: 'running' },
      ],
    });

    it('lets exactly one of two racing dispatches of a task through', async () => {
      await a.createJob(newJob());
      // Hold the task's row so both transactions queue on its lock before either can check.
      await raw.query('BEGIN');
      await raw.query(`SELECT 1 FROM "${db.where}".tasks WHERE job_id = 1 AND id = 1 FOR UPDATE`);
      const blocker = (await raw.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;

      const settled = Promise.allSettled([
        a.applyChanges(start(1, 'node-a')),
        b.applyChanges(start(1, 'node-b')),
      ]);
      // Both wait: one on the blocker, the other queued behind it on the row's tuple lock.
      await until(async () => {
        const { rows } = await raw.query<{ n: number }>(
          `WITH RECURSIVE waiting(pid) AS (
             SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))
             UNION SELECT a.pid FROM pg_stat_activity a JOIN waiting w ON w.pid = ANY(pg_blocking_pids(a.pid)))
           SELECT COUNT(*)::int AS n FROM waiting`,
          [blocker],
        );
        return rows[0]!.n >= 2;
      });
      await raw.query('COMMIT');

      const results = await settled;
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      expect(lost[0]!.reason).toBeInstanceOf(ConflictError);
      expect(lost[0]!.reason).toMatchObject({
        details: {
          row: 'task',
          expected: { status: 'queued', attempt: 0 },
          actual: { status: 'running', attempt: 1 },
        },
      });
      const task = (await a.getJobDetail(1))!.tasks[0]!;
      expect(task).toMatchObject({ status: 'running', attempt: 1 });
      const events = await b.listEvents({ jobId: 1, types: ['task.'] });
      expect(events).toHaveLength(1);
      expect(events[0]!.nodeId).toBe(task.nodeId);
    });

    it('dispatches each task once when two replicas race on every task', async () => {
      await a.createJob(newJob());
      for (let round = 0; round < 5; round++) {
        if (round > 0) {
          // Back to queued for the next round.
          await a.applyChanges({
            tasks: [1, 2, 3].map((taskId) => ({ jobId: 1, taskId, set: { status: 'queued', attempt: 0 } })),
            events: [],
          });
        }
        const attempts = [1, 2, 3].flatMap((t) => [
          a.applyChanges(start(t, 'node-a')),
          b.applyChanges(start(t, 'node-b')),
        ]);
        const results = await Promise.allSettled(attempts);
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
        for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(ConflictError);
      }
      expect(await a.listEvents({ jobId: 1, types: ['task.'] })).toHaveLength(15);
    });

    it('makes events visible in seq order: a follower reading afterSeq misses none', async () => {
      await a.createJob(newJob());
      const total = 200;
      let done = false;
      const seen: number[] = [];
      const follow = (async () => {
        let after = 0;
        for (;;) {
          const finished = done; // read before listing: a last pass after the writers are done
          const page = await b.listEvents({ afterSeq: after });
          for (const e of page) seen.push(e.seq);
          after = page.at(-1)?.seq ?? after;
          if (finished && page.length === 0) return;
        }
      })();
      let i = 0;
      const writer = async (s: PostgresStore) => {
        while (i < total) {
          const n = i++;
          await s.applyChanges({ events: [{ type: 'job.waiting', ts: n, jobId: 1 }] });
        }
      };
      await Promise.all([writer(a), writer(a), writer(a), writer(b), writer(b), writer(b)]);
      done = true;
      await follow;
      expect(seen).toEqual(Array.from({ length: total + 1 }, (_, k) => k + 1));
      expect(await b.lastEventSeq()).toBe(total + 1);
    });
  });

  describe('PostgresStore: notifications', () => {
    let db: TestDb;
    let store: PostgresStore;
    let listener: pg.Client;
    let got: Array<{ channel: string; payload: string }>;

    beforeEach(async () => {
      db = testDb('postgres');
      // One connection, so its backend pid tells its notifications from other tests' (the channels are
      // database-wide).
      store = PostgresStore.open(PG_URL!, { schema: db.where, poolSize: 1 });
      await store.migrate();
      const { rows } = await store.pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const pid = rows[0]!.pid;
      got = [];
      listener = await pgClient();
      listener.on('notification', (n) => {
        if (n.processId === pid) got.push({ channel: n.channel, payload: n.payload ?? '' });
      });
      await listener.query('LISTEN jobhub_events');
      await listener.query('LISTEN jobhub_logs');
      await listener.query('LISTEN jobhub_inbox');
    });
    afterEach(async () => {
      await listener.end();
      await store.close();
      await db.dispose();
    });

    const next = async (n: number) => {
      await until(() => got.length >= n);
      return got.slice(0, n);
    };

    it('notifies committed events, logs and inbox items, and nothing for a rollback', async () => {
      await store.createJob(newJob());
      expect(await next(1)).toEqual([{ channel: 'jobhub_events', payload: '1' }]);

      const started = await store.applyChanges({
        jobs: [{ id: 1, expect: 'queued', set: { status: 'running' } }],
        events: [
          { type: 'job.status', ts: 2, jobId: 1, from: 'queued', to: 'running' },
          { type: 'job.placed', ts: 2, jobId: 1 },
        ],
      });
      expect(started.map((e) => e.seq)).toEqual([2, 3]);
      expect((await next(2))[1]).toEqual({ channel: 'jobhub_events', payload: '3' });

      // A failed precondition rolls back: its event and its notification never happen.
      await expect(
        store.applyChanges({
          jobs: [{ id: 1, expect: 'queued', set: { status: 'stopped' } }],
          events: [{ type: 'job.status', ts: 3, jobId: 1, from: 'queued', to: 'stopped' }],
        }),
      ).rejects.toBeInstanceOf(ConflictError);
      // Nothing but row changes: nothing to announce either.
      await store.applyChanges({ jobs: [{ id: 1, set: { reason: 'x' } }], events: [] });
      await store.registerNode(nodeInfo(), 'idle', 5);
      // Notifications of one session arrive in commit order: the next one is the node's event (seq 4).
      expect((await next(3))[2]).toEqual({ channel: 'jobhub_events', payload: '4' });

      await store.appendLogs([
        logLine({ taskId: 2, seq: 1 }),
        logLine({ taskId: 1, seq: 1 }),
        logLine({ seq: 2 }),
      ]);
      expect((await next(4))[3]).toEqual({ channel: 'jobhub_logs', payload: '{"jobId":1,"taskIds":[1,2]}' });
      await store.appendLogs([logLine({ seq: 2 })]); // a replay: nothing new, no notification

      await store.enqueueReports([{ nodeId: 'n1', seq: 1, body: { a: 1 } }]);
      expect((await next(5))[4]).toEqual({ channel: 'jobhub_inbox', payload: '' });
      await store.enqueueReports([{ nodeId: 'n1', seq: 1, body: { a: 1 } }]); // a duplicate: nothing
      await store.createJob(newJob());
      expect((await next(6))[5]).toEqual({ channel: 'jobhub_events', payload: '5' });
      expect(got).toHaveLength(6);
    });
  });

  describe('PostgresStore: text PostgreSQL cannot hold', () => {
    let db: TestDb;
    let store: PostgresStore;
    beforeEach(async () => {
      db = testDb('postgres');
      store = db.open() as PostgresStore;
      await store.migrate();
    });
    afterEach(async () => {
      await db.dispose();
    });

    it('stores NUL characters in logs, JSON and text as U+FFFD instead of failing', async () => {
      await store.createJob(newJob({ labels: { odd: 'a\u0000b', path: 'c:\\u0000' } }));
      await store.appendLogs([logLine({ text: 'bin\u0000ary' })]);
      await store.applyChanges({
        tasks: [{ jobId: 1, taskId: 1, set: { text: 'exit\u0000' } }],
        events: [{ type: 'task.status', ts: 1, jobId: 1, data: { out: '\u0000' } }],
      });
      expect((await store.readLogs({ jobId: 1 }))[0]!.text).toBe('bin\uFFFDary');
      const detail = (await store.getJobDetail(1))!;
      expect(detail.job.labels).toEqual({ odd: 'a\uFFFDb', path: 'c:\\u0000' });
      expect(detail.tasks[0]!.text).toBe('exit\uFFFD');
      expect((await store.listEvents({ types: ['task.'] }))[0]!.data).toEqual({ out: '\uFFFD' });
    });
  });
});
