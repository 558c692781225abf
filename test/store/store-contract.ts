/**
 * The store contract: what every backend must do, run against each (test/store/sqlite.test.ts,
 * test/store/postgres.test.ts). Records must be identical whatever the backend.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, JobhubError } from '../../src/core/errors.js';
import type { NodeInfo } from '../../src/core/types.js';
import type { JobSpec } from '../../src/spec/model.js';
import { MIGRATIONS } from '../../src/store/sqlite/migrations.js';
import type { JobDetail, NewJob, NewLogLine, NewTemplate, Store } from '../../src/store/store.js';
import type { TestDb, TestStore } from '../helpers/store.js';

/** The schema version of the current code (both backends number their migrations alike). */
const LATEST = 3;

export const spec: JobSpec = {
  name: 'j',
  labels: {},
  nodeAssignments: [{ name: 'local', role: 'any', selectors: [], capacity: {} }],
  pipelines: [],
  stages: [
    {
      name: 's',
      index: 0,
      type: 'short',
      selectors: [],
      needs: [],
      groups: [{ name: 'group-0', tasks: ['t'] }],
      tasks: [
        {
          name: 't',
          index: 0,
          longRunning: false,
          env: [],
          workingDir: '',
          retries: { count: 0, backoffMs: 1000, maxBackoffMs: 60000 },
          driver: 'shell',
          command: { driver: 'shell', command: 'true', args: [] },
        },
      ],
    },
  ],
};

export function newJob(over: Partial<NewJob> = {}): NewJob {
  return {
    name: 'j',
    owner: { id: 'u1', name: 'alice', type: 'user' },
    labels: { team: 'infra' },
    rawSpec: 'name: j\n',
    spec,
    createdAt: 1_000,
    stages: [
      { name: 's', index: 0 },
      { name: 'svc', index: 1 },
    ],
    tasks: [
      { stage: 's', node: 'local', name: 't', index: 0, longRunning: false },
      { stage: 's', node: 'local', name: 'u', index: 1, longRunning: false },
      { stage: 'svc', node: 'local', name: 'db', index: 0, longRunning: true },
    ],
    ...over,
  };
}

export function nodeInfo(over: Partial<NodeInfo> = {}): NodeInfo {
  return {
    id: 'n1',
    name: 'alpha',
    host: 'alpha.local',
    addr: { ip: '10.0.0.1', bindAddr: '0.0.0.0:7070', remoteAddr: '10.0.0.1:5555' },
    startTime: 100,
    bootTime: 50,
    role: 'any',
    labels: {},
    provider: 'local',
    capacity: { cpus: 4, memoryMb: 8192 },
    ...over,
  };
}

export function logLine(over: Partial<NewLogLine> = {}): NewLogLine {
  return { jobId: 1, taskId: 1, attempt: 1, seq: 1, ts: 5_000, stream: 'stdout', text: 'hello', ...over };
}

/** Literal SQL text for a test value (test data only: SQL built here is never fed user input). */
function lit(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return `'${text.replaceAll("'", "''")}'`;
}

/**
 * Rows as a jobhub at schema `version` would have written them, in SQL both backends accept (JSON as
 * text literals, booleans as false/true).
 */
export function seedSql(version: number): string {
  switch (version) {
    case 1:
      return `
INSERT INTO jobs (name, status, owner_json, labels_json, raw_spec, spec_json, created_at, started_at, stop_requested)
VALUES ('old', 'running', ${lit({ id: 'u1', name: 'alice', type: 'user' })}, ${lit({ team: 'infra' })},
        'name: old', ${lit(spec)}, 1000, 1500, false);
INSERT INTO stages (job_id, name, idx, status, started_at) VALUES (1, 's', 0, 'running', 1500);
INSERT INTO tasks (job_id, id, stage, node, name, idx, long_running, status, attempt, node_id, started_at)
VALUES (1, 1, 's', 'local', 't', 0, false, 'running', 1, 'n1', 1500);
INSERT INTO events (ts, type, job_id, data_json) VALUES (1000, 'job.submitted', 1, ${lit({ name: 'old' })});
INSERT INTO events (ts, type, node_id, from_state, to_state) VALUES (1200, 'node.state', 'n1', 'idle', 'busy');
INSERT INTO logs (job_id, task_id, attempt, seq, ts, stream, text) VALUES (1, 1, 1, 1, 1600, 'stdout', 'hello');
INSERT INTO nodes (id, name, state, info_json, registered_at, last_seen_at)
VALUES ('n1', 'alpha', 'busy', ${lit(nodeInfo())}, 900, 1600);`;
    case 2:
      return `
UPDATE nodes SET report_seq = 5, instance = 'i-1' WHERE id = 'n1';
UPDATE tasks SET node_instance = 'i-1' WHERE job_id = 1 AND id = 1;
INSERT INTO tokens (id, kind, name, hash, created_at) VALUES ('t1', 'agent', 'agents', ${lit('ab'.repeat(32))}, 5);`;
    default:
      return '';
  }
}

/** Checks, through the Store interface, the data `seedSql(1..version)` wrote, then that the schema is current. */
async function expectSeeded(store: Store, version: number): Promise<void> {
  const detail = (await store.getJobDetail(1))!;
  expect(detail.job).toEqual({
    id: 1,
    name: 'old',
    status: 'running',
    owner: { id: 'u1', name: 'alice', type: 'user' },
    labels: { team: 'infra' },
    rawSpec: 'name: old',
    spec,
    placement: null,
    createdAt: 1000,
    startedAt: 1500,
    endedAt: null,
    reason: null,
    waitingFor: null,
    stopRequested: false,
    retryOf: null,
    submitter: null,
    held: false,
    params: null,
    template: null,
  });
  expect(detail.stages).toEqual([
    { jobId: 1, name: 's', index: 0, status: 'running', startedAt: 1500, readyAt: null, endedAt: null },
  ]);
  expect(detail.tasks).toEqual([
    {
      jobId: 1,
      id: 1,
      stage: 's',
      node: 'local',
      name: 't',
      index: 0,
      longRunning: false,
      status: 'running',
      attempt: 1,
      nodeId: 'n1',
      startedAt: 1500,
      readyAt: null,
      endedAt: null,
      exitCode: null,
      text: null,
      nodeInstance: version >= 2 ? 'i-1' : null,
    },
  ]);
  expect(await store.listEvents({})).toEqual([
    { seq: 1, type: 'job.submitted', ts: 1000, jobId: 1, data: { name: 'old' } },
    { seq: 2, type: 'node.state', ts: 1200, nodeId: 'n1', from: 'idle', to: 'busy' },
  ]);
  expect((await store.readLogs({ jobId: 1 })).map((l) => [l.id, l.text])).toEqual([[1, 'hello']]);
  expect(await store.getNode('n1')).toEqual({
    id: 'n1',
    name: 'alpha',
    state: 'busy',
    info: nodeInfo(),
    registeredAt: 900,
    lastSeenAt: 1600,
    reportSeq: version >= 2 ? 5 : 0,
    instance: version >= 2 ? 'i-1' : null,
  });
  expect(await store.findToken('ab'.repeat(32))).toEqual(
    version >= 2
      ? {
          id: 't1',
          kind: 'agent',
          name: 'agents',
          userId: null,
          scope: 'full',
          actFor: false,
          createdAt: 5,
          expiresAt: null,
          revokedAt: null,
        }
      : undefined,
  );
  expect(await store.listActiveJobIds()).toEqual([1]);

  // Current schema: every table of the latest version is there, and ids continue after the old rows.
  const next = await store.createJob(newJob({ name: 'new' }));
  expect(next.job.id).toBe(2);
  expect(await store.lastEventSeq()).toBe(3);
  await store.appendLogs([logLine({ seq: 2, text: 'more' })]);
  expect((await store.readLogs({ jobId: 1, afterId: 1 })).map((l) => l.text)).toEqual(['more']);
  await store.enqueueReports([{ nodeId: 'n1', seq: 6, body: { ok: true } }]);
  expect((await store.takeReports(0, 10)).map((i) => [i.nodeId, i.seq, i.body])).toEqual([
    ['n1', 6, { ok: true }],
  ]);
  await store.createToken({ id: 't2', kind: 'agent', name: 'agents 2', hash: 'cd'.repeat(32), createdAt: 6 });
  expect((await store.findToken('cd'.repeat(32)))?.id).toBe('t2');
}

