/**
 * Malformed requests of every route answer the right status with `{error, code, details?}`, and
 * the server keeps serving afterwards.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ADMIN, AGENT, type ApiHarness, apiHarness } from '../helpers/api.js';

const SPEC = `name: tiny
stages:
  - name: s
    tasks:
      - {name: t, shell: {command: "true"}}
`;
const yaml = { 'content-type': 'application/yaml' };

let a: ApiHarness;
let jobId: number;
let nodeId: string;
let validateError: (body: unknown) => boolean;

beforeAll(async () => {
  a = await apiHarness({ bodyLimit: 64 * 1024 });
  const res = await a.api('/api/v1/jobs', { method: 'POST', headers: yaml, body: SPEC });
  jobId = ((await res.json()) as { id: number }).id;
  await a.h.coordinator.waitForEnd(jobId);
  nodeId = (await a.h.store.listNodes())[0]?.id ?? '';
  const doc = (await (await fetch(`${a.base}/api/v1/openapi.json`)).json()) as {
    components: { schemas: { Error: object } };
  };
  const ajv = new Ajv2020({ strict: false });
  validateError = ajv.compile(doc.components.schemas.Error);
});
afterAll(async () => {
  await a.dispose();
});

interface Case {
  name: string;
  method?: string;
  url: string | (() => string);
  init?: RequestInit;
  status: number;
  code: string;
  /** The `path` of the first detail, when the answer must name the failing field. */
  path?: string;
}

const big = 'x'.repeat(100 * 1024);

