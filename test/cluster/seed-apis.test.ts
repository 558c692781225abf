/**
 * The seeds' own APIs against a fresh `jobhub server` process and a real agent: every curl example
 * of seeds 002 (ASCOB runs) and 003 (o2r jobs), run by real curl through a shell with the host and a
 * real token put in, answers the documented shape; runs submitted there are jobhub jobs (listed by
 * `GET /api/v1/jobs`) and stopping them through jobhub's own API shows in the seed's API.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tarBuffer } from '../helpers/archives.js';
import {
  ADMIN,
  eventually,
  type Proc,
  type ServerProc,
  startAgent,
  startServer,
} from '../helpers/cluster.js';

const exec = promisify(execFile);

let server: ServerProc;
let agent: Proc;

/** Runs a command line as pasted into a shell; its stdout parsed as JSON (or text). */
async function sh(line: string, env: Record<string, string> = {}): Promise<{ json: unknown; text: string }> {
  const { stdout } = await exec('sh', ['-c', line], { env: { ...process.env, ...env } });
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch {
    json = undefined;
  }
  return { json, text: stdout };
}

/** A seed's curl line with this server and the admin token put in. */
const ascob = (line: string) =>
  line.replaceAll('http://localhost:8081', server.url).replaceAll('rootToken', ADMIN);
const o2r = (line: string) =>
  line.replace(/^curl /, `curl -s -H "X-Api-Token: ${ADMIN}" `).replaceAll('https://…', server.url);

async function api(method: string, path: string, body?: unknown, type = 'application/json') {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { 'x-api-token': ADMIN, ...(body !== undefined ? { 'content-type': type } : {}) },
    ...(body !== undefined
      ? { body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body) }
      : {}),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

const ASCOB_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}$/;
const RUN_WORDS = [
  'DEFINED',
  'WAITING_LOCKS',
  'SUBMITTED',
  'RUNNING',
  'ABORTING',
  'ABORTED',
  'FAILED',
  'SUCCEDED',
];

interface Run {
  id: number;
  status: string;
  description: string | null;
  submitter: string | null;
  definedTime: string;
  submissionTime: string | null;
  endTime: string | null;
}

async function run(id: number): Promise<Run> {
  const a = await api('GET', `/api/runs/${id}`);
  expect(a.status, a.text).toBe(200);
  return a.json as Run;
}

async function runEnds(id: number, status: string): Promise<Run> {
  return eventually(async () => {
    const r = await run(id);
    return r.status === status ? r : undefined;
  });
}

async function o2rJob(id: string) {
  const a = await api('GET', `/api/v1/job/${id}`);
  expect(a.status, a.text).toBe(200);
  return a.json as {
    id: string;
    compendium_id: string;
    creation_date: string;
    status: string;
    steps: Record<string, { status: string; start: string | null; end: string | null; text: string }>;
    files: { type: string; children?: Array<{ name: string }> };
  };
}

/** Pushes a workspace (a compendium) whose jobhub.yaml runs `command`. */
async function compendium(name: string, command: string): Promise<string> {
  const archive = await tarBuffer([
    {
      name: 'jobhub.yaml',
      content: `name: ${name}\nstages:\n  - name: run\n    tasks:\n      - {name: t, shell: {command: "${command}"}, outputs: [result.txt]}\n`,
    },
    { name: 'data.txt', content: 'from the compendium\n' },
  ]);
  const a = await api('POST', `/api/v1/workspaces?name=${name}`, archive, 'application/octet-stream');
  expect(a.status, a.text).toBe(201);
  return (a.json as { id: string }).id;
}

beforeAll(async () => {
  server = await startServer();
  agent = startAgent({ server: server.url, name: 'seed-node' });
  await agent.waitFor(/connected to .* as node/);
}, 60_000);

afterAll(async () => {
  await agent?.kill();
  await server?.kill();
});