/**
 * Defines the contract's tests for one backend. `makeDb` gives a new, empty test database each time;
 * every test gets a migrated store on its own database.
 */
export function storeContract(name: string, makeDb: () => TestDb): void {
  const testDbOf = makeDb;
  let db: TestDb;
  let store: TestStore;

  beforeEach(async () => {
    db = makeDb();
    store = db.open();
    await store.migrate();
  });

  afterEach(async () => {
    await store.close();
    await db.dispose();
  });

  /** A snapshot of everything applyChanges could touch. */
  async function snapshot(jobId: number): Promise<{ detail: JobDetail | undefined; events: unknown[] }> {
    return { detail: await store.getJobDetail(jobId), events: await store.listEvents({}) };
  }

  describe(`${name}: opening and migrations`, () => {
    it('migrates an empty database: every migration recorded, a second migrate is a no-op', async () => {
      const first = await store.migrations();
      expect(first.map((m) => [m.version, m.name])).toEqual([
        [1, 'init'],
        [2, 'cluster'],
        [3, 'inbox'],
        [4, 'security'],
        [5, 'files'],
        [6, 'locks'],
        [7, 'templates'],
        [8, 'list_paging'],
        [9, 'schedules'],
        [10, 'backends'],
      ]);
      expect(await store.listJobs()).toEqual([]);
      expect(await store.listEvents({})).toEqual([]);
      expect(await store.lastEventSeq()).toBe(0);
      expect(await store.listNodes()).toEqual([]);
      expect(await store.listTokens()).toEqual([]);
      expect(await store.takeReports(0, 10)).toEqual([]);

      await store.migrate();
      expect(await store.migrations()).toEqual(first);

      // A second process (here: a second store) on the same database sees the schema as current.
      const other = db.open();
      await other.migrate();
      expect(await other.migrations()).toEqual(first);
    });

    it('refuses a database migrated by a newer version', async () => {
      await db.raw("INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 1)");
      const other = db.open();
      await expect(other.migrate()).rejects.toMatchObject({ code: 'store_error' });
    });

    it('close is idempotent', async () => {
      await store.close();
      await store.close();
    });

    for (let version = 1; version < LATEST; version++) {
      it(`upgrades a database at version ${version}, keeping its data`, async () => {
        const fresh = testDbOf();
        try {
          await fresh.migrateTo(version);
          for (let v = 1; v <= version; v++) await fresh.raw(seedSql(v));
          const old = fresh.open();
          await old.migrate();
          expect((await old.migrations()).map((m) => m.version)).toEqual(MIGRATIONS.map((m) => m.version));
          await expectSeeded(old, version);
        } finally {
          await fresh.dispose();
        }
      });
    }
  });

  describe(`${name}: jobs`, () => {
    it('creates a job with its stages, tasks and submitted event', async () => {
      const input = newJob({ retryOf: null });
      const detail = await store.createJob(input);
      expect(detail.job).toEqual({
        id: 1,
        name: 'j',
        status: 'queued',
        owner: input.owner,
        labels: input.labels,
        rawSpec: input.rawSpec,
        spec,
        placement: null,
        createdAt: 1_000,
        startedAt: null,
        endedAt: null,
        reason: null,
        waitingFor: null,
        stopRequested: false,
        retryOf: null,
        submitter: null,
        held: false,
        params: null,
        template: null,
      });
      expect(detail.stages).toEqual([
        { jobId: 1, name: 's', index: 0, status: 'queued', startedAt: null, readyAt: null, endedAt: null },
        { jobId: 1, name: 'svc', index: 1, status: 'queued', startedAt: null, readyAt: null, endedAt: null },
      ]);
      expect(
        detail.tasks.map((t) => [t.id, t.stage, t.name, t.index, t.longRunning, t.status, t.attempt]),
      ).toEqual([
        [1, 's', 't', 0, false, 'queued', 0],
        [2, 's', 'u', 1, false, 'queued', 0],
        [3, 'svc', 'db', 0, true, 'queued', 0],
      ]);
      expect(detail.tasks[0]).toEqual({
        jobId: 1,
        id: 1,
        stage: 's',
        node: 'local',
        name: 't',
        index: 0,
        longRunning: false,
        status: 'queued',
        attempt: 0,
        nodeId: null,
        startedAt: null,
        readyAt: null,
        endedAt: null,
        exitCode: null,
        text: null,
        nodeInstance: null,
      });

      expect(await store.getJobDetail(1)).toEqual(detail);
      expect(await store.getJob(1)).toEqual(detail.job);
      expect(await store.getJob(2)).toBeUndefined();
      expect(await store.getJobDetail(2)).toBeUndefined();

      expect(await store.listEvents({ jobId: 1 })).toEqual([
        { seq: 1, type: 'job.submitted', ts: 1_000, jobId: 1, data: { name: 'j' } },
      ]);

      const second = await store.createJob(newJob({ name: 'k', owner: null, retryOf: 1, createdAt: 2_000 }));
      expect(second.job.id).toBe(2);
      expect(second.job.owner).toBeNull();
      expect(second.job.retryOf).toBe(1);
      expect(second.tasks.map((t) => t.id)).toEqual([1, 2, 3]);
    });

    it('lists jobs newest first with status, name and paging filters', async () => {
      for (let i = 0; i < 5; i++) await store.createJob(newJob({ name: i % 2 === 0 ? 'even' : 'odd' }));
      await store.applyChanges({
        jobs: [
          { id: 2, expect: 'queued', set: { status: 'running' } },
          { id: 4, expect: 'queued', set: { status: 'succeeded' } },
        ],
        events: [],
      });
      const ids = async (q?: Parameters<Store['listJobs']>[0]) => (await store.listJobs(q)).map((j) => j.id);

      expect(await ids()).toEqual([5, 4, 3, 2, 1]);
      expect(await ids({ status: ['running'] })).toEqual([2]);
      expect(await ids({ status: ['queued', 'running'] })).toEqual([5, 3, 2, 1]);
      expect(await ids({ status: [] })).toEqual([5, 4, 3, 2, 1]);
      expect(await ids({ name: 'even' })).toEqual([5, 3, 1]);
      expect(await ids({ name: 'even', status: ['queued'] })).toEqual([5, 3, 1]);
      expect(await ids({ name: 'none' })).toEqual([]);
      expect(await ids({ limit: 2 })).toEqual([5, 4]);
      expect(await ids({ start: 3, limit: 2 })).toEqual([3, 2]);
      expect(await ids({ start: 5 })).toEqual([1]);
      expect(await ids({ start: 6 })).toEqual([]);
      expect(await ids({ start: 2, name: 'even' })).toEqual([3, 1]);

      expect(await store.listActiveJobIds()).toEqual([1, 2, 3, 5]);
    });

    it('defaults listJobs to 100 rows', async () => {
      for (let i = 0; i < 105; i++) await store.createJob(newJob());
      const jobs = await store.listJobs();
      expect(jobs).toHaveLength(100);
      expect(jobs[0]!.id).toBe(105);
    });
  });

  describe(`${name}: applyChanges`, () => {
    it('writes rows and events together, with increasing seq', async () => {
      await store.createJob(newJob());
      await store.registerNode(nodeInfo(), 'idle', 2_000);
      const placement = [
        { assignment: 'local', role: 'any', nodeId: 'n1', nodeName: 'alpha', ip: '10.0.0.1' },
      ];

      const events = await store.applyChanges({
        jobs: [
          {
            id: 1,
            expect: 'queued',
            set: { status: 'running', startedAt: 3_000, placement, waitingFor: null, reason: undefined },
          },
        ],
        stages: [{ jobId: 1, name: 's', expect: 'queued', set: { status: 'running', startedAt: 3_000 } }],
        tasks: [
          {
            jobId: 1,
            taskId: 1,
            expect: { status: 'queued', attempt: 0 },
            set: { status: 'running', attempt: 1, nodeId: 'n1', startedAt: 3_000 },
          },
        ],
        nodes: [{ id: 'n1', expect: 'idle', set: { state: 'busy', lastSeenAt: 3_000 } }],
        events: [
          { type: 'job.status', ts: 3_000, jobId: 1, from: 'queued', to: 'running' },
          { type: 'job.placed', ts: 3_000, jobId: 1, data: { placement } },
          { type: 'stage.status', ts: 3_000, jobId: 1, stage: 's', from: 'queued', to: 'running' },
          { type: 'task.status', ts: 3_000, jobId: 1, stage: 's', taskId: 1, nodeId: 'n1', to: 'running' },
          { type: 'node.state', ts: 3_000, nodeId: 'n1', from: 'idle', to: 'busy' },
        ],
      });

      expect(events.map((e) => e.seq)).toEqual([3, 4, 5, 6, 7]);
      expect(events[0]).toEqual({
        seq: 3,
        type: 'job.status',
        ts: 3_000,
        jobId: 1,
        from: 'queued',
        to: 'running',
      });
      expect(Object.keys(events[4]!).sort()).toEqual(['from', 'nodeId', 'seq', 'to', 'ts', 'type']);
      expect(await store.listEvents({ afterSeq: 2 })).toEqual(events);

      const detail = (await store.getJobDetail(1))!;
      expect(detail.job).toMatchObject({ status: 'running', startedAt: 3_000, placement, reason: null });
      expect(detail.stages[0]).toMatchObject({ status: 'running', startedAt: 3_000 });
      expect(detail.stages[1]).toMatchObject({ status: 'queued', startedAt: null });
      expect(detail.tasks[0]).toMatchObject({
        status: 'running',
        attempt: 1,
        nodeId: 'n1',
        startedAt: 3_000,
      });
      expect(detail.tasks[1]).toMatchObject({ status: 'queued', attempt: 0, nodeId: null });
      expect(await store.getNode('n1')).toMatchObject({
        state: 'busy',
        lastSeenAt: 3_000,
        registeredAt: 2_000,
      });

      // null writes NULL, undefined leaves the column alone, no expect means no check.
      await store.applyChanges({
        jobs: [{ id: 1, set: { reason: 'why', stopRequested: true } }],
        events: [],
      });
      await store.applyChanges({
        jobs: [{ id: 1, set: { reason: null, startedAt: undefined, placement: null } }],
        tasks: [{ jobId: 1, taskId: 1, set: { exitCode: 0, text: 'exit code 0', endedAt: 4_000 } }],
        events: [],
      });
      const after = (await store.getJobDetail(1))!;
      expect(after.job).toMatchObject({
        reason: null,
        startedAt: 3_000,
        placement: null,
        stopRequested: true,
      });
      expect(after.tasks[0]).toMatchObject({ exitCode: 0, text: 'exit code 0', endedAt: 4_000, attempt: 1 });

      // Events alone are fine too.
      const [only] = await store.applyChanges({ events: [{ type: 'job.waiting', ts: 5_000, jobId: 1 }] });
      expect(only).toEqual({ seq: 8, type: 'job.waiting', ts: 5_000, jobId: 1 });
    });

    it('writes nothing and throws ConflictError when a precondition in the middle fails', async () => {
      await store.createJob(newJob());
      const before = await snapshot(1);

      const attempt = store.applyChanges({
        jobs: [{ id: 1, expect: 'queued', set: { status: 'running', startedAt: 3_000 } }],
        stages: [
          { jobId: 1, name: 's', expect: 'queued', set: { status: 'running' } },
          { jobId: 1, name: 'svc', expect: 'running', set: { status: 'ready' } },
        ],
        tasks: [
          { jobId: 1, taskId: 1, expect: { status: 'queued' }, set: { status: 'running', attempt: 1 } },
        ],
        events: [{ type: 'job.status', ts: 3_000, jobId: 1, from: 'queued', to: 'running' }],
      });
      await expect(attempt).rejects.toBeInstanceOf(ConflictError);
      await expect(attempt).rejects.toMatchObject({
        code: 'conflict',
        details: {
          row: 'stage',
          jobId: 1,
          stage: 'svc',
          expected: { status: 'running' },
          actual: { status: 'queued' },
        },
      });

      expect(await snapshot(1)).toEqual(before);
    });

    it('throws ConflictError for a row that does not exist, writing nothing', async () => {
      await store.createJob(newJob());
      const before = await snapshot(1);
      for (const cs of [
        { jobs: [{ id: 1, set: { status: 'running' as const } }], tasks: [{ jobId: 1, taskId: 9, set: {} }] },
        {
          jobs: [{ id: 1, set: { status: 'running' as const } }],
          stages: [{ jobId: 1, name: 'nope', set: {} }],
        },
        {
          jobs: [{ id: 1, set: { status: 'running' as const } }],
          nodes: [{ id: 'ghost', set: { state: 'down' as const } }],
        },
        { jobs: [{ id: 7, expect: 'queued' as const, set: { status: 'running' as const } }] },
      ]) {
        const attempt = store.applyChanges({ ...cs, events: [{ type: 'job.status', ts: 1, jobId: 1 }] });
        await expect(attempt).rejects.toBeInstanceOf(ConflictError);
        await expect(attempt).rejects.toMatchObject({ details: { actual: null } });
      }
      expect(await snapshot(1)).toEqual(before);
    });

    it('fences task reports by attempt', async () => {
      await store.createJob(newJob());
      const start = (attempt: number) => ({
        jobId: 1,
        taskId: 1,
        expect: { attempt: attempt - 1 },
        set: { status: 'running' as const, attempt },
      });
      await store.applyChanges({ tasks: [start(1)], events: [] });
      await store.applyChanges({ tasks: [start(2)], events: [] });

      // A late report from attempt 1 must not touch attempt 2.
      const stale = store.applyChanges({
        tasks: [
          { jobId: 1, taskId: 1, expect: { status: 'running', attempt: 1 }, set: { status: 'failed' } },
        ],
        events: [{ type: 'task.status', ts: 9, jobId: 1, taskId: 1, to: 'failed' }],
      });
      await expect(stale).rejects.toBeInstanceOf(ConflictError);
      await expect(stale).rejects.toMatchObject({
        details: {
          row: 'task',
          jobId: 1,
          taskId: 1,
          expected: { status: 'running', attempt: 1 },
          actual: { status: 'running', attempt: 2 },
        },
      });
      expect((await store.getJobDetail(1))!.tasks[0]).toMatchObject({ status: 'running', attempt: 2 });
      expect(await store.listEvents({ jobId: 1 })).toHaveLength(1);

      // The current attempt's report goes through.
      await store.applyChanges({
        tasks: [
          { jobId: 1, taskId: 1, expect: { status: 'running', attempt: 2 }, set: { status: 'succeeded' } },
        ],
        events: [{ type: 'task.status', ts: 10, jobId: 1, taskId: 1, to: 'succeeded' }],
      });
      expect((await store.getJobDetail(1))!.tasks[0]).toMatchObject({ status: 'succeeded', attempt: 2 });
    });

    it('rejects a field outside the whitelist', async () => {
      await store.createJob(newJob());
      const set = { status: 'running', name: 'renamed' } as unknown as { status: 'running' };
      await expect(store.applyChanges({ jobs: [{ id: 1, set }], events: [] })).rejects.toBeInstanceOf(
        JobhubError,
      );
      expect((await store.getJob(1))!).toMatchObject({ status: 'queued', name: 'j' });
    });
  });

  describe(`${name}: events`, () => {
    it('filters by job, node and afterSeq, with a limit', async () => {
      await store.createJob(newJob());
      await store.createJob(newJob({ name: 'k' }));
      await store.registerNode(nodeInfo(), 'idle', 3_000);
      await store.applyChanges({
        events: [
          { type: 'task.status', ts: 4_000, jobId: 1, taskId: 1, nodeId: 'n1', to: 'running' },
          { type: 'job.status', ts: 4_000, jobId: 2, to: 'running' },
        ],
      });
      const seqs = async (q: Parameters<Store['listEvents']>[0]) =>
        (await store.listEvents(q)).map((e) => e.seq);
      expect(await seqs({})).toEqual([1, 2, 3, 4, 5]);
      expect(await seqs({ jobId: 1 })).toEqual([1, 4]);
      expect(await seqs({ nodeId: 'n1' })).toEqual([3, 4]);
      expect(await seqs({ jobId: 1, nodeId: 'n1' })).toEqual([4]);
      expect(await seqs({ afterSeq: 2, limit: 2 })).toEqual([3, 4]);
      expect(await seqs({ jobId: 2, afterSeq: 2 })).toEqual([5]);
      const [submitted] = await store.listEvents({ limit: 1 });
      expect(Object.keys(submitted!).sort()).toEqual(['data', 'jobId', 'seq', 'ts', 'type']);
    });
  });

  describe(`${name}: logs`, () => {
    it('ignores duplicates and reads by task and afterId', async () => {
      await store.createJob(newJob());
      await store.appendLogs([
        logLine({ seq: 1, text: 'a' }),
        logLine({ seq: 2, text: 'b' }),
        logLine({ taskId: 2, seq: 1, text: 'c', stream: 'stderr' }),
      ]);
      // A replay of seq 2 (with different text) and a new line; also a duplicate within one batch.
      await store.appendLogs([
        logLine({ seq: 2, text: 'b again' }),
        logLine({ seq: 3, text: 'd' }),
        logLine({ seq: 3, text: 'd again' }),
      ]);
      // Same seq, next attempt: a different line.
      await store.appendLogs([logLine({ attempt: 2, seq: 1, text: 'e' })]);
      await store.appendLogs([]);

      const all = await store.readLogs({ jobId: 1 });
      expect(all.map((l) => l.text)).toEqual(['a', 'b', 'c', 'd', 'e']);
      expect(all[2]).toEqual({
        id: all[2]!.id,
        jobId: 1,
        taskId: 2,
        attempt: 1,
        seq: 1,
        ts: 5_000,
        stream: 'stderr',
        text: 'c',
      });
      const ids = all.map((l) => l.id);
      expect([...ids].sort((a, b) => a - b)).toEqual(ids);

      const task1 = await store.readLogs({ jobId: 1, taskId: 1 });
      expect(task1.map((l) => l.text)).toEqual(['a', 'b', 'd', 'e']);
      expect(
        (await store.readLogs({ jobId: 1, taskId: 1, afterId: task1[1]!.id })).map((l) => l.text),
      ).toEqual(['d', 'e']);
      expect((await store.readLogs({ jobId: 1, afterId: all[1]!.id, limit: 2 })).map((l) => l.text)).toEqual([
        'c',
        'd',
      ]);
      expect(await store.readLogs({ jobId: 2 })).toEqual([]);

      // Backwards (the UI's log view): the last `limit` lines before an id, still in order.
      const tail = await store.readLogs({ jobId: 1, beforeId: Number.MAX_SAFE_INTEGER, limit: 2 });
      expect(tail.map((l) => l.text)).toEqual(['d', 'e']);
      expect(
        (await store.readLogs({ jobId: 1, beforeId: tail[0]!.id, limit: 2 })).map((l) => l.text),
      ).toEqual(['b', 'c']);
      expect((await store.readLogs({ jobId: 1, beforeId: all[1]!.id })).map((l) => l.text)).toEqual(['a']);
      expect(
        (await store.readLogs({ jobId: 1, taskId: 1, beforeId: task1[3]!.id, limit: 2 })).map((l) => l.text),
      ).toEqual(['b', 'd']);
      expect(await store.readLogs({ jobId: 1, beforeId: all[0]!.id })).toEqual([]);
    });
  });

  describe(`${name}: nodes`, () => {
    it('registers a node, then updates it on re-registration with a second event', async () => {
      const first = await store.registerNode(nodeInfo(), 'idle', 1_000);
      expect(first.node).toEqual({
        id: 'n1',
        name: 'alpha',
        state: 'idle',
        info: nodeInfo(),
        registeredAt: 1_000,
        lastSeenAt: 1_000,
        reportSeq: 0,
        instance: null,
      });
      expect(first.event).toEqual({
        seq: 1,
        type: 'node.registered',
        ts: 1_000,
        nodeId: 'n1',
        data: { info: nodeInfo() },
      });

      const info2 = nodeInfo({ name: 'alpha-2', startTime: 200 });
      const second = await store.registerNode(info2, 'draining', 2_000);
      expect(second.node).toEqual({
        id: 'n1',
        name: 'alpha-2',
        state: 'draining',
        info: info2,
        registeredAt: 2_000,
        lastSeenAt: 2_000,
        reportSeq: 0,
        instance: null,
      });
      expect(second.event.seq).toBe(2);
      expect(await store.getNode('n1')).toEqual(second.node);
      expect(await store.getNode('n2')).toBeUndefined();

      await store.registerNode(nodeInfo({ id: 'n0', name: 'aardvark' }), 'idle', 3_000);
      expect((await store.listNodes()).map((n) => n.id)).toEqual(['n0', 'n1']);

      expect(await store.listEvents({ nodeId: 'n1' })).toEqual([first.event, second.event]);
    });
  });

  describe(`${name}: persistence`, () => {
    it('keeps everything across close and reopen of the same database', async () => {
      await store.createJob(newJob());
      await store.registerNode(nodeInfo(), 'idle', 2_000);
      await store.applyChanges({
        jobs: [{ id: 1, expect: 'queued', set: { status: 'running', startedAt: 3_000 } }],
        tasks: [
          {
            jobId: 1,
            taskId: 1,
            expect: { attempt: 0 },
            set: { status: 'running', attempt: 1, nodeId: 'n1' },
          },
        ],
        events: [{ type: 'job.status', ts: 3_000, jobId: 1, from: 'queued', to: 'running' }],
      });
      await store.appendLogs([logLine({ seq: 1 }), logLine({ seq: 2 })]);

      const detail = await store.getJobDetail(1);
      const events = await store.listEvents({});
      const logs = await store.readLogs({ jobId: 1 });
      const nodes = await store.listNodes();
      const migrations = await store.migrations();
      await store.close();

      store = db.open();
      await store.migrate();
      expect(await store.migrations()).toEqual(migrations);
      expect(await store.getJobDetail(1)).toEqual(detail);
      expect(await store.listEvents({})).toEqual(events);
      expect(await store.readLogs({ jobId: 1 })).toEqual(logs);
      expect(await store.listNodes()).toEqual(nodes);
      expect(await store.listActiveJobIds()).toEqual([1]);

      // Ids and sequence numbers continue where they were.
      const next = await store.createJob(newJob({ name: 'after' }));
      expect(next.job.id).toBe(2);
      const [submitted] = await store.listEvents({ jobId: 2 });
      expect(submitted!.seq).toBe(events.at(-1)!.seq + 1);
      await store.appendLogs([logLine({ seq: 2 }), logLine({ seq: 3, text: 'new' })]);
      expect((await store.readLogs({ jobId: 1, afterId: logs.at(-1)!.id })).map((l) => l.text)).toEqual([
        'new',
      ]);
    });
  });

  describe(`${name}: cluster additions`, () => {
    it("keeps a node's report watermark and instance across re-registration", async () => {
      await store.registerNode(nodeInfo(), 'idle', 1_000);
      await store.applyChanges({
        nodes: [{ id: 'n1', set: { reportSeq: 42, instance: 'i-1' } }],
        events: [],
      });
      const again = await store.registerNode(nodeInfo(), 'idle', 2_000);
      expect(again.node).toMatchObject({ reportSeq: 42, instance: 'i-1' });
    });

    it('filters jobs by owner, labels, creation time and a keyset cursor', async () => {
      const mk = (name: string, owner: string, labels: Record<string, string>, createdAt: number) =>
        store.createJob({
          ...newJob(),
          name,
          owner: { id: `${owner}-id`, name: owner, type: 'user' },
          labels,
          createdAt,
        });
      await mk('a', 'ann', { env: 'prod', team: 'x' }, 1_000);
      await mk('b', 'bob', { env: 'dev' }, 2_000);
      await mk('c', 'ann', { env: 'prod' }, 3_000);
      const names = async (q: Parameters<typeof store.listJobs>[0]) =>
        (await store.listJobs(q)).map((j) => j.name);
      expect(await names({ owner: 'ann' })).toEqual(['c', 'a']);
      expect(await names({ owner: 'bob-id' })).toEqual(['b']);
      expect(await names({ labels: { env: 'prod' } })).toEqual(['c', 'a']);
      expect(await names({ labels: { env: 'prod', team: 'x' } })).toEqual(['a']);
      expect(await names({ labels: { 'no such': 'x' } })).toEqual([]);
      expect(await names({ createdAfter: 2_000 })).toEqual(['c', 'b']);
      expect(await names({ createdBefore: 2_000 })).toEqual(['a']);
      expect(await names({ beforeId: 3, limit: 1 })).toEqual(['b']);
    });

    it('pages an owner filter that matches by name and by id, with other filters', async () => {
      // Owner "x" is one owner's name and another's id: the list unites both, in id order.
      const owners = [
        { id: 'x', name: 'ex', type: 'org' as const },
        { id: 'o2', name: 'x', type: 'user' as const },
        { id: 'o3', name: 'other', type: 'user' as const },
      ];
      for (let i = 0; i < 12; i++) {
        await store.createJob({ ...newJob(), name: i % 3 === 0 ? 'a' : 'b', owner: owners[i % 3] ?? null });
      }
      const ids = async (q: Parameters<Store['listJobs']>[0]) => (await store.listJobs(q)).map((j) => j.id);
      expect(await ids({ owner: 'x' })).toEqual([11, 10, 8, 7, 5, 4, 2, 1]);
      expect(await ids({ owner: 'x', limit: 3 })).toEqual([11, 10, 8]);
      expect(await ids({ owner: 'x', start: 4, limit: 3 })).toEqual([7, 5, 4]);
      expect(await ids({ owner: 'x', start: 7, limit: 3 })).toEqual([2, 1]);
      expect(await ids({ owner: 'x', start: 9 })).toEqual([]);
      expect(await ids({ owner: 'x', name: 'a', start: 2, limit: 1 })).toEqual([7]);
      expect(await ids({ owner: 'x', beforeId: 8, limit: 2 })).toEqual([7, 5]);
      expect(await ids({ owner: 'other', start: 2, limit: 2 })).toEqual([9, 6]);
    });

    it('keeps agent reports in an inbox: ordered, deduplicated, below the watermark ignored', async () => {
      await store.registerNode(nodeInfo(), 'idle', 1_000);
      await store.enqueueReports([
        { nodeId: 'n1', seq: 1, body: { a: 1 } },
        { nodeId: 'n1', seq: 2, body: { a: 2 } },
        { nodeId: 'n1', seq: 1, body: { dup: true } },
        { nodeId: 'n1', seq: null, body: { reconcile: true } },
      ]);
      const items = await store.takeReports(0, 10);
      expect(items.map((i) => [i.seq, i.body])).toEqual([
        [1, { a: 1 }],
        [2, { a: 2 }],
        [null, { reconcile: true }],
      ]);
      expect(await store.nodeReportHigh('n1')).toBe(2);
      expect((await store.takeReports(items[0]?.id ?? 0, 10)).map((i) => i.seq)).toEqual([2, null]);
      await store.finishReports(
        items.map((i) => i.id),
        [{ nodeId: 'n1', seq: 2 }],
      );
      expect(await store.takeReports(0, 10)).toEqual([]);
      expect((await store.getNode('n1'))?.reportSeq).toBe(2);
      await store.enqueueReports([{ nodeId: 'n1', seq: 2, body: { replayed: true } }]);
      expect(await store.takeReports(0, 10)).toEqual([]); // already applied
      await store.finishReports([], [{ nodeId: 'n1', seq: 1 }]);
      expect(await store.nodeReportHigh('n1')).toBe(2); // never lowered
      await store.touchNodes(['n1'], 9_000);
      expect((await store.getNode('n1'))?.lastSeenAt).toBe(9_000);
    });

    it('counts jobs by status', async () => {
      await store.createJob(newJob());
      await store.createJob(newJob());
      await store.applyChanges({
        jobs: [{ id: 2, expect: 'queued', set: { status: 'running' } }],
        events: [],
      });
      expect(await store.countJobsByStatus()).toEqual({
        queued: 1,
        running: 1,
        stopping: 0,
        succeeded: 0,
        failed: 0,
        stopped: 0,
      });
    });

    it('filters events by type prefix', async () => {
      await store.createJob(newJob());
      await store.registerNode(nodeInfo(), 'idle', 1_000);
      expect((await store.listEvents({ types: ['node.'] })).map((e) => e.type)).toEqual(['node.registered']);
      expect((await store.listEvents({ types: ['job.submitted', 'node.reg'] })).map((e) => e.type)).toEqual([
        'job.submitted',
        'node.registered',
      ]);
    });

    it('stores tokens by hash only', async () => {
      await store.createToken({
        id: 't1',
        kind: 'agent',
        name: 'agents',
        hash: 'ab'.repeat(32),
        createdAt: 5,
      });
      expect(await store.findToken('ab'.repeat(32))).toEqual({
        id: 't1',
        kind: 'agent',
        name: 'agents',
        userId: null,
        scope: 'full',
        actFor: false,
        createdAt: 5,
        expiresAt: null,
        revokedAt: null,
      });
      expect(await store.findToken('cd'.repeat(32))).toBeUndefined();
      expect((await store.listTokens()).map((t) => t.id)).toEqual(['t1']);
    });

    it('keeps users, orgs, memberships, user tokens with scope and expiry, and org secrets', async () => {
      await store.createUser({ id: 'u1', name: 'ann', serverAdmin: false, createdAt: 1 });
      await store.createOrg({ id: 'o1', name: 'lab', createdAt: 2 });
      expect(await store.getUser('ann')).toEqual({ id: 'u1', name: 'ann', serverAdmin: false, createdAt: 1 });
      expect(await store.getUser('u1')).toMatchObject({ name: 'ann' });
      expect(await store.getOrg('lab')).toEqual({ id: 'o1', name: 'lab', createdAt: 2 });
      await store.setMembership('o1', 'u1', 'member');
      await store.setMembership('o1', 'u1', 'admin');
      expect(await store.listMemberships({ userId: 'u1' })).toEqual([
        { orgId: 'o1', orgName: 'lab', userId: 'u1', userName: 'ann', role: 'admin' },
      ]);
      await store.createToken({
        id: 't9',
        kind: 'user',
        name: 'portal',
        hash: 'ef'.repeat(32),
        createdAt: 3,
        userId: 'u1',
        scope: 'submit',
        actFor: true,
        expiresAt: 99,
      });
      expect(await store.getToken('t9')).toMatchObject({
        userId: 'u1',
        scope: 'submit',
        actFor: true,
        expiresAt: 99,
        revokedAt: null,
      });
      expect((await store.listTokens('u1')).map((t) => t.id)).toEqual(['t9']);
      expect(await store.revokeToken('t9', 50)).toBe(true);
      expect(await store.revokeToken('t9', 60)).toBe(true);
      expect((await store.getToken('t9'))?.revokedAt).toBe(50);
      expect(await store.revokeToken('nope', 1)).toBe(false);
      await store.putSecret('o1', 'DB_PASSWORD', 'sealed-1', 4);
      await store.putSecret('o1', 'DB_PASSWORD', 'sealed-2', 5);
      expect(await store.listSecretNames('o1')).toEqual(['DB_PASSWORD']);
      expect([...(await store.getSecrets('o1', ['DB_PASSWORD', 'OTHER']))]).toEqual([
        ['DB_PASSWORD', 'sealed-2'],
      ]);
      expect(await store.deleteSecret('o1', 'DB_PASSWORD')).toBe(true);
      expect(await store.listSecretNames('o1')).toEqual([]);
      await store.setMembership('o1', 'u1', null);
      expect(await store.listMemberships({ orgId: 'o1' })).toEqual([]);
    });

    it('filters jobs by the owners a user may see and by submitter', async () => {
      const mk = (ownerId: string, submitter: string) =>
        store.createJob({ ...newJob(), owner: { id: ownerId, name: ownerId, type: 'org' }, submitter });
      await mk('o1', 'ann');
      await mk('o2', 'bob');
      await mk('u1', 'ann');
      const ids = async (q: Parameters<Store['listJobs']>[0]) => (await store.listJobs(q)).map((j) => j.id);
      expect(await ids({ ownerIds: ['o1', 'u1'] })).toEqual([3, 1]);
      expect(await ids({ ownerIds: [] })).toEqual([]);
      expect(await ids({ submitter: 'bob' })).toEqual([2]);
      expect((await store.getJob(2))?.submitter).toBe('bob');
    });
  });

  describe(`${name}: files (migration 5)`, () => {
    const file = (over: Partial<import('../../src/store/store.js').FileRecord> = {}) => ({
      jobId: 1,
      path: 'outputs/a.txt',
      size: 3,
      sha256: 'a'.repeat(64),
      kind: 'output' as const,
      taskId: 1,
      nodeId: 'n1',
      createdAt: 10,
      ...over,
    });

    it('creates held jobs, and releases them with applyChanges', async () => {
      const held = await store.createJob(newJob({ held: true }));
      expect(held.job.held).toBe(true);
      expect((await store.createJob(newJob())).job.held).toBe(false);
      await store.applyChanges({
        jobs: [{ id: 1, expect: 'queued', set: { held: false, waitingFor: null } }],
        events: [{ type: 'job.released', ts: 5, jobId: 1 }],
      });
      expect((await store.getJob(1))?.held).toBe(false);
      expect((await store.listEvents({ jobId: 1, types: ['job.released'] })).map((e) => e.type)).toEqual([
        'job.released',
      ]);
    });

    it('keeps files per job and path, replacing one at the same path, checking the job first', async () => {
      await store.createJob(newJob({ held: true }));
      const input = file({ path: 'inputs/x.csv', kind: 'input', taskId: null, nodeId: null });
      expect(await store.putFile(input, 'held')).toBeUndefined();
      expect(await store.putFile(file(), 'active')).toBeUndefined();
      const replaced = await store.putFile(file({ sha256: 'b'.repeat(64), size: 5, createdAt: 11 }));
      expect(replaced).toEqual(file());
      expect(await store.listFiles(1)).toEqual([
        input,
        file({ sha256: 'b'.repeat(64), size: 5, createdAt: 11 }),
      ]);
      expect(await store.getFile(1, 'outputs/a.txt')).toMatchObject({ sha256: 'b'.repeat(64) });
      expect(await store.getFile(1, 'nope')).toBeUndefined();
      expect(await store.jobFilesSize(1)).toBe(8);
      await store.putFile(file({ path: 'workspace/w.zip', kind: 'workspace', size: 100 }));
      expect(await store.jobFilesSize(1)).toBe(8); // a workspace archive does not count
      // Released: no more inputs. Ended: no more outputs.
      await store.applyChanges({ jobs: [{ id: 1, set: { held: false } }], events: [] });
      await expect(store.putFile(file({ path: 'inputs/late' }), 'held')).rejects.toBeInstanceOf(
        ConflictError,
      );
      await store.applyChanges({ jobs: [{ id: 1, set: { status: 'succeeded', endedAt: 50 } }], events: [] });
      await expect(store.putFile(file({ path: 'outputs/late' }), 'active')).rejects.toThrow(
        /already succeeded/,
      );
      await expect(store.putFile(file({ jobId: 9 }))).rejects.toMatchObject({ code: 'not_found' });
      expect((await store.listFiles(1)).map((f) => f.path)).toEqual([
        'inputs/x.csv',
        'outputs/a.txt',
        'workspace/w.zip',
      ]);
    });

    it('tells whether a blob is in use, deletes files by kind, and finds ended jobs with files', async () => {
      await store.createJob(newJob());
      await store.createJob(newJob());
      await store.putFile(file());
      await store.putFile(file({ path: 'inputs/i', kind: 'input', sha256: 'c'.repeat(64) }));
      await store.createWorkspace({
        id: 'ws-1',
        name: 'w',
        sha256: 'd'.repeat(64),
        size: 9,
        format: 'zip',
        owner: null,
        createdAt: 1,
      });
      expect(await store.blobInUse('a'.repeat(64))).toBe(true);
      expect(await store.blobInUse('d'.repeat(64))).toBe(true);
      expect(await store.blobInUse('e'.repeat(64))).toBe(false);
      await store.applyChanges({ jobs: [{ id: 1, set: { status: 'failed', endedAt: 100 } }], events: [] });
      await store.applyChanges({ jobs: [{ id: 2, set: { status: 'failed', endedAt: 100 } }], events: [] });
      expect(await store.jobsWithFilesEndedBefore(101, 10)).toEqual([1]);
      expect(await store.jobsWithFilesEndedBefore(100, 10)).toEqual([]);
      expect((await store.deleteFiles(1, ['input'])).map((f) => f.path)).toEqual(['inputs/i']);
      expect(await store.blobInUse('c'.repeat(64))).toBe(false);
      expect((await store.deleteFiles(1)).map((f) => f.path)).toEqual(['outputs/a.txt']);
      expect(await store.listFiles(1)).toEqual([]);
      expect(await store.jobsWithFilesEndedBefore(101, 10)).toEqual([]);
    });

    it('deletes a finished job with its stages, tasks, logs and files, and says so in an event', async () => {
      await store.createJob(newJob());
      await store.appendLogs([logLine()]);
      await store.putFile(file());
      await expect(store.deleteJob(1, 60)).rejects.toThrow(/is queued: only a finished job can be deleted/);
      await store.applyChanges({ jobs: [{ id: 1, set: { status: 'stopped', endedAt: 50 } }], events: [] });
      const { files, event } = await store.deleteJob(1, 60);
      expect(files).toEqual([file()]);
      expect(event).toMatchObject({ type: 'job.deleted', jobId: 1, ts: 60, data: { files: 1 } });
      expect(await store.getJob(1)).toBeUndefined();
      expect(await store.getJobDetail(1)).toBeUndefined();
      expect(await store.readLogs({ jobId: 1 })).toEqual([]);
      expect(await store.listFiles(1)).toEqual([]);
      expect(await store.blobInUse('a'.repeat(64))).toBe(false);
      await expect(store.deleteJob(1, 70)).rejects.toMatchObject({ code: 'not_found' });
      expect((await store.createJob(newJob())).job.id).toBe(2); // ids are not reused
    });

    it('keeps schedules; a due tick is claimed by exactly one of many callers', async () => {
      const base = {
        template: 'nightly',
        templateVersion: null,
        cron: '0 3 * * *',
        timezone: 'Europe/Rome',
        params: { size: '10' },
        owner: { id: 'o1', name: 'lab', type: 'org' as const },
        submitter: 'ann',
        paused: false,
        nextAt: 1000,
        lastAt: null,
        lastJobId: null,
        lastError: null,
        createdAt: 1,
      };
      await store.putSchedule(base);
      await store.putSchedule({ ...base, template: 'weekly', cron: '0 3 * * 1', nextAt: 5000 });
      expect(await store.getSchedule('nightly')).toEqual(base);
      expect((await store.listSchedules()).map((s) => s.template)).toEqual(['nightly', 'weekly']);
      expect((await store.dueSchedules(1000)).map((s) => s.template)).toEqual(['nightly']);
      const claims = await Promise.all(
        Array.from({ length: 5 }, () => store.claimScheduleTick('nightly', 1000, 2000, 1001)),
      );
      expect(claims.filter(Boolean)).toHaveLength(1);
      expect(await store.claimScheduleTick('nightly', 1000, 3000, 1002)).toBe(false); // gone already
      await store.recordScheduleRun('nightly', { jobId: 7, error: null });
      expect(await store.getSchedule('nightly')).toMatchObject({ nextAt: 2000, lastAt: 1001, lastJobId: 7 });
      expect(await store.setSchedulePaused('nightly', true, 2000)).toBe(true);
      expect(await store.dueSchedules(10_000)).toHaveLength(1); // weekly only
      expect(await store.claimScheduleTick('nightly', 2000, 3000, 2001)).toBe(false); // paused
      expect(await store.setSchedulePaused('nope', true, 0)).toBe(false);
      // Replacing keeps what ran last.
      await store.putSchedule({ ...base, cron: '0 4 * * *', nextAt: 9000 });
      expect(await store.getSchedule('nightly')).toMatchObject({
        cron: '0 4 * * *',
        lastJobId: 7,
        paused: false,
      });
      expect(await store.deleteSchedule('nightly')).toBe(true);
      expect(await store.deleteSchedule('nightly')).toBe(false);
    });

    it('keeps declared locks: upsert changes the capacity, delete says whether there was one', async () => {
      expect(await store.listLockDecls()).toEqual([]);
      await store.putLockDecl({ name: 'lab', capacity: 3, createdAt: 1 });
      await store.putLockDecl({ name: 'env-a', capacity: 1, createdAt: 2 });
      await store.putLockDecl({ name: 'lab', capacity: 5, createdAt: 3 });
      expect(await store.listLockDecls()).toEqual([
        { name: 'env-a', capacity: 1, createdAt: 2 },
        { name: 'lab', capacity: 5, createdAt: 1 },
      ]);
      expect(await store.deleteLockDecl('lab')).toBe(true);
      expect(await store.deleteLockDecl('lab')).toBe(false);
      expect((await store.listLockDecls()).map((l) => l.name)).toEqual(['env-a']);
    });

    it('keeps workspaces, found by id or (newest) by name', async () => {
      const w1 = {
        id: 'ws-1',
        name: 'comp',
        sha256: '1'.repeat(64),
        size: 10,
        format: 'tar.gz',
        owner: { id: 'o1', name: 'lab', type: 'org' as const },
        createdAt: 1,
      };
      const w2 = {
        id: 'ws-2',
        name: 'comp',
        sha256: '2'.repeat(64),
        size: 20,
        format: 'zip',
        owner: null,
        createdAt: 2,
      };
      await store.createWorkspace(w1);
      await store.createWorkspace(w2);
      expect(await store.getWorkspace('ws-1')).toEqual(w1);
      expect(await store.getWorkspace('comp')).toEqual(w2);
      expect(await store.getWorkspace('none')).toBeUndefined();
      expect(await store.listWorkspaces()).toEqual([w2, w1]);
    });
  });
  describe(`${name}: templates (migration 7)`, () => {
    const tpl = (over: Partial<NewTemplate> = {}): NewTemplate => ({
      name: 'bench',
      sha256: 'a'.repeat(64),
      rawSpec: 'name: bench\n',
      description: 'a benchmark',
      owner: { id: 'o1', name: 'lab', type: 'org' },
      pushedBy: 'alice',
      createdAt: 10,
      ...over,
    });

    it('makes a new version only when the content changed; keeps every version', async () => {
      const v1 = await store.pushTemplate(tpl());
      expect(v1).toEqual({ created: true, template: { ...tpl(), version: 1 } });
      expect(await store.pushTemplate(tpl({ createdAt: 11 }))).toEqual({
        created: false,
        template: { ...tpl(), version: 1 },
      });
      const v2 = await store.pushTemplate(
        tpl({ sha256: 'b'.repeat(64), rawSpec: 'name: bench # 2\n', createdAt: 12 }),
      );
      expect(v2.created).toBe(true);
      expect(v2.template.version).toBe(2);
      // Back to the first content: a change against the newest, so a new version.
      expect((await store.pushTemplate(tpl({ createdAt: 13 }))).template.version).toBe(3);
      await store.pushTemplate(tpl({ name: 'other', owner: null, description: null, pushedBy: null }));

      expect(await store.getTemplate('bench')).toMatchObject({ version: 3, createdAt: 13 });
      expect(await store.getTemplate('bench', 2)).toEqual({
        ...tpl({ sha256: 'b'.repeat(64), rawSpec: 'name: bench # 2\n', createdAt: 12 }),
        version: 2,
      });
      expect(await store.getTemplate('bench', 4)).toBeUndefined();
      expect(await store.getTemplate('none')).toBeUndefined();
      expect((await store.listTemplateVersions('bench')).map((t) => t.version)).toEqual([3, 2, 1]);
      expect(await store.listTemplateVersions('none')).toEqual([]);
      expect((await store.listTemplates()).map((t) => [t.latest.name, t.latest.version, t.versions])).toEqual(
        [
          ['bench', 3, 3],
          ['other', 1, 1],
        ],
      );
      expect((await store.listTemplates())[1]?.latest).toEqual({
        ...tpl({ name: 'other', owner: null, description: null, pushedBy: null }),
        version: 1,
      });
    });

    it('gives concurrent pushes of one name distinct versions', async () => {
      const pushes = await Promise.all(
        [1, 2, 3, 4].map((i) => store.pushTemplate(tpl({ sha256: String(i).repeat(64), createdAt: i }))),
      );
      expect(pushes.map((p) => p.template.version).sort()).toEqual([1, 2, 3, 4]);
    });

    it('keeps the params and template a job was submitted with, and filters jobs by template', async () => {
      const a = await store.createJob(
        newJob({ params: { cluster: 'lab', runs: 3, dry: false }, template: { name: 'bench', version: 2 } }),
      );
      await store.createJob(newJob({ template: { name: 'other', version: 1 } }));
      await store.createJob(newJob());
      expect(a.job.params).toEqual({ cluster: 'lab', runs: 3, dry: false });
      expect(a.job.template).toEqual({ name: 'bench', version: 2 });
      expect((await store.getJob(a.job.id))?.template).toEqual({ name: 'bench', version: 2 });
      expect((await store.listJobs({ template: 'bench' })).map((j) => j.id)).toEqual([a.job.id]);
      expect((await store.listJobs({ template: 'none' })).map((j) => j.id)).toEqual([]);
      expect((await store.listJobs()).map((j) => j.template?.name ?? null)).toEqual([null, 'other', 'bench']);
    });
  });

  describe(`${name}: external backends (migration 10)`, () => {
    it('keeps configs (file ones replaced together) and runs with keys, offsets, reports and line numbers', async () => {
      const b = (id: string, source: 'file' | 'api') => ({
        id,
        kind: 'jenkins' as const,
        config: { url: 'http://j', job: 'deploy', user: 'u' },
        sealedToken: 'v1.sealed',
        source,
        updatedAt: 5,
      });
      await store.putBackend(b('api-one', 'api'));
      await store.replaceFileBackends([b('file-a', 'file'), b('file-b', 'file')]);
      await store.replaceFileBackends([b('file-b', 'file')]);
      expect((await store.listBackends()).map((x) => x.id)).toEqual(['api-one', 'file-b']);
      expect(await store.getBackend('api-one')).toEqual(b('api-one', 'api'));
      expect(await store.deleteBackend('api-one')).toBe(true);
      expect(await store.deleteBackend('api-one')).toBe(false);

      const { job } = await store.createJob(newJob());
      const run = {
        jobId: job.id,
        taskId: 1,
        attempt: 1,
        backendId: 'file-b',
        keys: {},
        outputOffset: 0,
        logSeq: 0,
        report: null,
        updatedAt: 1,
      };
      await store.insertBackendRun(run);
      // A second insert for the same attempt keeps the first (a run is recorded once).
      await store.insertBackendRun({ ...run, keys: { queueItem: 9 } });
      expect((await store.getBackendRun(job.id, 1, 1))?.keys).toEqual({});
      await store.updateBackendRun(job.id, 1, 1, { keys: { queueItem: 7, build: 3 }, outputOffset: 120 }, 2);
      await store.updateBackendRun(job.id, 1, 1, { report: { state: 'failed', text: 'x', progress: 50 } }, 3);
      // Line numbers are reserved atomically, however many ask at once.
      const lasts = await Promise.all([1, 2, 3, 4].map(() => store.takeBackendLogSeqs(job.id, 1, 1, 2, 4)));
      expect([...lasts].sort((x, y) => (x ?? 0) - (y ?? 0))).toEqual([2, 4, 6, 8]);
      expect(await store.takeBackendLogSeqs(job.id, 9, 1, 1, 4)).toBeUndefined();
      expect(await store.listBackendRuns(job.id)).toEqual([
        {
          ...run,
          keys: { queueItem: 7, build: 3 },
          outputOffset: 120,
          logSeq: 8,
          report: { state: 'failed', text: 'x', progress: 50 },
          updatedAt: 4,
        },
      ]);
    });
  });
}
