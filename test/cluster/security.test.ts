/**
 * Security, end to end on a real server process and a real agent: the permission matrix (every
 * documented route × every role), isolation between orgs through lists, searches, events, logs and
 * live streams, secrets (masked in logs, never in the API, the store or the spec), tokens only as
 * hashes, agent tokens that stop working when revoked, CORS off.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFrames } from '../helpers/api.js';
import { tarBuffer } from '../helpers/archives.js';
import { ADMIN, AGENT, type Proc, type ServerProc, startAgent, startServer } from '../helpers/cluster.js';
import { type Answer, type Population, populate, ROLES, type Role } from '../helpers/principals.js';

const SECRET_VALUE = 'sup3r-s3cret-value-42';

/** Roles whose answer is the same on every route that needs a token. */
const UNIFORM: Partial<Record<Role, number>> = { none: 401, revoked: 401, expired: 401, agent: 403 };
/** The roles whose answers differ by route. */
type Varying = 'viewer' | 'member' | 'orgAdmin' | 'other' | 'readScope' | 'serverAdmin';

interface Req {
  method: string;
  path: string;
  body?: unknown;
  type?: string;
}

interface Op {
  /** What the route's operationId is in the OpenAPI document. */
  id: string;
  /** Builds the request (and whatever it needs first) for a role. */
  req(role: Role): Req | Promise<Req>;
  expect: Record<Varying, number>;
  /** Needs no token: every role gets `expect.member`. */
  open?: boolean;
  /** Answers of the token roles that differ from UNIFORM (ASCOB: 403 for a wrong token). */
  uniform?: Partial<Record<Role, number>>;
}

/** The ASCOB runs API (seed 002): 401 without a token, 403 with a wrong (unknown, revoked, expired) one. */
const ASCOB_UNIFORM: Partial<Record<Role, number>> = { none: 401, revoked: 403, expired: 403, agent: 403 };

const all = (s: number): Record<Varying, number> => ({
  viewer: s,
  member: s,
  orgAdmin: s,
  other: s,
  readScope: s,
  serverAdmin: s,
});
/** Reading something of org A. */
const readA = (ok: number) => ({ ...all(ok), other: 404 });
/** Changing a job of org A (members and admins). */
const changeJobA = (ok: number) => ({
  viewer: 403,
  member: ok,
  orgAdmin: ok,
  other: 404,
  readScope: 403,
  serverAdmin: ok,
});
/** Administering org A (its admins). */
const adminA = (ok: number) => ({
  viewer: 403,
  member: 403,
  orgAdmin: ok,
  other: 404,
  readScope: 403,
  serverAdmin: ok,
});
/** Server administration. */
const serverOnly = (ok: number) => ({ ...all(403), serverAdmin: ok });

let server: ServerProc;
let agent: Proc;
let pop: Population;
let jobA: number;
let jobB: number;
/** A finished job of org A that kept an output file. */
let jobAFiles: number;
let fileOfA = '';
/** A tar.gz to push as a workspace. */
let archive: Buffer;
let nodeId: string;
const extraProcs: Proc[] = [];

const specA = (name: string, command: string) => `name: ${name}
owner: {type: org, name: lab-a}
labels: {team: a}
stages:
  - name: s
    tasks:
      - name: t
        shell: {command: "${command}"}
        env: [{k: KEY, v: "{{.Secrets.API_KEY}}"}, {k: TRAP, v: "$(touch pwned-marker) \`touch pwned-marker\`"}]
`;
const specAOut = (name: string) => `name: ${name}
owner: {type: org, name: lab-a}
stages:
  - name: s
    tasks:
      - name: t
        shell: {command: "echo a-result > result.txt"}
        outputs: [result.txt]
`;
/** A job of org A that waits for an input uploaded before its release. */
const specAHeld = (name: string) => `name: ${name}
owner: {type: org, name: lab-a}
inputs: [data.txt]
stages:
  - name: s
    tasks:
      - {name: t, shell: {command: "cat data.txt"}}
`;
const specB = (name: string) => `name: ${name}
owner: {type: org, name: lab-b}
stages:
  - name: s
    tasks:
      - {name: t, shell: {command: "echo b-output"}}
`;

/** A template of org A, with a parameter. */
const templateA = (name: string) => `name: ${name}
owner: {type: org, name: lab-a}
params:
  word: {type: enum, values: [hello, bye], required: true}
stages:
  - name: s
    tasks:
      - {name: t, shell: {command: "echo {{.Params.word}}"}}
`;

/** The name of a template of org A, pushed by a member the first time. */
async function templateOfA(): Promise<string> {
  const a = await pop.call('member', 'POST', '/api/v1/templates', templateA('tpl-of-a'));
  if (a.status !== 200 && a.status !== 201) throw new Error(`push: ${a.status} ${a.text}`);
  return 'tpl-of-a';
}

/** The template of org A with a (nightly) schedule: its name. */
async function scheduleOfA(): Promise<string> {
  const name = await templateOfA();
  const a = await pop.call('serverAdmin', 'PUT', `/api/v1/templates/${name}/schedule`, {
    cron: '0 3 * * *',
    params: { word: 'hello' },
  });
  if (a.status !== 200) throw new Error(`schedule: ${a.status} ${a.text}`);
  return name;
}

/** A fresh name per call (creating the same user twice would be a 409, not what is tested). */
let seq = 0;
const fresh = (prefix: string) => `${prefix}${++seq}`;

async function withPg<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Every row of every table of the store, as text (what someone with the database would see). */
async function storeBytes(pgUrl: string | undefined): Promise<Buffer> {
  if (!pgUrl) {
    const files = readdirSync(server.dataDir).filter((f) => f.startsWith('jobhub.db'));
    expect(files).toContain('jobhub.db');
    return Buffer.concat(files.map((f) => readFileSync(path.join(server.dataDir, f))));
  }
  return withPg(pgUrl, async (c) => {
    const tables = await c.query<{ table_name: string }>(
      'SELECT table_name FROM information_schema.tables WHERE table_schema = $1',
      [pgSchema],
    );
    expect(tables.rows.map((t) => t.table_name)).toEqual(
      expect.arrayContaining(['tokens', 'secrets', 'logs']),
    );
    const parts: string[] = [];
    for (const t of tables.rows) {
      const rows = await c.query(`SELECT row_to_json(x)::text AS j FROM ${pgSchema}.${t.table_name} x`);
      for (const r of rows.rows as Array<{ j: string }>) parts.push(r.j);
    }
    return Buffer.from(parts.join('\n'));
  });
}

