/**
 * `jobhub store copy`: a real SQLite store (jobs run by an embedded jobhub) copied into PostgreSQL,
 * then every record read back through the Store interface of both. Needs JOBHUB_TEST_PG_URL (the
 * notice is printed by postgres.test.ts).
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/app/config.js';
import { startEmbedded } from '../../src/app/embedded.js';
import { storeCopyCommand } from '../../src/cli/commands/store.js';
import type { CliIO } from '../../src/cli/io.js';
import { JobhubError } from '../../src/core/errors.js';
import { loadSpec } from '../../src/spec/index.js';
import { copyStore } from '../../src/store/copy.js';
import { isPostgresUrl, openStore, redactUrl, splitSchema } from '../../src/store/open.js';
import { PostgresStore } from '../../src/store/postgres/index.js';
import { SqliteStore } from '../../src/store/sqlite/index.js';
import { MIGRATIONS } from '../../src/store/sqlite/migrations.js';
import type { Store } from '../../src/store/store.js';
import { tempDir } from '../helpers/embedded.js';
import { PG_URL, randomSchema, type TestDb, testDb } from '../helpers/store.js';
import { newJob, nodeInfo } from './store-contract.js';

const OK = `name: copy-ok
stages:
  - name: build
    tasks:
      - name: out
        shell: {command: "echo one; echo two >&2; echo three"}
  - name: ship
    needs: [build]
    tasks:
      - {name: a, shell: {command: "echo a"}}
      - {name: b, shell: {command: "echo b"}}
`;
const FAILING = `name: copy-fail
stages:
  - name: check
    tasks:
      - name: fail
        shell: {command: "echo bad; exit 3"}
`;

/** Everything the Store interface can read, as one comparable value. */
async function everything(store: Store) {
  const jobs = await store.listJobs({ limit: 10_000 });
  const details = [];
  const logs = [];
  const files = [];
  const backendRuns = [];
  for (const j of jobs) {
    details.push(await store.getJobDetail(j.id));
    logs.push(await store.readLogs({ jobId: j.id }));
    files.push(await store.listFiles(j.id));
    backendRuns.push(await store.listBackendRuns(j.id));
  }
  const nodes = await store.listNodes();
  return {
    jobs,
    details,
    logs,
    events: await store.listEvents({ limit: 100_000 }),
    lastEventSeq: await store.lastEventSeq(),
    counts: await store.countJobsByStatus(),
    active: await store.listActiveJobIds(),
    nodes,
    reportHighs: await Promise.all(nodes.map((n) => store.nodeReportHigh(n.id))),
    tokens: await store.listTokens(),
    token: await store.findToken('ab'.repeat(32)),
    inbox: await store.takeReports(0, 1000),
    users: await store.listUsers(),
    orgs: await store.listOrgs(),
    members: await store.listMemberships({ orgId: 'o1' }),
    secrets: await store.getSecrets('o1', ['API_KEY']),
    files,
    workspaces: await store.listWorkspaces(),
    locks: await store.listLockDecls(),
    templates: await store.listTemplates(),
    schedules: await store.listSchedules(),
    backends: await store.listBackends(),
    backendRuns,
    templateVersions: await store.listTemplateVersions('t'),
  };
}

function captureIO(): CliIO & { out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  return {
    stdout,
    stderr,
    env: {},
    cwd: process.cwd(),
    isTTY: false,
    columns: () => 100,
    out: () => out,
    err: () => err,
  };
}

