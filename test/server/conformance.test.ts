/**
 * The OpenAPI document is the contract: every route the app registers is in it, and a real call of
 * every documented operation answers a body that its response schema (in the document) accepts.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registeredRoutes } from '../../src/server/http-app.js';
import { type ApiHarness, apiHarness, HOOK_TOKENS, JOB_TOKENS, readFrames } from '../helpers/api.js';
import { tarBuffer } from '../helpers/archives.js';

interface Operation {
  operationId: string;
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
  security?: unknown[];
}
type Doc = {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
  components: Record<string, unknown>;
};

const QUICK = `name: quick
labels: {team: conf}
stages:
  - name: s
    tasks:
      - {name: hello, shell: {command: "echo hello; echo world"}}
`;
const SLOW = `name: slow
stages:
  - name: s
    tasks:
      - {name: nap, shell: {command: "sleep 30"}}
`;

let a: ApiHarness;
let doc: Doc;
let ajv: Ajv2020;

beforeAll(async () => {
  a = await apiHarness();
  const res = await fetch(`${a.base}/api/v1/openapi.json`); // no token needed
  expect(res.status).toBe(200);
  doc = (await res.json()) as Doc;
  ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addFormat('date-time', {
    type: 'string',
    validate: (s: string) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(s),
  });
});
afterAll(async () => {
  await a.dispose();
});

/** Validates a body against the document's schema for (operation, status, content type). */
function conforms(path: string, method: string, status: number, body: unknown, type = 'application/json') {
  const op = doc.paths[path]?.[method.toLowerCase()];
  if (!op) throw new Error(`${method} ${path} is not documented`);
  if (status === 204) {
    // No content: documented as such, and nothing was sent.
    if (!op.responses['204']) throw new Error(`${op.operationId}: 204 is not documented`);
    if (body !== '') throw new Error(`${op.operationId}: 204 with a body`);
    return op.operationId;
  }
  const schema = op.responses[String(status)]?.content?.[type]?.schema;
  if (!schema) throw new Error(`${op.operationId}: no ${type} schema for status ${status}`);
  const validate = ajv.compile({ ...(schema as object), components: doc.components });
  const ok = validate(body);
  if (!ok) {
    throw new Error(
      `${op.operationId} ${status}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 2000)}`,
    );
  }
  return op.operationId;
}

describe('the OpenAPI document', () => {
  it('is OpenAPI 3.1 with an operationId, tags, summary and error schemas on every operation', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.title).toBe('jobhub');
    const ids = new Set<string>();
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const o = op as Operation & { tags?: string[]; summary?: string };
        expect(o.operationId, `${method} ${path}`).toBeTruthy();
        expect(ids.has(o.operationId)).toBe(false);
        ids.add(o.operationId);
        expect(o.tags?.length, o.operationId).toBeGreaterThan(0);
        expect(o.summary, o.operationId).toBeTruthy();
        expect(Object.keys(o.responses), o.operationId).toContain('500');
        if (path.startsWith('/api/v1/') && path !== '/api/v1/openapi.json') {
          for (const s of ['401', '403']) expect(Object.keys(o.responses), o.operationId).toContain(s);
          expect(o.security?.length, o.operationId).toBeGreaterThan(0);
        }
        if (path.includes('{id}')) expect(Object.keys(o.responses), o.operationId).toContain('404');
      }
    }
  });

  it('lists every route the app registers, and nothing else', () => {
    const registered = registeredRoutes(a.app)
      .filter((r) => !r.hidden)
      .map((r) => `${r.method} ${r.url.replace(/:(\w+)/g, '{$1}').replace(/\*$/, '{*}')}`)
      .sort();
    const documented = Object.entries(doc.paths)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    expect(documented).toEqual(registered);
    expect(registered.length).toBeGreaterThanOrEqual(20);
    // The interactive docs are served, from the package's own assets.
    expect(registeredRoutes(a.app).some((r) => r.url.startsWith('/docs'))).toBe(true);
  });

  it('serves the interactive docs without a token, with no outside host', async () => {
    const res = await fetch(`${a.base}/docs/`);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('swagger');
    expect(html).not.toMatch(/src="https?:\/\//);
    const js = await fetch(`${a.base}/docs/static/swagger-ui-bundle.js`);
    expect(js.status).toBe(200);
    expect((await js.arrayBuffer()).byteLength).toBeGreaterThan(100_000);
  });
});