const cases: Case[] = [
  // Tokens
  {
    name: 'no token',
    url: '/api/v1/jobs',
    init: { headers: { 'x-api-token': '' } },
    status: 401,
    code: 'unauthorized',
  },
  {
    name: 'unknown token',
    url: '/api/v1/jobs',
    init: { headers: { 'x-api-token': 'nope' } },
    status: 401,
    code: 'unauthorized',
  },
  {
    name: 'agent token',
    url: '/api/v1/jobs',
    init: { headers: { 'x-api-token': AGENT } },
    status: 403,
    code: 'forbidden',
  },
  {
    name: 'agent bearer',
    url: '/api/v1/nodes',
    init: { headers: { authorization: `Bearer ${AGENT}` } },
    status: 403,
    code: 'forbidden',
  },
  {
    name: 'basic auth',
    url: '/api/v1/events',
    init: { headers: { authorization: 'Basic YWRtOg==' } },
    status: 401,
    code: 'unauthorized',
  },
  {
    name: 'no token on submit',
    method: 'POST',
    url: '/api/v1/jobs',
    init: { headers: { ...yaml, 'x-api-token': '' }, body: SPEC },
    status: 401,
    code: 'unauthorized',
  },
  {
    name: 'no token on stop',
    method: 'POST',
    url: () => `/api/v1/jobs/${jobId}/stop`,
    init: { headers: { 'x-api-token': '' } },
    status: 401,
    code: 'unauthorized',
  },
  {
    name: 'no token on drain',
    method: 'DELETE',
    url: () => `/api/v1/nodes/${nodeId}/drain`,
    init: { headers: { 'x-api-token': '' } },
    status: 401,
    code: 'unauthorized',
  },
  {
    name: 'no token on a stream',
    url: () => `/api/v1/jobs/${jobId}/events?follow=true`,
    init: { headers: { 'x-api-token': '' } },
    status: 401,
    code: 'unauthorized',
  },
  // Routes
  { name: 'unknown route', url: '/api/v1/nothing', status: 404, code: 'not_found' },
  {
    name: 'unknown route, no token',
    url: '/nothing',
    init: { headers: { 'x-api-token': '' } },
    status: 404,
    code: 'not_found',
  },
  { name: 'wrong method', method: 'PUT', url: '/api/v1/jobs', status: 404, code: 'not_found' },
  // Path ids
  {
    name: 'job id not a number',
    url: '/api/v1/jobs/abc',
    status: 400,
    code: 'bad_request',
    path: 'params.id',
  },
  { name: 'job id zero', url: '/api/v1/jobs/0', status: 400, code: 'bad_request', path: 'params.id' },
  {
    name: 'job id fraction',
    url: '/api/v1/jobs/1.5/spec',
    status: 400,
    code: 'bad_request',
    path: 'params.id',
  },
  {
    name: 'job id huge',
    url: '/api/v1/jobs/123456789012345678901234567890/plan',
    status: 400,
    code: 'bad_request',
    path: 'params.id',
  },
  { name: 'unknown job', url: '/api/v1/jobs/999', status: 404, code: 'not_found' },
  { name: 'unknown job spec', url: '/api/v1/jobs/999/spec', status: 404, code: 'not_found' },
  { name: 'unknown job plan', url: '/api/v1/jobs/999/plan', status: 404, code: 'not_found' },
  { name: 'unknown job events', url: '/api/v1/jobs/999/events', status: 404, code: 'not_found' },
  {
    name: 'unknown job event stream',
    url: '/api/v1/jobs/999/events?follow=true',
    status: 404,
    code: 'not_found',
  },
  { name: 'unknown job logs', url: '/api/v1/jobs/999/logs', status: 404, code: 'not_found' },
  { name: 'unknown job stop', method: 'POST', url: '/api/v1/jobs/999/stop', status: 404, code: 'not_found' },
  {
    name: 'unknown job retry',
    method: 'POST',
    url: '/api/v1/jobs/999/retry',
    status: 404,
    code: 'not_found',
  },
  {
    name: 'bad job id retry',
    method: 'POST',
    url: '/api/v1/jobs/x/retry',
    status: 400,
    code: 'bad_request',
    path: 'params.id',
  },
  { name: 'unknown node', url: '/api/v1/nodes/nosuch', status: 404, code: 'not_found' },
  { name: 'unknown node events', url: '/api/v1/nodes/nosuch/events', status: 404, code: 'not_found' },
  {
    name: 'unknown node drain',
    method: 'POST',
    url: '/api/v1/nodes/nosuch/drain',
    status: 404,
    code: 'not_found',
  },
  {
    name: 'unknown node undrain',
    method: 'DELETE',
    url: '/api/v1/nodes/nosuch/drain',
    status: 404,
    code: 'not_found',
  },
  // Queries
  {
    name: 'limit not a number',
    url: '/api/v1/jobs?limit=abc',
    status: 400,
    code: 'bad_request',
    path: 'query.limit',
  },
  { name: 'limit zero', url: '/api/v1/jobs?limit=0', status: 400, code: 'bad_request', path: 'query.limit' },
  {
    name: 'limit too big',
    url: '/api/v1/jobs?limit=5000',
    status: 400,
    code: 'bad_request',
    path: 'query.limit',
  },
  { name: 'start zero', url: '/api/v1/jobs?start=0', status: 400, code: 'bad_request', path: 'query.start' },
  {
    name: 'unknown status',
    url: '/api/v1/jobs?status=running,bogus',
    status: 400,
    code: 'bad_request',
    path: 'query.status[1]',
  },
  {
    name: 'unknown status, repeated',
    url: '/api/v1/jobs?status=running&status=nope',
    status: 400,
    code: 'bad_request',
    path: 'query.status[1]',
  },
  {
    name: 'unknown field',
    url: '/api/v1/jobs?fields=status,colour',
    status: 400,
    code: 'bad_request',
    path: 'query.fields[1]',
  },
  {
    name: 'bad cursor',
    url: '/api/v1/jobs?cursor=!!',
    status: 400,
    code: 'bad_request',
    path: 'query.cursor',
  },
  {
    name: 'forged cursor',
    url: `/api/v1/jobs?cursor=${Buffer.from('x1').toString('base64url')}`,
    status: 400,
    code: 'bad_request',
    path: 'query.cursor',
  },
  {
    name: 'bad createdAfter',
    url: '/api/v1/jobs?createdAfter=yesterday',
    status: 400,
    code: 'bad_request',
    path: 'query.createdAfter',
  },
  {
    name: 'bad createdBefore',
    url: '/api/v1/jobs?createdBefore=2024-13-45',
    status: 400,
    code: 'bad_request',
    path: 'query.createdBefore',
  },
  {
    name: 'label without =',
    url: '/api/v1/jobs?label=team',
    status: 400,
    code: 'bad_request',
    path: 'query.label[0]',
  },
  {
    name: 'events after negative',
    url: () => `/api/v1/jobs/${jobId}/events?after=-1`,
    status: 400,
    code: 'bad_request',
    path: 'query.after',
  },
  {
    name: 'events follow not boolean',
    url: () => `/api/v1/jobs/${jobId}/events?follow=maybe`,
    status: 400,
    code: 'bad_request',
    path: 'query.follow',
  },
  {
    name: 'bad Last-Event-ID',
    url: () => `/api/v1/jobs/${jobId}/events?follow=true`,
    init: { headers: { 'last-event-id': 'x' } },
    status: 400,
    code: 'bad_request',
    path: 'headers.last-event-id',
  },
  {
    name: 'logs limit too big',
    url: () => `/api/v1/jobs/${jobId}/logs?limit=20000`,
    status: 400,
    code: 'bad_request',
    path: 'query.limit',
  },
  {
    name: 'logs unknown task',
    url: () => `/api/v1/jobs/${jobId}/logs?task=nosuch`,
    status: 404,
    code: 'not_found',
  },
  {
    name: 'log stream unknown task',
    url: () => `/api/v1/jobs/${jobId}/logs?task=s/nosuch&follow=true`,
    status: 404,
    code: 'not_found',
  },
  {
    name: 'stop force not boolean',
    method: 'POST',
    url: () => `/api/v1/jobs/${jobId}/stop?force=2`,
    status: 400,
    code: 'bad_request',
    path: 'query.force',
  },
  {
    name: 'node events limit',
    url: () => `/api/v1/nodes/${nodeId}/events?limit=0`,
    status: 400,
    code: 'bad_request',
    path: 'query.limit',
  },
  {
    name: 'events job not a number',
    url: '/api/v1/events?job=x',
    status: 400,
    code: 'bad_request',
    path: 'query.job',
  },
  {
    name: 'events after not a number',
    url: '/api/v1/events?after=x&follow=true',
    status: 400,
    code: 'bad_request',
    path: 'query.after',
  },
  // Bodies
  ...['/api/v1/jobs', '/api/v1/plan', '/api/v1/specs/validate'].flatMap((url): Case[] => [
    { name: `${url}: no body`, method: 'POST', url, status: 400, code: 'bad_request', path: 'body' },
    {
      name: `${url}: empty yaml`,
      method: 'POST',
      url,
      init: { headers: yaml, body: '' },
      status: 400,
      code: 'bad_request',
      path: 'body',
    },
    {
      name: `${url}: malformed JSON`,
      method: 'POST',
      url,
      init: { headers: { 'content-type': 'application/json' }, body: '{"name": "x",' },
      status: 400,
      code: 'bad_request',
      path: 'body',
    },
    {
      name: `${url}: JSON array`,
      method: 'POST',
      url,
      init: { headers: { 'content-type': 'application/json' }, body: '[1, 2]' },
      status: 400,
      code: 'bad_request',
      path: 'body',
    },
    {
      name: `${url}: wrong content type`,
      method: 'POST',
      url,
      init: { headers: { 'content-type': 'application/xml' }, body: '<job/>' },
      status: 415,
      code: 'unsupported_media_type',
    },
    {
      name: `${url}: no content type`,
      method: 'POST',
      url,
      init: { body: new Uint8Array([110, 97, 109, 101]) },
      status: 415,
      code: 'unsupported_media_type',
    },
    {
      name: `${url}: too large`,
      method: 'POST',
      url,
      init: { headers: yaml, body: `name: x\n# ${big}\n` },
      status: 413,
      code: 'too_large',
    },
  ]),
  {
    name: 'invalid spec on submit',
    method: 'POST',
    url: '/api/v1/jobs',
    init: { headers: yaml, body: 'name: x\nstages: 3\n' },
    status: 400,
    code: 'spec_invalid',
    path: 'stages',
  },
  {
    name: 'invalid spec on plan',
    method: 'POST',
    url: '/api/v1/plan',
    init: { headers: yaml, body: 'name: x\nstages:\n  - name: s\n    tasks: [{name: t}]\n' },
    status: 400,
    code: 'spec_invalid',
  },
  {
    name: 'YAML syntax error',
    method: 'POST',
    url: '/api/v1/jobs',
    init: { headers: yaml, body: 'name: [x\n' },
    status: 400,
    code: 'spec_invalid',
  },
];