describe('store URLs', () => {
  it('tells URLs from data folders and takes the schema out of a URL', () => {
    expect(isPostgresUrl('postgres://u@h/db')).toBe(true);
    expect(isPostgresUrl('postgresql://u@h/db')).toBe(true);
    expect(isPostgresUrl('./.jobhub')).toBe(false);
    expect(splitSchema('postgres://u@h:5432/db?schema=jh&sslmode=disable')).toEqual({
      url: 'postgres://u@h:5432/db?sslmode=disable',
      schema: 'jh',
    });
    expect(splitSchema('postgres://u@h/db')).toEqual({ url: 'postgres://u@h/db', schema: undefined });
    expect(redactUrl('postgres://u:secret@h/db')).toBe('postgres://u:***@h/db');
    expect(redactUrl('postgres://u@h/db')).toBe('postgres://u@h/db');
  });

  it('opens a data folder as SQLite, migrated', async () => {
    const dir = tempDir();
    try {
      const store = await openStore(dir);
      expect(store).toBeInstanceOf(SqliteStore);
      expect((store as SqliteStore).file).toBe(path.join(dir, 'jobhub.db'));
      expect((await store.migrations()).length).toBe(MIGRATIONS.length);
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses to copy from a URL, to a folder, or from a folder without data', async () => {
    const io = captureIO();
    await expect(
      storeCopyCommand({ from: 'postgres://x@h/db', to: 'postgres://y@h/db' }, io),
    ).rejects.toMatchObject({
      code: 'unsupported',
    });
    await expect(storeCopyCommand({ from: '/tmp', to: '/tmp/other' }, io)).rejects.toMatchObject({
      code: 'bad_request',
    });
    const empty = tempDir();
    try {
      await expect(storeCopyCommand({ from: empty, to: 'postgres://y@h/db' }, io)).rejects.toMatchObject({
        code: 'not_found',
      });
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!PG_URL)('store copy: SQLite to PostgreSQL', () => {
  let dir: string;
  const dbs: TestDb[] = [];

  beforeAll(async () => {
    // A real store: jobs run by an embedded jobhub (nodes, events, logs), plus tokens and inbox items.
    dir = tempDir('jobhub-copy-');
    const app = await startEmbedded({ ...defaultConfig(), dataDir: dir, stopGraceMs: 2000 });
    try {
      const submit = (text: string) => app.coordinator.submit({ spec: loadSpec(text).spec, rawSpec: text });
      const ok = await submit(OK);
      const failing = await submit(FAILING);
      expect((await app.coordinator.waitForEnd(ok.id)).status).toBe('succeeded');
      expect((await app.coordinator.waitForEnd(failing.id)).status).toBe('failed');
      const retried = await app.coordinator.retry(failing.id);
      await app.coordinator.waitForEnd(retried.id);
      await app.store.createJob(newJob({ name: 'queued-one', createdAt: Date.now() })); // stays queued
      await app.store.registerNode(nodeInfo({ id: 'remote-1', name: 'remote' }), 'idle', 1_000);
      await app.store.applyChanges({
        nodes: [{ id: 'remote-1', set: { reportSeq: 7, instance: 'inst-1' } }],
        events: [],
      });
      await app.store.createToken({
        id: 't1',
        kind: 'agent',
        name: 'agents',
        hash: 'ab'.repeat(32),
        createdAt: 5,
      });
      await app.store.createUser({ id: 'admin', name: 'admin', serverAdmin: true, createdAt: 6 });
      await app.store.createOrg({ id: 'o1', name: 'lab', createdAt: 6 });
      await app.store.setMembership('o1', 'admin', 'admin');
      await app.store.putSecret('o1', 'API_KEY', 'sealed-bytes', 7);
      const firstJob = (await app.store.listJobs({ limit: 1 }))[0]!.id;
      await app.store.putFile({
        jobId: firstJob,
        path: 'outputs/result.txt',
        size: 3,
        sha256: 'ee'.repeat(32),
        kind: 'output',
        taskId: null,
        nodeId: null,
        createdAt: 8,
      });
      await app.store.createWorkspace({
        id: 'w1',
        name: 'src',
        sha256: 'ff'.repeat(32),
        size: 10,
        format: 'tar.gz',
        owner: { id: 'u1', name: 'ann', type: 'user' },
        createdAt: 9,
      });
      await app.store.putLockDecl({ name: 'lab', capacity: 3, createdAt: 10 });
      await app.store.putBackend({
        id: 'jenkins-prod',
        kind: 'jenkins',
        config: { url: 'http://j', job: 'deploy' },
        sealedToken: 'v1.x',
        source: 'api',
        updatedAt: 13,
      });
      await app.store.insertBackendRun({
        jobId: 1,
        taskId: 1,
        attempt: 1,
        backendId: 'jenkins-prod',
        keys: { queueItem: 4, build: 2 },
        outputOffset: 33,
        logSeq: 3,
        report: { state: 'running', text: null, progress: 10 },
        updatedAt: 14,
      });
      await app.store.putSchedule({
        template: 'nightly',
        templateVersion: 2,
        cron: '0 3 * * *',
        timezone: 'UTC',
        params: { n: '1' },
        owner: null,
        submitter: 'admin',
        paused: true,
        nextAt: 20,
        lastAt: 11,
        lastJobId: 1,
        lastError: 'x',
        createdAt: 12,
      });
      for (const [i, rawSpec] of ['name: t\n', 'name: t # 2\n'].entries()) {
        await app.store.pushTemplate({
          name: 't',
          sha256: String(i).repeat(64),
          rawSpec,
          description: null,
          owner: { id: 'o1', name: 'lab', type: 'org' },
          pushedBy: 'admin',
          createdAt: 11 + i,
        });
      }
      await app.store.createJob(
        newJob({ name: 'from-template', params: { n: 2, on: true }, template: { name: 't', version: 2 } }),
      );
      await app.store.createToken({
        id: 't2',
        kind: 'user',
        name: 'admin',
        userId: 'admin',
        hash: 'cd'.repeat(32),
        createdAt: 6,
      });
      await app.store.enqueueReports([
        { nodeId: 'remote-1', seq: 8, body: { type: 'done', n: 8 } },
        { nodeId: 'remote-1', seq: 9, body: { type: 'done', n: 9 } },
        { nodeId: 'remote-1', seq: null, body: { type: 'reconcile' } },
      ]);
      // An applied (deleted) item: the inbox id sequence is past the rows that remain.
      const [first] = await app.store.takeReports(0, 1);
      await app.store.finishReports([first!.id], [{ nodeId: 'remote-1', seq: 8 }]);
    } finally {
      await app.close();
    }
  }, 60_000);

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  afterEach(async () => {
    for (const db of dbs.splice(0)) await db.dispose();
  });

  async function sourceStore(): Promise<SqliteStore> {
    const store = await openStore(dir);
    if (!(store instanceof SqliteStore)) throw new Error('a data folder must open as SQLite');
    return store;
  }

  async function target(): Promise<PostgresStore> {
    const db = testDb('postgres');
    dbs.push(db);
    const store = db.open() as PostgresStore;
    await store.migrate();
    return store;
  }

  it('copies every record, reads back the same through both stores, and ids continue', async () => {
    const source = await sourceStore();
    const to = await target();
    try {
      const before = await everything(source);
      expect(before.logs.flat().length).toBeGreaterThan(5);
      expect(before.nodes.length).toBeGreaterThan(1);

      const report = await copyStore(source, to, { batchSize: 3 }); // small batches: many of them
      expect(report.copied).toEqual({
        jobs: before.jobs.length,
        stages: before.details.reduce((n, d) => n + d!.stages.length, 0),
        tasks: before.details.reduce((n, d) => n + d!.tasks.length, 0),
        events: before.events.length,
        logs: before.logs.flat().length,
        nodes: before.nodes.length,
        tokens: 2,
        report_inbox: 2,
        users: 1,
        orgs: 1,
        memberships: 1,
        secrets: 1,
        files: 1,
        workspaces: 1,
        locks: 1,
        templates: 2,
        schedules: 1,
        backends: 1,
        backend_runs: 1,
      });
      const copied = await everything(to);
      expect(copied).toEqual(before);
      expect(await to.findToken('cd'.repeat(32))).toEqual(await source.findToken('cd'.repeat(32)));
      // The retry link and the watermark came along.
      expect(copied.jobs.some((j) => j.retryOf !== null)).toBe(true);
      expect(await to.getNode('remote-1')).toMatchObject({ reportSeq: 8, instance: 'inst-1' });

      // Sequences continue after the copied ids (the inbox's after its deleted item too).
      const lastJob = Math.max(...before.jobs.map((j) => j.id));
      const lastLog = Math.max(...before.logs.flat().map((l) => l.id));
      expect(report.next).toEqual({
        jobs: lastJob + 1,
        events: before.lastEventSeq + 1,
        logs: lastLog + 1,
        report_inbox: 4,
      });
      const next = await to.createJob(newJob({ name: 'after-copy' }));
      expect(next.job.id).toBe(lastJob + 1);
      expect(await to.lastEventSeq()).toBe(before.lastEventSeq + 1);
      await to.appendLogs([
        { jobId: next.job.id, taskId: 1, attempt: 1, seq: 1, ts: 1, stream: 'stdout', text: 'x' },
      ]);
      expect((await to.readLogs({ jobId: next.job.id }))[0]!.id).toBe(lastLog + 1);
      await to.enqueueReports([{ nodeId: 'remote-1', seq: null, body: {} }]);
      expect((await to.takeReports(0, 10)).at(-1)!.id).toBe(4);
    } finally {
      await source.close();
    }
  });

  it('refuses a target that is not empty, writing nothing', async () => {
    const source = await sourceStore();
    const to = await target();
    try {
      await to.createToken({ id: 'x', kind: 'agent', name: 'x', hash: 'ef'.repeat(32), createdAt: 1 });
      const attempt = copyStore(source, to);
      await expect(attempt).rejects.toBeInstanceOf(JobhubError);
      await expect(attempt).rejects.toMatchObject({ code: 'conflict', message: /not empty \(1 tokens\)/ });
      expect(await to.listJobs()).toEqual([]);
      expect(await to.listTokens()).toHaveLength(1);
    } finally {
      await source.close();
    }
  });

  it('jobhub store copy: prints the counts, then refuses a second copy into the same schema', async () => {
    const schema = randomSchema();
    dbs.push({
      kind: 'postgres',
      where: schema,
      open: () => {
        throw new Error('not used');
      },
      migrateTo: async () => {},
      raw: async () => {},
      dispose: async () => {
        const s = PostgresStore.open(PG_URL!, { poolSize: 1 });
        await s.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await s.close();
      },
    });
    const url = new URL(PG_URL!);
    url.searchParams.set('schema', schema);
    const io = captureIO();
    expect(await storeCopyCommand({ from: dir, to: url.toString() }, io)).toBe(0);
    expect(io.out()).toMatch(/^copied .*jobhub\.db into postgres:\/\/.* in \d+\.\ds:$/m);
    expect(io.out()).toMatch(/^ {2}jobs +\d+$/m);
    expect(io.out()).toMatch(/^ {2}report_inbox +2$/m);
    expect(io.out()).toMatch(
      /^counts checked; ids continue at: job id \d+, event seq \d+, log line id \d+, inbox id 4$/m,
    );

    const copied = await openStore(url.toString());
    try {
      expect(copied).toBeInstanceOf(PostgresStore);
      expect((copied as PostgresStore).schema).toBe(schema);
      expect((await copied.listTokens()).map((t) => t.id)).toEqual(['t1', 't2']);
    } finally {
      await copied.close();
    }
    await expect(storeCopyCommand({ from: dir, to: url.toString() }, captureIO())).rejects.toMatchObject({
      code: 'conflict',
    });
  });
});