async function ok(a: Answer, status = 200): Promise<Answer> {
  if (a.status !== status) {
    const log = a.status >= 500 ? `\nserver:\n${server.out().slice(-2000)}` : '';
    throw new Error(`expected ${status}, got ${a.status}: ${a.text}${log}`);
  }
  return a;
}

async function submitA(name: string, command: string, role: Role = 'member'): Promise<number> {
  const a = await ok(await pop.call(role, 'POST', '/api/v1/jobs', specA(name, command)), 201);
  return (a.body as { id: number }).id;
}

/** A held job of org A (it waits for its input), submitted by a member. */
async function heldA(): Promise<number> {
  const a = await ok(
    await pop.call('member', 'POST', '/api/v1/jobs?hold=true', specAHeld(fresh('held'))),
    201,
  );
  return (a.body as { id: number }).id;
}

/** An ASCOB run of org A running `spec` (a jobhub spec); manualStart holds it. */
async function runA(spec: string, manualStart = false): Promise<number> {
  const a = await ok(
    await pop.call('member', 'POST', '/api/runs', {
      jobSpec: { description: 'run of a', manualStart, jobhub: spec },
    }),
  );
  return (a.body as { runId: number }).runId;
}

/** A compendium (workspace) of org A whose jobhub.yaml runs a short task; its name. */
let compendiumA: string | undefined;
async function compendiumOfA(): Promise<string> {
  if (compendiumA) return compendiumA;
  const tar = await tarBuffer([
    {
      name: 'jobhub.yaml',
      content: 'name: comp\nstages:\n  - name: s\n    tasks: [{name: t, shell: {command: "cat run.sh"}}]\n',
    },
    { name: 'run.sh', content: 'echo from-workspace\n' },
  ]);
  await ok(await pop.call('member', 'POST', '/api/v1/workspaces?name=comp-a&owner=lab-a', tar), 201);
  compendiumA = 'comp-a';
  return compendiumA;
}

/** An o2r job of org A; its id. */
let o2rJobA: string | undefined;
async function o2rJobOfA(): Promise<string> {
  if (o2rJobA) return o2rJobA;
  const body = `compendium_id=${await compendiumOfA()}`;
  const a = await ok(
    await pop.call('member', 'POST', '/api/v1/job', body, 'application/x-www-form-urlencoded'),
  );
  o2rJobA = (a.body as { job_id: string }).job_id;
  return o2rJobA;
}

/** A finished job of org A, for roles that may delete it. */
async function endedA(): Promise<number> {
  const id = await submitA(fresh('done'), 'true');
  await waitEnd(id);
  return id;
}

async function waitEnd(id: number): Promise<string> {
  // The job's event stream ends when the job does.
  const res = await fetch(`${server.url}/api/v1/jobs/${id}/events?follow=true`, {
    headers: { 'x-api-token': ADMIN, accept: 'text/event-stream' },
  });
  const { frames } = await readFrames(res);
  const end = frames.at(-1);
  return end?.event === 'end' ? (JSON.parse(end.data) as { status: string }).status : 'unknown';
}

const PG = process.env.JOBHUB_TEST_PG_URL;
if (!PG)
  console.warn('security tests on PostgreSQL skipped: set JOBHUB_TEST_PG_URL=postgres://... to run them');
/** Every test below runs on each store: the rules are the server's, the data lives in the store. */
const BACKENDS: Array<[string, string | undefined]> = [
  ['SQLite', undefined],
  ...(PG ? [['PostgreSQL', PG] as [string, string]] : []),
];
let pgSchema = '';