describe('every documented operation', () => {
  it('answers what its response schema says', async () => {
    const called = new Set<string>();
    const call = async (
      method: string,
      docPath: string,
      url: string,
      status: number,
      init: RequestInit = {},
    ): Promise<unknown> => {
      const res = await a.api(url, { method, ...init });
      const type = (res.headers.get('content-type') ?? '').split(';')[0] ?? '';
      const body = type === 'application/json' ? await res.json() : await res.text();
      expect(res.status, `${method} ${url}: ${JSON.stringify(body)}`).toBe(status);
      called.add(conforms(docPath, method, status, body, type));
      return body;
    };
    const yaml = { 'content-type': 'application/yaml' };

    const submitted = (await call('POST', '/api/v1/jobs', '/api/v1/jobs', 201, {
      headers: yaml,
      body: QUICK,
    })) as { id: number };
    const id = submitted.id;
    await a.h.coordinator.waitForEnd(id);

    await call('GET', '/api/v1/jobs', '/api/v1/jobs', 200);
    await call('GET', '/api/v1/jobs', '/api/v1/jobs?fields=status,name&limit=1', 200);
    const detail = (await call('GET', '/api/v1/jobs/{id}', `/api/v1/jobs/${id}`, 200)) as {
      status: string;
      stages: unknown[];
    };
    expect(detail.status).toBe('succeeded');
    await call('GET', '/api/v1/jobs/{id}/spec', `/api/v1/jobs/${id}/spec`, 200);
    await call('GET', '/api/v1/jobs/{id}/plan', `/api/v1/jobs/${id}/plan`, 200);
    const events = (await call('GET', '/api/v1/jobs/{id}/events', `/api/v1/jobs/${id}/events`, 200)) as {
      events: unknown[];
    };
    expect(events.events.length).toBeGreaterThan(3);
    const logs = (await call('GET', '/api/v1/jobs/{id}/logs', `/api/v1/jobs/${id}/logs`, 200)) as {
      lines: Array<{ text: string }>;
    };
    expect(logs.lines.map((l) => l.text)).toEqual(['hello', 'world']);
    await call('POST', '/api/v1/jobs/{id}/retry', `/api/v1/jobs/${id}/retry`, 201);

    const slow = (await (
      await a.api('/api/v1/jobs', { method: 'POST', headers: yaml, body: SLOW })
    ).json()) as { id: number };
    await call('POST', '/api/v1/jobs/{id}/stop', `/api/v1/jobs/${slow.id}/stop`, 202);
    await a.h.coordinator.waitForEnd(slow.id);

    await call('POST', '/api/v1/plan', '/api/v1/plan', 200, { headers: yaml, body: QUICK });
    await call('POST', '/api/v1/specs/validate', '/api/v1/specs/validate', 200, {
      headers: yaml,
      body: QUICK,
    });
    const invalid = (await call('POST', '/api/v1/specs/validate', '/api/v1/specs/validate', 200, {
      headers: yaml,
      body: 'name: x\nstages: 3\n',
    })) as { valid: boolean };
    expect(invalid.valid).toBe(false);

    const nodes = (await call('GET', '/api/v1/nodes', '/api/v1/nodes', 200)) as {
      results: Array<{ id: string }>;
    };
    const nodeId = nodes.results[0]?.id ?? '';
    expect(nodeId).not.toBe('');
    await call('GET', '/api/v1/nodes/{id}', `/api/v1/nodes/${nodeId}`, 200);
    await call('GET', '/api/v1/nodes/{id}/events', `/api/v1/nodes/${nodeId}/events`, 200);
    const drained = (await call(
      'POST',
      '/api/v1/nodes/{id}/drain',
      `/api/v1/nodes/${nodeId}/drain`,
      200,
    )) as {
      node: { state: string };
    };
    expect(drained.node.state).toBe('draining');
    const undrained = (await call(
      'DELETE',
      '/api/v1/nodes/{id}/drain',
      `/api/v1/nodes/${nodeId}/drain`,
      200,
    )) as { node: { state: string } };
    expect(undrained.node.state).toBe('idle');
    await call('GET', '/api/v1/events', '/api/v1/events?type=job.,node.&limit=5', 200);

    await call('GET', '/healthz', '/healthz', 200);
    await call('GET', '/readyz', '/readyz', 200);
    const metrics = (await call('GET', '/metrics', '/metrics', 200)) as string;
    expect(metrics).toMatch(/jobhub_jobs\{status="succeeded"\} [12]\n/); // the retry may have ended
    expect(metrics).toMatch(/jobhub_jobs\{status="stopped"\} 1\n/);
    expect(metrics).toMatch(/jobhub_jobs_submitted_total 3/);
    expect(metrics).toMatch(
      /jobhub_http_request_duration_seconds_count\{route="\/api\/v1\/jobs",method="POST"/,
    );
    expect(metrics.match(/# TYPE jobhub_agents_connected /g)?.length).toBe(1);
    await call('GET', '/api/v1/openapi.json', '/api/v1/openapi.json', 200);

    // (files) Held submission, upload, release; list, download, archive, delete; workspaces; agents.
    const files = `name: files
inputs: [{name: in.txt}]
stages:
  - name: s
    tasks: [{name: t, shell: {command: "cp in.txt out.txt"}, outputs: [out.txt]}]
`;
    const held = (await call('POST', '/api/v1/jobs', '/api/v1/jobs?hold=true', 201, {
      headers: yaml,
      body: files,
    })) as { id: number; job: { held: boolean } };
    expect(held.job.held).toBe(true);
    await call('POST', '/api/v1/jobs/{id}/files', `/api/v1/jobs/${held.id}/files?name=in.txt`, 201, {
      body: 'input\n',
    });
    await call('POST', '/api/v1/jobs/{id}/release', `/api/v1/jobs/${held.id}/release`, 202);
    await a.h.coordinator.waitForEnd(held.id);
    const listed = (await call(
      'GET',
      '/api/v1/jobs/{id}/files',
      `/api/v1/jobs/${held.id}/files?tree=true`,
      200,
    )) as {
      files: Array<{ path: string }>;
    };
    expect(listed.files.map((f) => f.path)).toEqual(['inputs/in.txt', 'outputs/out.txt']);
    expect(
      await call('GET', '/api/v1/jobs/{id}/files/{*}', `/api/v1/jobs/${held.id}/files/outputs/out.txt`, 200),
    ).toBe('input\n');
    await call('GET', '/api/v1/jobs/{id}/archive', `/api/v1/jobs/${held.id}/archive?path=outputs`, 200);
    const token = { 'x-job-token': JOB_TOKENS.sign(held.id) };
    await call(
      'GET',
      '/api/v1/agent/jobs/{id}/files/{*}',
      `/api/v1/agent/jobs/${held.id}/files/inputs/in.txt`,
      200,
      {
        headers: token,
      },
    );
    const archive = await tarBuffer([{ name: 'w.txt', content: 'workspace\n' }]);
    await call('POST', '/api/v1/workspaces', '/api/v1/workspaces?name=conf', 201, { body: archive });
    await call('GET', '/api/v1/workspaces', '/api/v1/workspaces', 200);
    const inWs = (await (
      await a.api('/api/v1/jobs', {
        method: 'POST',
        headers: yaml,
        body: 'name: ws\nworkspace: conf\nstages:\n  - name: s\n    tasks: [{shell: {command: "cat w.txt"}}]\n',
      })
    ).json()) as { id: number };
    expect((await a.h.coordinator.waitForEnd(inWs.id)).status).toBe('succeeded');
    await call('GET', '/api/v1/agent/jobs/{id}/workspace', `/api/v1/agent/jobs/${inWs.id}/workspace`, 200, {
      headers: { 'x-job-token': JOB_TOKENS.sign(inWs.id) },
    });
    const open = (await (
      await a.api('/api/v1/jobs?hold=true', { method: 'POST', headers: yaml, body: QUICK })
    ).json()) as { id: number };
    await call(
      'POST',
      '/api/v1/agent/jobs/{id}/outputs',
      `/api/v1/agent/jobs/${open.id}/outputs?task=1&kind=output&path=r.txt`,
      201,
      {
        headers: { 'x-job-token': JOB_TOKENS.sign(open.id), 'content-type': 'application/octet-stream' },
        body: 'r',
      },
    );
    await a.api(`/api/v1/jobs/${open.id}/stop`, { method: 'POST' });
    await a.h.coordinator.waitForEnd(open.id);
    await call('DELETE', '/api/v1/jobs/{id}', `/api/v1/jobs/${held.id}`, 200);

    // (security) Who am I; users, orgs, members, secrets, tokens.
    const json = { 'content-type': 'application/json' };
    const me = (await call('GET', '/api/v1/whoami', '/api/v1/whoami', 200)) as {
      user: { name: string; serverAdmin: boolean };
    };
    expect(me.user).toMatchObject({ name: 'admin', serverAdmin: true });
    await call('POST', '/api/v1/users', '/api/v1/users', 201, { headers: json, body: '{"name":"cathy"}' });
    await call('GET', '/api/v1/users', '/api/v1/users', 200);
    await call('POST', '/api/v1/orgs', '/api/v1/orgs', 201, { headers: json, body: '{"name":"lab"}' });
    await call('GET', '/api/v1/orgs', '/api/v1/orgs', 200);
    await call('PUT', '/api/v1/orgs/{org}/members/{user}', '/api/v1/orgs/lab/members/cathy', 200, {
      headers: json,
      body: '{"role":"member"}',
    });
    const members = (await call('GET', '/api/v1/orgs/{org}/members', '/api/v1/orgs/lab/members', 200)) as {
      results: Array<{ role: string }>;
    };
    expect(members.results.map((m) => m.role)).toEqual(['member']);
    await call('DELETE', '/api/v1/orgs/{org}/members/{user}', '/api/v1/orgs/lab/members/cathy', 204);
    await call('PUT', '/api/v1/orgs/{org}/secrets/{name}', '/api/v1/orgs/lab/secrets/DB_PASS', 204, {
      headers: json,
      body: '{"value":"s3cret"}',
    });
    const secrets = (await call(
      'GET',
      '/api/v1/orgs/{org}/secrets',
      '/api/v1/orgs/lab/secrets',
      200,
    )) as object;
    expect(JSON.stringify(secrets)).not.toContain('s3cret');
    await call('DELETE', '/api/v1/orgs/{org}/secrets/{name}', '/api/v1/orgs/lab/secrets/DB_PASS', 204);
    const made = (await call('POST', '/api/v1/tokens', '/api/v1/tokens', 201, {
      headers: json,
      body: '{"name":"ci","user":"cathy","scope":"read","expiresIn":"1d"}',
    })) as { token: string; record: { id: string } };
    expect(made.token.length).toBeGreaterThan(20);
    await call('GET', '/api/v1/tokens', '/api/v1/tokens', 200);
    await call('DELETE', '/api/v1/tokens/{id}', `/api/v1/tokens/${made.record.id}`, 200);

    // (locks) Declare, list, break, remove.
    const declared = (await call('PUT', '/api/v1/locks/{name}', '/api/v1/locks/lab', 200, {
      headers: json,
      body: '{"capacity":3}',
    })) as { lock: { capacity: number } };
    expect(declared.lock.capacity).toBe(3);
    const locks = (await call('GET', '/api/v1/locks', '/api/v1/locks', 200)) as {
      results: Array<{ name: string }>;
    };
    expect(locks.results.map((l) => l.name)).toContain('lab');
    await call('POST', '/api/v1/locks/{name}/break', '/api/v1/locks/lab/break', 200);
    await call('DELETE', '/api/v1/locks/{name}', '/api/v1/locks/lab', 204);

    // (backends) Put (token sealed, never answered), list, get, delete.
    const json2 = { 'content-type': 'application/json' };
    const bk = (await call('PUT', '/api/v1/backends/{id}', '/api/v1/backends/conf-hook', 200, {
      headers: json2,
      body: '{"kind":"webhook","url":"http://127.0.0.1:9/run","token":"conf-secret-token"}',
    })) as { backend: { credentials: string } };
    expect(bk.backend.credentials).toBe('sealed');
    expect(JSON.stringify(await call('GET', '/api/v1/backends', '/api/v1/backends', 200))).not.toContain(
      'conf-secret-token',
    );
    await call('GET', '/api/v1/backends/{id}', '/api/v1/backends/conf-hook', 200);
    await call('DELETE', '/api/v1/backends/{id}', '/api/v1/backends/conf-hook', 200);
    // (hooks) With the job's hook token; this job ran on an agent, so there is no backend to report
    // for (409). Their success answers are checked in test/backends/webhook.test.ts.
    const hookHeaders = { ...json2, 'x-hook-token': HOOK_TOKENS.sign(id) };
    for (const [sub, body] of [
      ['status', '{"state":"running"}'],
      ['progress', '{"progress":5}'],
      ['output', '{"lines":["x"]}'],
    ] as const) {
      await call('POST', `/api/v1/hooks/jobs/{id}/${sub}`, `/api/v1/hooks/jobs/${id}/${sub}`, 409, {
        headers: hookHeaders,
        body,
      });
    }
    await call('GET', '/api/v1/hooks/jobs/{id}/files', `/api/v1/hooks/jobs/${id}/files`, 409, {
      headers: { 'x-hook-token': HOOK_TOKENS.sign(id) },
    });
    await call('GET', '/api/v1/hooks/jobs/{id}/files/{*}', `/api/v1/hooks/jobs/${id}/files/inputs/a`, 409, {
      headers: { 'x-hook-token': HOOK_TOKENS.sign(id) },
    });

    // (templates) Push (new, then unchanged), list, versions, one version; submit one with params.
    const TPL =
      'name: conf-tpl\nparams:\n  who: {required: true}\nstages:\n  - name: s\n    tasks: [{shell: {command: "echo {{.Params.who}}"}}]\n';
    const pushed = (await call('POST', '/api/v1/templates', '/api/v1/templates', 201, {
      headers: yaml,
      body: TPL,
    })) as { created: boolean; template: { version: number } };
    expect(pushed).toMatchObject({ created: true, template: { version: 1 } });
    await call('POST', '/api/v1/templates', '/api/v1/templates?name=conf-tpl', 200, {
      headers: yaml,
      body: TPL,
    });
    await call('GET', '/api/v1/templates', '/api/v1/templates', 200);
    await call('GET', '/api/v1/templates/{name}', '/api/v1/templates/conf-tpl', 200);
    await call(
      'GET',
      '/api/v1/templates/{name}/versions/{version}',
      '/api/v1/templates/conf-tpl/versions/1',
      200,
    );
    const fromTpl = (await call(
      'POST',
      '/api/v1/jobs',
      '/api/v1/jobs?template=conf-tpl@1&param=who=me',
      201,
    )) as {
      job: { template: unknown; params: unknown };
    };
    expect(fromTpl.job).toMatchObject({ template: { name: 'conf-tpl', version: 1 }, params: { who: 'me' } });

    // (schedules) Set, read, list, pause, resume, remove.
    const sched = '/api/v1/templates/{name}/schedule';
    const set = (await call('PUT', sched, '/api/v1/templates/conf-tpl/schedule', 200, {
      headers: json,
      body: '{"cron":"0 3 * * 1-5","timezone":"Europe/Rome","params":{"who":"cron"}}',
    })) as { schedule: { nextAt: string; paused: boolean } };
    expect(set.schedule.paused).toBe(false);
    expect(Date.parse(set.schedule.nextAt)).toBeGreaterThan(Date.now());
    await call('GET', sched, '/api/v1/templates/conf-tpl/schedule', 200);
    await call('GET', '/api/v1/schedules', '/api/v1/schedules', 200);
    await call('POST', `${sched}/pause`, '/api/v1/templates/conf-tpl/schedule/pause', 200);
    await call('POST', `${sched}/resume`, '/api/v1/templates/conf-tpl/schedule/resume', 200);
    await call('DELETE', sched, '/api/v1/templates/conf-tpl/schedule', 204);

    // (compat) The seeds' own APIs: ASCOB runs (seed 002), o2r jobs (seed 003).
    const dummy = (await call('POST', '/api/runs', '/api/runs', 200, {
      headers: json,
      body: '{"jobSpec": {"description": "dummy", "labels": {"_execution_backend_id": "dummyBackend"}}}',
    })) as { runId: number };
    await a.h.coordinator.waitForEnd(dummy.runId);
    const runInfo = (await call('GET', '/api/runs/{id}', `/api/runs/${dummy.runId}`, 200)) as {
      status: string;
    };
    expect(runInfo.status).toBe('SUCCEDED');
    expect(await call('GET', '/api/runs/{id}/output.txt', `/api/runs/${dummy.runId}/output.txt`, 200)).toBe(
      'Dummy output\n',
    );
    const again = (await call(
      'GET',
      '/api/runs/{id}/resubmit',
      `/api/runs/${dummy.runId}/resubmit`,
      200,
    )) as {
      runId: number;
    };
    await a.h.coordinator.waitForEnd(again.runId);
    const manual = (await call('POST', '/api/runs', '/api/runs', 200, {
      headers: json,
      body: JSON.stringify({ jobSpec: { manualStart: true, jobhub: files } }),
    })) as { runId: number };
    await call('POST', '/api/runs/{id}/files/{fileId}', `/api/runs/${manual.runId}/files/in.txt`, 200, {
      body: 'input\n',
    });
    await call('GET', '/api/runs/{id}/start', `/api/runs/${manual.runId}/start`, 200);
    await a.h.coordinator.waitForEnd(manual.runId);
    const slowRun = (await (
      await a.api('/api/runs', {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ jobSpec: { jobhub: SLOW } }),
      })
    ).json()) as { runId: number };
    await call('DELETE', '/api/runs/{id}', `/api/runs/${slowRun.runId}`, 200);
    await a.h.coordinator.waitForEnd(slowRun.runId);
    const searched = (await call('POST', '/api/search/runs', '/api/search/runs', 200, {
      headers: json,
      body: '{"statusFilter": ["SUCCEDED"], "maxResults": 2}',
    })) as { items: unknown[] };
    expect(searched.items).toHaveLength(2);
    const compendium = await tarBuffer([
      {
        name: 'jobhub.yaml',
        content: 'name: comp\nstages:\n  - name: s\n    tasks: [{shell: {command: "cat w.txt"}}]\n',
      },
      { name: 'w.txt', content: 'compendium\n' },
    ]);
    await a.api('/api/v1/workspaces?name=comp', { method: 'POST', body: compendium });
    const o2rJob = (await call('POST', '/api/v1/job', '/api/v1/job', 200, {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'compendium_id=comp',
    })) as { job_id: string };
    expect((await a.h.coordinator.waitForEnd(Number(o2rJob.job_id))).status).toBe('succeeded');
    await call('GET', '/api/v1/job', '/api/v1/job', 200);
    await call('GET', '/api/v1/job', '/api/v1/job?compendium_id=comp&fields=status&limit=1', 200);
    const o2rView = (await call('GET', '/api/v1/job/{id}', `/api/v1/job/${o2rJob.job_id}`, 200)) as {
      status: string;
    };
    expect(o2rView.status).toBe('success');

    const all = Object.values(doc.paths).flatMap((ops) => Object.values(ops).map((o) => o.operationId));
    expect([...called].sort()).toEqual([...all].sort());

    // The streaming form of the streaming routes: each frame's data matches the item schema.
    const itemSchema = (path: string, key: 'events' | 'lines') => {
      const page = doc.paths[path]?.get?.responses['200']?.content?.['application/json']?.schema as {
        properties: Record<string, { items: object }>;
      };
      return ajv.compile({ ...(page.properties[key]?.items ?? {}), components: doc.components });
    };
    for (const [path, url, key] of [
      ['/api/v1/jobs/{id}/events', `/api/v1/jobs/${id}/events?follow=true`, 'events'],
      ['/api/v1/jobs/{id}/logs', `/api/v1/jobs/${id}/logs`, 'lines'],
    ] as const) {
      const res = await a.api(url, { headers: { accept: 'text/event-stream' } });
      expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const { frames } = await readFrames(res);
      const validate = itemSchema(path, key);
      const items = frames.filter((f) => f.event !== 'end');
      expect(items.length).toBeGreaterThan(1);
      for (const f of items) expect(validate(JSON.parse(f.data)), ajv.errorsText(validate.errors)).toBe(true);
      expect(frames[frames.length - 1]?.event).toBe('end');
    }
  });
});