describe('malformed requests', () => {
  it.each(cases)('$name → $status $code', async (c) => {
    const url = typeof c.url === 'function' ? c.url() : c.url;
    const res = await a.api(url, { method: c.method ?? 'GET', ...c.init });
    const body = (await res.json()) as { error: string; code: string; details?: Array<{ path: string }> };
    expect({ status: res.status, code: body.code }, JSON.stringify(body)).toEqual({
      status: c.status,
      code: c.code,
    });
    expect(typeof body.error).toBe('string');
    expect(body.error.length).toBeGreaterThan(0);
    expect(validateError(body), JSON.stringify(body)).toBe(true);
    if (c.path !== undefined) expect(body.details?.[0]?.path, JSON.stringify(body)).toBe(c.path);
    // Never a stack trace.
    expect(JSON.stringify(body)).not.toMatch(/\bat .+\.(ts|js):\d+/);
    const health = await fetch(`${a.base}/healthz`);
    expect(health.status).toBe(200);
  });

  it('locates the problems of an invalid spec (line and column)', async () => {
    const res = await a.api('/api/v1/jobs', {
      method: 'POST',
      headers: yaml,
      body: 'name: ok\nstages:\n  - name: s\n    tasks:\n      - {name: t, shell: {command: 3}}\n',
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as {
      code: string;
      details: Array<{ path: string; line?: number; column?: number }>;
    };
    expect(body.code).toBe('spec_invalid');
    expect(body.details.length).toBeGreaterThan(0);
    for (const d of body.details) {
      expect(d.line).toBeGreaterThan(0);
      expect(d.column).toBeGreaterThan(0);
    }
    expect(body.details.some((d) => d.path.startsWith('stages[0].tasks[0]'))).toBe(true);
  });

  it('answers an invalid spec on validate with 200 and the problems', async () => {
    const res = await a.api('/api/v1/specs/validate', {
      method: 'POST',
      headers: yaml,
      body: 'name: x\nstages: 3\n',
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { valid: boolean; problems: Array<{ path: string; line: number }> };
    expect(body.valid).toBe(false);
    expect(body.problems[0]).toMatchObject({ path: 'stages', line: 2 });
  });

  it('takes the token as Authorization: Bearer too', async () => {
    const res = await fetch(`${a.base}/api/v1/jobs`, { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(res.status).toBe(200);
  });

  it('answers 409 when a finished job is stopped', async () => {
    const res = await a.api(`/api/v1/jobs/${jobId}/stop`, { method: 'POST' });
    expect(res.status).toBe(409);
    expect(((await res.json()) as { code: string }).code).toBe('conflict');
  });

  it('answers 503 unavailable from /readyz while not ready', async () => {
    const b = await apiHarness({ ctx: (ctx) => ({ ...ctx, ready: () => false }) });
    try {
      const res = await fetch(`${b.base}/readyz`);
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ code: 'unavailable' });
    } finally {
      await b.dispose();
    }
  });

  it('answers an unexpected failure with 500 internal, a generic message, and one line to stderr', async () => {
    const b = await apiHarness({
      ctx: (ctx) => ({
        ...ctx,
        store: Object.assign(Object.create(ctx.store) as typeof ctx.store, {
          listNodes: async () => {
            throw new Error('disk on fire at /var/secret/path');
          },
        }),
      }),
    });
    const writes: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk));
      return true;
    });
    try {
      const res = await b.api('/api/v1/nodes');
      const text = await res.text();
      expect(res.status).toBe(500);
      expect(JSON.parse(text)).toEqual({ error: 'internal error; see the server log', code: 'internal' });
      expect(text).not.toContain('fire');
      expect(writes.filter((w) => w.includes('disk on fire'))).toHaveLength(1);
      expect((await fetch(`${b.base}/healthz`)).status).toBe(200);
    } finally {
      spy.mockRestore();
      await b.dispose();
    }
  });
});