describe.each(BACKENDS)('on %s', (_backend, pgUrl) => {
  beforeAll(async () => {
    const storeArgs: string[] = [];
    const env: Record<string, string> = {};
    if (pgUrl) {
      pgSchema = `jh_sec_${randomBytes(4).toString('hex')}`;
      await withPg(pgUrl, (c) => c.query(`CREATE SCHEMA ${pgSchema}`));
      storeArgs.push('--database', pgUrl, '--database-schema', pgSchema);
      env.JOBHUB_SERVER_KEY = 'security-test-key';
    }
    // Made lazily on each server: none from the previous store.
    compendiumA = undefined;
    o2rJobA = undefined;
    server = await startServer({
      args: ['--heartbeat', '500ms', '--heartbeat-timeout', '3s', ...storeArgs],
      env,
    });
    agent = startAgent({ server: server.url, name: 'sec-node' });
    await agent.waitFor(/connected to .* as node (\S+)/);
    pop = await populate(server.url, ADMIN, AGENT);
    await ok(
      await pop.call('orgAdmin', 'PUT', '/api/v1/orgs/lab-a/secrets/API_KEY', { value: SECRET_VALUE }),
      204,
    );
    jobA = await submitA('a-job', 'echo key=$KEY; echo trap=$TRAP; ls pwned-marker || echo no-marker');
    const b = await ok(await pop.call('other', 'POST', '/api/v1/jobs', specB('b-job')), 201);
    jobB = (b.body as { id: number }).id;
    const f = await ok(await pop.call('member', 'POST', '/api/v1/jobs', specAOut('a-files')), 201);
    jobAFiles = (f.body as { id: number }).id;
    expect(await waitEnd(jobA)).toBe('succeeded');
    expect(await waitEnd(jobB)).toBe('succeeded');
    expect(await waitEnd(jobAFiles)).toBe('succeeded');
    const listed = (await ok(await pop.call('member', 'GET', `/api/v1/jobs/${jobAFiles}/files`))).body as {
      files: Array<{ path: string }>;
    };
    fileOfA = listed.files.find((f) => f.path.endsWith('result.txt'))?.path ?? '';
    expect(fileOfA).not.toBe('');
    archive = await tarBuffer([{ name: 'run.sh', content: 'echo from-workspace\n' }]);
    const nodes = (await ok(await pop.call('serverAdmin', 'GET', '/api/v1/nodes'))).body as {
      results: Array<{ id: string }>;
    };
    nodeId = nodes.results[0]?.id ?? '';
  }, 60_000);

  afterAll(async () => {
    for (const p of extraProcs) await p.kill();
    await agent?.kill();
    await server?.kill();
    if (pgUrl && pgSchema) await withPg(pgUrl, (c) => c.query(`DROP SCHEMA IF EXISTS ${pgSchema} CASCADE`));
  });

  function operations(): Op[] {
    const A = () => `/api/v1/jobs/${jobA}`;
    return [
      { id: 'whoami', req: () => ({ method: 'GET', path: '/api/v1/whoami' }), expect: all(200) },
      {
        id: 'submitJob',
        req: () => ({ method: 'POST', path: '/api/v1/jobs', body: specA(fresh('sub'), 'true') }),
        // To a user outside org A the org does not exist: the same 400 as an unknown name.
        expect: { viewer: 403, member: 201, orgAdmin: 201, other: 400, readScope: 403, serverAdmin: 201 },
      },
      { id: 'listJobs', req: () => ({ method: 'GET', path: '/api/v1/jobs' }), expect: all(200) },
      { id: 'getJob', req: () => ({ method: 'GET', path: A() }), expect: readA(200) },
      { id: 'getJobSpec', req: () => ({ method: 'GET', path: `${A()}/spec` }), expect: readA(200) },
      { id: 'getJobPlan', req: () => ({ method: 'GET', path: `${A()}/plan` }), expect: readA(200) },
      { id: 'listJobEvents', req: () => ({ method: 'GET', path: `${A()}/events` }), expect: readA(200) },
      { id: 'listJobLogs', req: () => ({ method: 'GET', path: `${A()}/logs` }), expect: readA(200) },
      {
        id: 'stopJob',
        async req(role) {
          // Roles that may stop get a running job of their own to stop; the others try job A.
          const allowed = changeJobA(202)[role as Varying] === 202;
          const id = allowed ? await submitA(fresh('sleeper'), 'sleep 60') : jobA;
          return { method: 'POST', path: `/api/v1/jobs/${id}/stop` };
        },
        expect: changeJobA(202),
      },
      { id: 'retryJob', req: () => ({ method: 'POST', path: `${A()}/retry` }), expect: changeJobA(201) },
      {
        id: 'planSpec',
        req: () => ({ method: 'POST', path: '/api/v1/plan', body: specB('p') }),
        expect: all(200),
      },
      {
        id: 'validateSpec',
        req: () => ({ method: 'POST', path: '/api/v1/specs/validate', body: specB('v') }),
        expect: all(200),
      },
      { id: 'listNodes', req: () => ({ method: 'GET', path: '/api/v1/nodes' }), expect: all(200) },
      { id: 'getNode', req: () => ({ method: 'GET', path: `/api/v1/nodes/${nodeId}` }), expect: all(200) },
      {
        id: 'listNodeEvents',
        req: () => ({ method: 'GET', path: `/api/v1/nodes/${nodeId}/events` }),
        expect: all(200),
      },
      { id: 'listEvents', req: () => ({ method: 'GET', path: '/api/v1/events' }), expect: all(200) },
      {
        id: 'createUser',
        req: () => ({ method: 'POST', path: '/api/v1/users', body: { name: fresh('u') } }),
        expect: serverOnly(201),
      },
      { id: 'listUsers', req: () => ({ method: 'GET', path: '/api/v1/users' }), expect: serverOnly(200) },
      {
        id: 'createOrg',
        req: () => ({ method: 'POST', path: '/api/v1/orgs', body: { name: fresh('o') } }),
        expect: serverOnly(201),
      },
      { id: 'listOrgs', req: () => ({ method: 'GET', path: '/api/v1/orgs' }), expect: all(200) },
      {
        id: 'listMembers',
        req: () => ({ method: 'GET', path: '/api/v1/orgs/lab-a/members' }),
        expect: readA(200),
      },
      {
        id: 'setMember',
        req: () => ({ method: 'PUT', path: '/api/v1/orgs/lab-a/members/otto', body: { role: 'viewer' } }),
        expect: adminA(200),
      },
      {
        id: 'removeMember',
        req: () => ({ method: 'DELETE', path: '/api/v1/orgs/lab-a/members/otto' }),
        expect: adminA(204),
      },
      {
        id: 'listSecrets',
        req: () => ({ method: 'GET', path: '/api/v1/orgs/lab-a/secrets' }),
        expect: readA(200),
      },
      {
        id: 'putSecret',
        req: () => ({ method: 'PUT', path: '/api/v1/orgs/lab-a/secrets/OTHER', body: { value: 'x' } }),
        expect: adminA(204),
      },
      {
        id: 'deleteSecret',
        async req() {
          const name = fresh('GONE_');
          await ok(
            await pop.call('serverAdmin', 'PUT', `/api/v1/orgs/lab-a/secrets/${name}`, { value: 'y' }),
            204,
          );
          return { method: 'DELETE', path: `/api/v1/orgs/lab-a/secrets/${name}` };
        },
        expect: adminA(204),
      },
      {
        id: 'createToken',
        req: () => ({ method: 'POST', path: '/api/v1/tokens', body: { name: fresh('t') } }),
        expect: { ...all(201), readScope: 403 },
      },
      { id: 'listTokens', req: () => ({ method: 'GET', path: '/api/v1/tokens' }), expect: all(200) },
      {
        id: 'revokeToken',
        async req(role) {
          // Each role revokes a token of its own user.
          const user = pop.users[role] ?? 'mia';
          const made = await ok(
            await pop.call('serverAdmin', 'POST', '/api/v1/tokens', { name: fresh('r'), user }),
            201,
          );
          const id = (made.body as { record: { id: string } }).record.id;
          return { method: 'DELETE', path: `/api/v1/tokens/${id}` };
        },
        expect: { ...all(200), readScope: 403 },
      },
      {
        id: 'listJobFiles',
        req: () => ({ method: 'GET', path: `/api/v1/jobs/${jobAFiles}/files` }),
        expect: readA(200),
      },
      {
        id: 'downloadJobFile',
        req: () => ({ method: 'GET', path: `/api/v1/jobs/${jobAFiles}/files/${fileOfA}` }),
        expect: readA(200),
      },
      {
        id: 'downloadJobArchive',
        req: () => ({ method: 'GET', path: `/api/v1/jobs/${jobAFiles}/archive` }),
        expect: readA(200),
      },
      {
        id: 'uploadJobInput',
        async req() {
          return {
            method: 'POST',
            path: `/api/v1/jobs/${await heldA()}/files?name=data.txt`,
            body: Buffer.from('in\n'),
          };
        },
        expect: { ...changeJobA(201), readScope: 403 },
      },
      {
        id: 'releaseJob',
        async req() {
          const id = await heldA();
          await ok(
            await pop.call('member', 'POST', `/api/v1/jobs/${id}/files?name=data.txt`, Buffer.from('in\n')),
            201,
          );
          return { method: 'POST', path: `/api/v1/jobs/${id}/release` };
        },
        expect: changeJobA(202),
      },
      {
        id: 'deleteJob',
        async req(role) {
          // Roles that may delete get a finished job of their own; the others try job A.
          const allowed = changeJobA(200)[role as Varying] === 200;
          return { method: 'DELETE', path: `/api/v1/jobs/${allowed ? await endedA() : jobA}` };
        },
        expect: changeJobA(200),
      },
      {
        id: 'pushWorkspace',
        req: () => ({ method: 'POST', path: `/api/v1/workspaces?name=${fresh('ws')}`, body: archive }),
        // Anyone with a user and a full-scope token may keep workspaces of their own.
        expect: { ...all(201), readScope: 403 },
      },
      { id: 'listWorkspaces', req: () => ({ method: 'GET', path: '/api/v1/workspaces' }), expect: all(200) },
      { id: 'listLocks', req: () => ({ method: 'GET', path: '/api/v1/locks' }), expect: all(200) },
      {
        id: 'pushTemplate',
        req: () => ({ method: 'POST', path: '/api/v1/templates', body: templateA(fresh('tpl')) }),
        // As submitting for org A: to a user outside it the org does not exist (400).
        expect: { viewer: 403, member: 201, orgAdmin: 201, other: 400, readScope: 403, serverAdmin: 201 },
      },
      { id: 'listTemplates', req: () => ({ method: 'GET', path: '/api/v1/templates' }), expect: all(200) },
      {
        id: 'getTemplate',
        req: async () => ({ method: 'GET', path: `/api/v1/templates/${await templateOfA()}` }),
        expect: readA(200),
      },
      {
        id: 'getTemplateVersion',
        req: async () => ({ method: 'GET', path: `/api/v1/templates/${await templateOfA()}/versions/1` }),
        expect: readA(200),
      },
      {
        id: 'setSchedule',
        req: async () => ({
          method: 'PUT',
          path: `/api/v1/templates/${await templateOfA()}/schedule`,
          body: { cron: '0 3 * * *', timezone: 'Europe/Rome', params: { word: 'bye' } },
        }),
        expect: changeJobA(200),
      },
      { id: 'listSchedules', req: () => ({ method: 'GET', path: '/api/v1/schedules' }), expect: all(200) },
      {
        id: 'getSchedule',
        req: async () => ({ method: 'GET', path: `/api/v1/templates/${await scheduleOfA()}/schedule` }),
        expect: readA(200),
      },
      {
        id: 'pauseSchedule',
        req: async () => ({
          method: 'POST',
          path: `/api/v1/templates/${await scheduleOfA()}/schedule/pause`,
        }),
        expect: changeJobA(200),
      },
      {
        id: 'resumeSchedule',
        req: async () => ({
          method: 'POST',
          path: `/api/v1/templates/${await scheduleOfA()}/schedule/resume`,
        }),
        expect: changeJobA(200),
      },
      {
        id: 'deleteSchedule',
        req: async () => ({ method: 'DELETE', path: `/api/v1/templates/${await scheduleOfA()}/schedule` }),
        expect: changeJobA(204),
      },
      {
        id: 'declareLock',
        req: () => ({ method: 'PUT', path: `/api/v1/locks/${fresh('lk')}`, body: { capacity: 2 } }),
        expect: serverOnly(200),
      },
      {
        id: 'undeclareLock',
        async req() {
          const name = fresh('gone-lock');
          await ok(await pop.call('serverAdmin', 'PUT', `/api/v1/locks/${name}`, { capacity: 1 }));
          return { method: 'DELETE', path: `/api/v1/locks/${name}` };
        },
        expect: serverOnly(204),
      },
      {
        id: 'breakLock',
        req: () => ({ method: 'POST', path: '/api/v1/locks/nobody-holds-it/break' }),
        expect: serverOnly(200),
      },
      // External backends: read by every user (never their credentials), changed by server admins.
      { id: 'listBackends', req: () => ({ method: 'GET', path: '/api/v1/backends' }), expect: all(200) },
      {
        id: 'getBackend',
        async req() {
          const id = fresh('bk-read');
          await ok(
            await pop.call('serverAdmin', 'PUT', `/api/v1/backends/${id}`, {
              kind: 'webhook',
              url: 'http://127.0.0.1:9/',
            }),
          );
          return { method: 'GET', path: `/api/v1/backends/${id}` };
        },
        expect: all(200),
      },
      {
        id: 'putBackend',
        req: () => ({
          method: 'PUT',
          path: `/api/v1/backends/${fresh('bk-put')}`,
          body: { kind: 'webhook', url: 'http://127.0.0.1:9/', token: 'never-shown' },
        }),
        expect: serverOnly(200),
      },
      {
        id: 'deleteBackend',
        async req() {
          const id = fresh('bk-gone');
          await ok(
            await pop.call('serverAdmin', 'PUT', `/api/v1/backends/${id}`, {
              kind: 'webhook',
              url: 'http://127.0.0.1:9/',
            }),
          );
          return { method: 'DELETE', path: `/api/v1/backends/${id}` };
        },
        expect: serverOnly(200),
      },
      // The seeds' own APIs: ASCOB runs (seed 002), o2r jobs (seed 003).
      {
        id: 'ascobSubmitRun',
        req: () => ({
          method: 'POST',
          path: '/api/runs',
          body: { jobSpec: { description: 'r', jobhub: specA(fresh('run'), 'true') } },
        }),
        // As submitJob: to a user outside org A the org does not exist (400).
        expect: { viewer: 403, member: 200, orgAdmin: 200, other: 400, readScope: 403, serverAdmin: 200 },
        uniform: ASCOB_UNIFORM,
      },
      {
        id: 'ascobGetRun',
        req: () => ({ method: 'GET', path: `/api/runs/${jobA}` }),
        expect: readA(200),
        uniform: ASCOB_UNIFORM,
      },
      {
        id: 'ascobStopRun',
        async req(role) {
          const allowed = changeJobA(200)[role as Varying] === 200;
          const id = allowed ? await runA(specA(fresh('run-sleeper'), 'sleep 60')) : jobA;
          return { method: 'DELETE', path: `/api/runs/${id}` };
        },
        expect: changeJobA(200),
        uniform: ASCOB_UNIFORM,
      },
      {
        id: 'ascobResubmitRun',
        req: () => ({ method: 'GET', path: `/api/runs/${jobA}/resubmit` }),
        expect: changeJobA(200),
        uniform: ASCOB_UNIFORM,
      },
      {
        id: 'ascobStartRun',
        async req() {
          const id = await runA(specAHeld(fresh('run-held')), true);
          await ok(await pop.call('member', 'POST', `/api/runs/${id}/files/data.txt`, Buffer.from('in\n')));
          return { method: 'GET', path: `/api/runs/${id}/start` };
        },
        expect: changeJobA(200),
        uniform: ASCOB_UNIFORM,
      },
      {
        id: 'ascobRunOutput',
        req: () => ({ method: 'GET', path: `/api/runs/${jobA}/output.txt` }),
        expect: readA(200),
        uniform: ASCOB_UNIFORM,
      },
      {
        id: 'ascobUploadRunFile',
        async req() {
          const id = await runA(specAHeld(fresh('run-up')), true);
          return { method: 'POST', path: `/api/runs/${id}/files/data.txt`, body: Buffer.from('in\n') };
        },
        expect: changeJobA(200),
        uniform: ASCOB_UNIFORM,
      },
      {
        id: 'ascobSearchRuns',
        req: () => ({ method: 'POST', path: '/api/search/runs', body: { maxResults: 5 } }),
        expect: all(200),
        uniform: ASCOB_UNIFORM,
      },
      {
        id: 'o2rCreateJob',
        req: async () => ({
          method: 'POST',
          path: '/api/v1/job',
          body: `compendium_id=${await compendiumOfA()}`,
          type: 'application/x-www-form-urlencoded',
        }),
        // Another org's compendium does not exist for the caller (404); viewers may not run jobs.
        expect: { viewer: 403, member: 200, orgAdmin: 200, other: 404, readScope: 403, serverAdmin: 200 },
      },
      { id: 'o2rListJobs', req: () => ({ method: 'GET', path: '/api/v1/job' }), expect: all(200) },
      {
        id: 'o2rGetJob',
        req: async () => ({ method: 'GET', path: `/api/v1/job/${await o2rJobOfA()}` }),
        expect: readA(200),
      },
      // Last: draining would hold the jobs above back.
      {
        id: 'drainNode',
        req: () => ({ method: 'POST', path: `/api/v1/nodes/${nodeId}/drain` }),
        expect: serverOnly(200),
      },
      {
        id: 'undrainNode',
        req: () => ({ method: 'DELETE', path: `/api/v1/nodes/${nodeId}/drain` }),
        expect: serverOnly(200),
      },
      { id: 'health', req: () => ({ method: 'GET', path: '/healthz' }), expect: all(200), open: true },
      { id: 'ready', req: () => ({ method: 'GET', path: '/readyz' }), expect: all(200), open: true },
      { id: 'metrics', req: () => ({ method: 'GET', path: '/metrics' }), expect: all(200), open: true },
      {
        id: 'openapi',
        req: () => ({ method: 'GET', path: '/api/v1/openapi.json' }),
        expect: all(200),
        open: true,
      },
    ];
  }

  describe('the permission matrix', () => {
    it('answers every documented route for every role with the status its rules say', async () => {
      const ops = operations();
      const doc = (await ok(await pop.call('none', 'GET', '/api/v1/openapi.json'))).body as {
        paths: Record<
          string,
          Record<string, { operationId: string; security?: Array<Record<string, unknown>> }>
        >;
      };
      // Every operation an API token can call is in the matrix (job-token routes, and the hook-token
      // routes of external backends, test/backends/webhook.test.ts, have their own tests).
      const documented = Object.values(doc.paths)
        .flatMap((ops) => Object.values(ops))
        .filter((o) => !(o.security ?? []).some((s) => 'jobToken' in s || 'hookToken' in s))
        .map((o) => o.operationId)
        .sort();

      const wrong: string[] = [];
      let calls = 0;
      for (const op of ops) {
        for (const role of ROLES) {
          const expected = op.open
            ? op.expect.member
            : (op.uniform?.[role] ?? UNIFORM[role] ?? op.expect[role as Varying]);
          const r = await op.req(role);
          const a = await pop.call(role, r.method, r.path, r.body, r.type);
          calls++;
          if (a.status !== expected)
            wrong.push(`${op.id} as ${role}: ${a.status} (expected ${expected}) ${a.text.slice(0, 160)}`);
          if (a.status === 401 || a.status === 403 || a.status === 404) {
            // Refusals say why, in the one error shape, and never leak a stack.
            expect(a.body, `${op.id} as ${role}`).toMatchObject({
              code: expect.any(String),
              error: expect.any(String),
            });
            expect(a.text).not.toMatch(/\bat .*\.(js|ts):\d+/);
          }
        }
      }
      expect(wrong).toEqual([]);
      expect(calls).toBe(ops.length * ROLES.length);
      expect(ops.map((o) => o.id).sort()).toEqual(documented);
    }, 120_000);

    it('lets nobody revoke or see the token of another user', async () => {
      const made = await ok(
        await pop.call('serverAdmin', 'POST', '/api/v1/tokens', { name: 'mias', user: 'mia' }),
        201,
      );
      const id = (made.body as { record: { id: string } }).record.id;
      expect((await pop.call('other', 'DELETE', `/api/v1/tokens/${id}`)).status).toBe(404);
      expect((await pop.call('orgAdmin', 'DELETE', `/api/v1/tokens/${id}`)).status).toBe(404);
      const listed = (await ok(await pop.call('other', 'GET', '/api/v1/tokens'))).body as {
        results: Array<{ id: string }>;
      };
      expect(listed.results.map((t) => t.id)).not.toContain(id);
      expect((await pop.call('other', 'GET', '/api/v1/tokens?all=true')).status).toBe(403);
      // Only server admins make tokens for others, agent tokens, or tokens that act for others.
      for (const body of [{ user: 'otto' }, { kind: 'agent' }, { actFor: true }]) {
        expect((await pop.call('orgAdmin', 'POST', '/api/v1/tokens', { name: 'x', ...body })).status).toBe(
          403,
        );
      }
    });

    it('names the submitter only with a token that may act for others', async () => {
      const headers = { 'content-type': 'application/yaml', 'x-jobhub-submitter': 'end-user-7' };
      const asMember = await fetch(`${server.url}/api/v1/jobs`, {
        method: 'POST',
        headers: { ...headers, 'x-api-token': pop.tokens.member ?? '' },
        body: specA('portal-1', 'true'),
      });
      expect(asMember.status).toBe(403);
      const portalToken = (
        (
          await ok(
            await pop.call('serverAdmin', 'POST', '/api/v1/tokens', {
              name: 'portal',
              user: 'mia',
              actFor: true,
              scope: 'submit',
            }),
            201,
          )
        ).body as { token: string }
      ).token;
      const asPortal = await fetch(`${server.url}/api/v1/jobs`, {
        method: 'POST',
        headers: { ...headers, 'x-api-token': portalToken },
        body: specA('portal-2', 'true'),
      });
      expect(asPortal.status).toBe(201);
      const { id } = (await asPortal.json()) as { id: number };
      const job = (await ok(await pop.call('member', 'GET', `/api/v1/jobs/${id}`))).body as {
        owner: { name: string };
        submitter: string;
      };
      expect(job.owner.name).toBe('lab-a');
      expect(job.submitter).toBe('end-user-7');
      const found = (await ok(await pop.call('member', 'GET', '/api/v1/jobs?submitter=end-user-7'))).body as {
        results: Array<{ id: number }>;
      };
      expect(found.results.map((j) => j.id)).toEqual([id]);
      // A submit-scoped token submits and reads, but does not stop.
      const stop = await fetch(`${server.url}/api/v1/jobs/${id}/stop`, {
        method: 'POST',
        headers: { 'x-api-token': portalToken },
      });
      expect(stop.status).toBe(403);
    });
  });

  describe('isolation between orgs', () => {
    const aJobs = async (): Promise<Set<number>> => {
      const page = (await ok(await pop.call('serverAdmin', 'GET', '/api/v1/jobs?owner=lab-a&limit=1000')))
        .body as {
        results: Array<{ id: number }>;
      };
      return new Set(page.results.map((j) => j.id));
    };

    it('shows nothing of org A to a member of org B: lists, searches, events, logs', async () => {
      const hidden = await aJobs();
      expect(hidden.has(jobA)).toBe(true);
      for (const q of [
        '',
        '?owner=lab-a',
        '?name=a-job',
        '?label=team=a',
        `?submitter=${pop.users.member}`,
      ]) {
        const page = (await ok(await pop.call('other', 'GET', `/api/v1/jobs${q}`))).body as {
          results: Array<{ id: number }>;
        };
        expect(
          page.results.filter((j) => hidden.has(j.id)),
          `jobs${q}`,
        ).toEqual([]);
      }
      const mine = (await ok(await pop.call('other', 'GET', '/api/v1/jobs'))).body as {
        results: Array<{ id: number }>;
      };
      expect(mine.results.map((j) => j.id)).toContain(jobB);

      const events = (await ok(await pop.call('other', 'GET', '/api/v1/events?limit=10000'))).body as {
        events: Array<{ jobId?: number; type: string }>;
      };
      expect(events.events.filter((e) => e.jobId !== undefined && hidden.has(e.jobId))).toEqual([]);
      expect(events.events.filter((e) => e.type === 'audit')).toEqual([]);
      expect(events.events.some((e) => e.jobId === jobB)).toBe(true);
      const byJob = (await ok(await pop.call('other', 'GET', `/api/v1/events?job=${jobA}`))).body as {
        events: unknown[];
      };
      expect(byJob.events).toEqual([]);
      const nodeEvents = (await ok(await pop.call('other', 'GET', `/api/v1/nodes/${nodeId}/events`)))
        .body as {
        events: Array<{ jobId?: number }>;
      };
      expect(nodeEvents.events.filter((e) => e.jobId !== undefined && hidden.has(e.jobId))).toEqual([]);
      for (const sub of ['', '/spec', '/plan', '/events', '/logs']) {
        const a = await pop.call('other', 'GET', `/api/v1/jobs/${jobA}${sub}`);
        expect(a.status, sub).toBe(404);
        expect(a.text).not.toContain('a-job');
      }
      // The answer for a job of another org is the answer for a job that does not exist.
      const missing = await pop.call('other', 'GET', '/api/v1/jobs/999999');
      const theirs = await pop.call('other', 'GET', `/api/v1/jobs/${jobA}`);
      expect(theirs.body).toEqual({ ...(missing.body as object), error: `job ${jobA} not found` });
    });

    it('streams nothing of org A to a member of org B, live', async () => {
      const hidden = await aJobs();
      const abort = new AbortController();
      const res = await fetch(`${server.url}/api/v1/events?follow=true`, {
        headers: { 'x-api-token': pop.tokens.other ?? '', accept: 'text/event-stream' },
        signal: abort.signal,
      });
      expect(res.status).toBe(200);
      // A job of org A runs, then one of org B; the stream is read until B's job has ended.
      const a2 = await submitA('a-live', 'echo live-a');
      await waitEnd(a2);
      const b2 = (await ok(await pop.call('other', 'POST', '/api/v1/jobs', specB('b-live')), 201)).body as {
        id: number;
      };
      const { frames } = await readFrames(res, (f) => {
        const e = JSON.parse(f.data) as { jobId?: number; type: string; to?: string };
        return e.jobId === b2.id && e.type === 'job.status' && e.to === 'succeeded';
      });
      abort.abort();
      const seen = frames.map((f) => JSON.parse(f.data) as { jobId?: number; type: string });
      expect(seen.some((e) => e.jobId === b2.id)).toBe(true);
      expect(seen.filter((e) => e.jobId !== undefined && (hidden.has(e.jobId) || e.jobId === a2))).toEqual(
        [],
      );
      expect(seen.filter((e) => e.type === 'audit')).toEqual([]);
      // A job's own streams answer 404 before any byte of the stream.
      for (const sub of ['events', 'logs']) {
        const r = await fetch(`${server.url}/api/v1/jobs/${a2}/${sub}?follow=true`, {
          headers: { 'x-api-token': pop.tokens.other ?? '', accept: 'text/event-stream' },
        });
        expect(r.status).toBe(404);
        await r.body?.cancel();
      }
    });

    it("keeps org A's files and workspaces from org B: no listing, no descriptor, no workspace by name", async () => {
      const pushed = (
        await ok(
          await pop.call('member', 'POST', '/api/v1/workspaces?name=shared-ws&owner=lab-a', archive),
          201,
        )
      ).body as { id: string; workspace: { owner: { name: string; type: string } } };
      expect(pushed.workspace.owner).toMatchObject({ name: 'lab-a', type: 'org' });
      const names = async (role: Role) =>
        (
          (await ok(await pop.call(role, 'GET', '/api/v1/workspaces'))).body as {
            results: Array<{ id: string }>;
          }
        ).results.map((w) => w.id);
      expect(await names('viewer')).toContain(pushed.id);
      expect(await names('other')).not.toContain(pushed.id);
      // Org B may not push for org A, nor use its workspace by name or id, nor take its job's file.
      const forA = await pop.call('other', 'POST', '/api/v1/workspaces?name=x&owner=lab-a', archive);
      expect(forA.status).toBe(400);
      for (const ref of ['shared-ws', pushed.id]) {
        const spec = `${specB(fresh('ws-b'))}workspace: ${ref}\n`;
        const a = await pop.call('other', 'POST', '/api/v1/jobs', spec);
        expect(a.status, ref).toBe(400);
        expect((a.body as { error: string }).error).toContain(`workspace "${ref}" not found`);
      }
      const steal = `${specB(fresh('steal'))}inputs: ["job:${jobAFiles}:${fileOfA}:got.txt"]\n`;
      const stolen = await pop.call('other', 'POST', '/api/v1/jobs', steal);
      expect(stolen.status).toBe(400);
      expect(stolen.text).toContain(`there is no job ${jobAFiles}`);
      // The same descriptor works for a member of org A.
      const take = `name: take
owner: {type: org, name: lab-a}
inputs: ["job:${jobAFiles}:${fileOfA}:got.txt"]
workspace: shared-ws
stages:
  - name: s
    tasks:
      - {name: t, shell: {command: "cat got.txt; sh run.sh"}}
`;
      const taken = (await ok(await pop.call('member', 'POST', '/api/v1/jobs', take), 201)).body as {
        id: number;
      };
      expect(await waitEnd(taken.id)).toBe('succeeded');
      const logs = (await ok(await pop.call('member', 'GET', `/api/v1/jobs/${taken.id}/logs`))).body as {
        lines: Array<{ text: string }>;
      };
      expect(logs.lines.map((l) => l.text)).toEqual(expect.arrayContaining(['a-result', 'from-workspace']));
      // The spec keeps the workspace it was given: its id, pinned at submission.
      const spec = (await ok(await pop.call('member', 'GET', `/api/v1/jobs/${taken.id}/spec`))).body as {
        spec: { workspace?: string };
      };
      expect(spec.spec.workspace).toBe(pushed.id);
    });

    it("a job waiting for a lock another org's job holds is not told that job's id", async () => {
      const lockSpec = (name: string, org: string, command: string) =>
        `name: ${name}\nowner: {type: org, name: ${org}}\nlocks: [shared-env]\nstages:\n  - name: s\n    tasks: [{name: t, shell: {command: "${command}"}}]\n`;
      const a2 = (
        await ok(
          await pop.call('member', 'POST', '/api/v1/jobs', lockSpec(fresh('a-lock'), 'lab-a', 'sleep 30')),
          201,
        )
      ).body as { id: number };
      const waitingOf = async (role: Role, id: number) => {
        for (let i = 0; i < 300; i++) {
          const j = (await ok(await pop.call(role, 'GET', `/api/v1/jobs/${id}`))).body as {
            status: string;
            waitingFor: string | null;
          };
          if (j.status === 'running' || j.waitingFor?.startsWith('lock')) return j;
          await new Promise((r) => setTimeout(r, 20));
        }
        throw new Error(`job ${id} neither runs nor waits for the lock`);
      };
      expect((await waitingOf('member', a2.id)).status).toBe('running');
      const b = (
        await ok(
          await pop.call('other', 'POST', '/api/v1/jobs', lockSpec(fresh('b-lock'), 'lab-b', 'true')),
          201,
        )
      ).body as { id: number };
      const seen = await waitingOf('other', b.id);
      expect(seen.waitingFor).toMatch(/^lock shared-env held by a job of another owner/);
      expect(seen.waitingFor).not.toMatch(/\bjob \d+/);
      await ok(await pop.call('member', 'POST', `/api/v1/jobs/${a2.id}/stop`), 202);
      expect(await waitEnd(b.id)).toBe('succeeded');
    });

    it('shows the audit log (who did what) to server admins only', async () => {
      const audit = (await ok(await pop.call('serverAdmin', 'GET', '/api/v1/events?type=audit&limit=10000')))
        .body as {
        events: Array<{ jobId?: number; data: { actor: string; action: string } }>;
      };
      const actions = audit.events.map((e) => `${e.data.actor.split(' ')[0]} ${e.data.action}`);
      expect(actions).toContain('ada org.secret.set');
      expect(actions).toContain('admin org.create');
      expect(actions).toContain('admin token.revoke');
      expect(audit.events.find((e) => e.jobId === jobA)?.data).toMatchObject({
        actor: 'mia (token mia)',
        action: 'job.submit',
      });
      const asOrgAdmin = (await ok(await pop.call('orgAdmin', 'GET', '/api/v1/events?type=audit'))).body as {
        events: unknown[];
      };
      expect(asOrgAdmin.events).toEqual([]);
    });
  });

  describe('secrets and hardening', () => {
    it('passes a secret to the task as environment and masks it in the logs; the API never shows it', async () => {
      const logs = (await ok(await pop.call('member', 'GET', `/api/v1/jobs/${jobA}/logs`))).body as {
        lines: Array<{ text: string }>;
      };
      const text = logs.lines.map((l) => l.text);
      expect(text).toContain('key=***');
      // Env values reach the task as they are: nothing in them runs.
      expect(text).toContain('trap=$(touch pwned-marker) `touch pwned-marker`');
      expect(text).toContain('no-marker');
      for (const path of ['', '/spec', '/plan', '/events', '/logs']) {
        const a = await pop.call('serverAdmin', 'GET', `/api/v1/jobs/${jobA}${path}`);
        expect(a.text, path).not.toContain(SECRET_VALUE);
      }
      const spec = (await ok(await pop.call('member', 'GET', `/api/v1/jobs/${jobA}/spec`))).text;
      expect(spec).toContain('{{.Secrets.API_KEY}}');
      const names = (await ok(await pop.call('orgAdmin', 'GET', '/api/v1/orgs/lab-a/secrets'))).body;
      expect(names).toEqual({ names: expect.arrayContaining(['API_KEY']) });
      expect(JSON.stringify(names)).not.toContain(SECRET_VALUE);
    });

    it('refuses a job that uses a secret its org does not have, naming it', async () => {
      const spec = specA('missing-secret', 'true').replace('API_KEY', 'NOPE');
      const a = await pop.call('member', 'POST', '/api/v1/jobs', spec);
      expect(a.status).toBe(400);
      expect(a.body).toMatchObject({ error: 'org "lab-a" has no secret "NOPE"' });
    });

    it('answers no CORS headers: browsers on other origins cannot call the API', async () => {
      const pre = await fetch(`${server.url}/api/v1/jobs`, {
        method: 'OPTIONS',
        headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
      });
      expect(pre.headers.get('access-control-allow-origin')).toBeNull();
      const get = await fetch(`${server.url}/api/v1/jobs`, {
        headers: { origin: 'https://evil.example', 'x-api-token': ADMIN },
      });
      expect(get.status).toBe(200);
      expect(get.headers.get('access-control-allow-origin')).toBeNull();
      await get.body?.cancel();
    });

    it('refuses a body over the limit with 413, and keeps serving', async () => {
      const huge = `name: big\n# ${'x'.repeat(11 * 1024 * 1024)}\n`;
      // A raw request: the server answers 413 before reading the body and may close the socket while
      // the client still writes (fetch reports that as EPIPE and loses the answer).
      const a = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest(`${server.url}/api/v1/jobs`, {
          method: 'POST',
          headers: { 'content-type': 'application/yaml', 'x-api-token': pop.tokens.member ?? '' },
        });
        req.on('response', (res) => {
          let body = '';
          res.on('data', (b: Buffer) => {
            body += b.toString();
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', (e: NodeJS.ErrnoException) => {
          if (e.code !== 'EPIPE' && e.code !== 'ECONNRESET') reject(e);
        });
        req.end(huge);
      });
      expect(a.status).toBe(413);
      expect(JSON.parse(a.body)).toMatchObject({ code: 'too_large' });
      expect((await pop.call('member', 'GET', '/api/v1/whoami')).status).toBe(200);
    });

    it('disconnects an agent whose token is revoked, and refuses it after', async () => {
      const made = (
        await ok(
          await pop.call('serverAdmin', 'POST', '/api/v1/tokens', { name: 'agent-2', kind: 'agent' }),
          201,
        )
      ).body as { token: string; record: { id: string } };
      const second = startAgent({
        server: server.url,
        name: 'sec-node-2',
        env: {},
        args: ['--token', made.token],
      });
      extraProcs.push(second);
      await second.waitFor(/connected to .* as node/);
      await ok(await pop.call('serverAdmin', 'DELETE', `/api/v1/tokens/${made.record.id}`));
      await second.waitFor(/lost the connection/);
      await second.waitFor(/refused the agent: HTTP 401: the agent token is unknown, revoked or expired/);
    });

    it('keeps tokens and secret values out of the store and the server output, in clear', async () => {
      await server.kill();
      const bytes = await storeBytes(pgUrl);
      const tokens = pop.allTokens();
      expect(tokens.length).toBeGreaterThan(8);
      for (const needle of [...tokens, SECRET_VALUE]) {
        expect(bytes.includes(Buffer.from(needle)), needle.slice(0, 6)).toBe(false);
        expect(server.out().includes(needle), needle.slice(0, 6)).toBe(false);
        expect(agent.out().includes(needle), needle.slice(0, 6)).toBe(false);
      }
      // Their hashes are there: the scan reads the right file.
      const { createHash } = await import('node:crypto');
      const hash = createHash('sha256')
        .update(pop.tokens.member ?? '')
        .digest('hex');
      expect(bytes.includes(Buffer.from(hash))).toBe(true);
    });
  });
});