describe('seed 002: the ASCOB runs API', () => {
  it('runs the README examples: submit a dummy job, then read it', async () => {
    const submitted = await sh(
      ascob(
        `curl  -H "X-Api-Token: rootToken"  -X POST http://localhost:8081/api/runs -d '{ "jobSpec": { "description": "dummy", "labels":{"_execution_backend_id":"dummyBackend"}} }' -H "content-type: application/json"`,
      ),
    );
    // A fresh server: the first run is run 1, as in the seed.
    expect(submitted.json).toEqual({ runId: 1 });

    const info = await sh(ascob('curl  -H "X-Api-Token: rootToken" http://localhost:8081/api/runs/1'));
    const r = info.json as Run;
    expect(Object.keys(r)).toEqual([
      'id',
      'status',
      'description',
      'submitter',
      'definedTime',
      'submissionTime',
      'endTime',
    ]);
    expect(r).toMatchObject({ id: 1, description: 'dummy' });
    expect(RUN_WORDS).toContain(r.status);
    expect(r.definedTime).toMatch(ASCOB_TIME);
    expect(r.submissionTime).toMatch(ASCOB_TIME);
    const done = await runEnds(1, 'SUCCEDED');
    expect(done.endTime).toMatch(ASCOB_TIME);
    expect((await api('GET', '/api/runs/1/output.txt')).text).toBe('Dummy output\n');
  });

  it('answers 401 without a token and 403 with a wrong one', async () => {
    expect((await sh(`curl -s -o /dev/null -w '%{http_code}' ${server.url}/api/runs/1`)).text).toBe('401');
    expect(
      (await sh(`curl -s -o /dev/null -w '%{http_code}' -H 'X-Api-Token: wrong' ${server.url}/api/runs/1`))
        .text,
    ).toBe('403');
    expect((await api('GET', '/api/runs/999999')).status).toBe(404);
  });

  it('runs a jobhub spec with parameters, a manual start and an uploaded file', async () => {
    const spec = `name: portal-job
inputs: [data.txt]
stages:
  - name: s
    tasks:
      - {name: t, shell: {command: "echo greeting=$JOBHUB_PARAM_GREETING; cat data.txt"}}
`;
    const submitted = await api('POST', '/api/runs', {
      jobSpec: {
        description: 'from the portal',
        parameters: { greeting: 'ciao' },
        manualStart: true,
        jobhub: spec,
      },
    });
    expect(submitted.status, submitted.text).toBe(200);
    const id = (submitted.json as { runId: number }).runId;
    const defined = await run(id);
    expect(defined).toMatchObject({
      status: 'DEFINED',
      submissionTime: null,
      description: 'from the portal',
    });
    const up = await sh(
      `curl -s -H "X-Api-Token: ${ADMIN}" --data-binary 'uploaded content' ${server.url}/api/runs/${id}/files/data.txt`,
    );
    expect(up.json).toMatchObject({ runId: id, fileId: 'data.txt', size: 16 });
    const started = await api('GET', `/api/runs/${id}/start`);
    expect(started.status, started.text).toBe(200);
    await runEnds(id, 'SUCCEDED');
    expect((await api('GET', `/api/runs/${id}/output.txt`)).text).toBe('greeting=ciao\nuploaded content\n');
    // A second start is refused: the run is no longer held.
    expect((await api('GET', `/api/runs/${id}/start`)).status).toBe(409);
  });

  it('makes runs with the same lock key wait for each other (WAITING_LOCKS)', async () => {
    const sleeper = {
      jobhub: {
        name: 'holder',
        stages: [{ name: 's', tasks: [{ name: 't', shell: { command: 'sleep 30' } }] }],
      },
    };
    const first = (await api('POST', '/api/runs', { jobSpec: { ...sleeper, locks: [{ key: 'env-1' }] } }))
      .json as {
      runId: number;
    };
    await eventually(async () => ((await run(first.runId)).status === 'RUNNING' ? true : undefined));
    const second = (await api('POST', '/api/runs', { jobSpec: { ...sleeper, locks: [{ key: 'env-1' }] } }))
      .json as {
      runId: number;
    };
    await eventually(async () => ((await run(second.runId)).status === 'WAITING_LOCKS' ? true : undefined));
    // ASCOB's stop (DELETE) ends both: ABORTED.
    for (const id of [second.runId, first.runId]) {
      const stopped = await api('DELETE', `/api/runs/${id}?force=true`);
      expect(stopped.status, stopped.text).toBe(200);
      await runEnds(id, 'ABORTED');
    }
  });

  it('resubmits a run and searches runs', async () => {
    const again = await api('GET', '/api/runs/1/resubmit?submitter=admin');
    expect(again.status, again.text).toBe(200);
    const id = (again.json as { runId: number }).runId;
    const r = await runEnds(id, 'SUCCEDED');
    expect(r).toMatchObject({ parentId: 1, description: 'dummy', submitter: 'admin' });
    const found = await api('POST', '/api/search/runs', {
      statusFilter: ['SUCCEDED'],
      submitterFilter: 'admin',
      maxResults: 1,
    });
    expect(found.status, found.text).toBe(200);
    expect((found.json as { items: Run[] }).items.map((i) => i.id)).toEqual([id]);
    const aborted = await api('POST', '/api/search/runs', { statusFilter: ['ABORTED'] });
    expect((aborted.json as { items: Run[] }).items.every((i) => i.status === 'ABORTED')).toBe(true);
    const later = await api('POST', '/api/search/runs', { createdAfterFilter: '2999-01-01T00:00:00.000' });
    expect((later.json as { items: Run[] }).items).toEqual([]);
  });

  it("is a jobhub job: listed by jobhub's API, and stopped there it is ABORTED", async () => {
    const a = await api('POST', '/api/runs', {
      jobSpec: {
        jobhub: 'name: long\nstages:\n  - name: s\n    tasks: [{name: t, shell: {command: "sleep 30"}}]\n',
      },
    });
    const id = (a.json as { runId: number }).runId;
    const listed = await api('GET', '/api/v1/jobs');
    expect((listed.json as { results: Array<{ id: number }> }).results.map((j) => j.id)).toContain(id);
    await eventually(async () => ((await run(id)).status === 'RUNNING' ? true : undefined));
    expect((await api('POST', `/api/v1/jobs/${id}/stop`)).status).toBe(202);
    await runEnds(id, 'ABORTED');
  });

  it('refuses a run with neither a jobhub spec nor a backend it knows, saying what to send', async () => {
    const a = await api('POST', '/api/runs', {
      jobSpec: { description: 'x', labels: { _execution_backend_id: 'jenkins' } },
    });
    expect(a.status).toBe(400);
    // A backend label naming no configured backend is refused naming the label (see test/backends).
    expect((a.json as { error: string }).error).toMatch(
      /^labels\._execution_backend_id: no backend "jenkins"/,
    );
    const b = await api('POST', '/api/runs', { jobSpec: { description: 'x' } });
    expect(b.status).toBe(400);
    expect((b.json as { error: string }).error).toMatch(/jobhub job spec/);
  });
});

describe('seed 003: the o2r job API', () => {
  it('runs the examples: create a job, list jobs (ids, and with fields=status), view one', async () => {
    const ID = await compendium('comp-a', 'cat data.txt > result.txt');
    const created = await sh(o2r('curl -F compendium_id=$ID https://…/api/v1/job'), { ID });
    const jobId = (created.json as { job_id: string }).job_id;
    expect(created.json).toEqual({ job_id: expect.stringMatching(/^\d+$/) });
    await eventually(async () => ((await o2rJob(jobId)).status === 'success' ? true : undefined));

    const view = await sh(o2r('curl https://…/api/v1/job/$ID'), { ID: jobId });
    const job = view.json as Awaited<ReturnType<typeof o2rJob>>;
    expect(job).toMatchObject({ id: jobId, compendium_id: ID, status: 'success' });
    expect(job.creation_date).toMatch(/Z$/);
    expect(job.steps.run).toMatchObject({
      status: 'success',
      start: expect.any(String),
      end: expect.any(String),
    });
    expect(job.files.type).toBe('directory');
    expect(job.files.children?.map((c) => c.name)).toEqual(expect.arrayContaining(['outputs', 'workspace']));

    // A second job, so that pages have something on them.
    const second = await api(
      'POST',
      '/api/v1/job',
      `compendium_id=${ID}`,
      'application/x-www-form-urlencoded',
    );
    expect(second.status, second.text).toBe(200);
    const secondId = (second.json as { job_id: string }).job_id;
    await eventually(async () => ((await o2rJob(secondId)).status === 'success' ? true : undefined));

    // The seed's list examples, as the GET lines document them (its curl line has -F, a POST).
    const list = await sh(
      o2r(`curl 'https://…/api/v1/job?limit=1&start=2&compendium_id=${ID}&status=success'`),
    );
    expect(list.json).toEqual({
      results: [jobId],
      previous: `/api/v1/job?limit=1&start=1&compendium_id=${ID}&status=success`,
    });
    const first = await sh(
      o2r(`curl 'https://…/api/v1/job?limit=1&start=1&compendium_id=${ID}&state=success&fields=status'`),
    );
    expect(first.json).toEqual({
      results: [{ id: secondId, status: 'success' }],
      next: `/api/v1/job?limit=1&start=2&compendium_id=${ID}&state=success&fields=status`,
    });
    const all = await api('GET', '/api/v1/job');
    expect((all.json as { results: string[] }).results).toEqual(expect.arrayContaining([jobId, secondId]));
    const none = await api('GET', '/api/v1/job?status=failure&compendium_id=comp-a');
    expect(none.json).toEqual({ results: [] });
  });

  it('answers 404 for an unknown compendium, as the seed shows', async () => {
    const a = await sh(o2r('curl -F compendium_id=$ID https://…/api/v1/job'), { ID: 'nope' });
    expect(a.json).toMatchObject({ error: 'no compendium with this ID found' });
    expect((await api('GET', '/api/v1/job/424242')).status).toBe(404);
  });

  it("is a jobhub job: listed by jobhub's API, and stopped there it is a failure", async () => {
    const ID = await compendium('comp-slow', 'sleep 30');
    const created = await api('POST', '/api/v1/job', { compendium_id: ID });
    const jobId = (created.json as { job_id: string }).job_id;
    const listed = await api('GET', '/api/v1/jobs');
    expect((listed.json as { results: Array<{ id: number }> }).results.map((j) => j.id)).toContain(
      Number(jobId),
    );
    await eventually(async () => ((await o2rJob(jobId)).steps.run?.status === 'running' ? true : undefined));
    expect((await o2rJob(jobId)).status).toBe('running');
    expect((await api('POST', `/api/v1/jobs/${jobId}/stop`)).status).toBe(202);
    const ended = await eventually(async () => {
      const j = await o2rJob(jobId);
      return j.status === 'failure' ? j : undefined;
    });
    expect(ended.steps.run?.status).toBe('failure');
  });
});
