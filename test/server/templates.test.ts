/**
 * Templates over the REST API: versions (a changed push makes the next one, an identical one does
 * not, old ones stay runnable), submitting one by name or name@version with parameter values, the
 * job recording which version it came from, the job list's template filter, parameter errors naming
 * the parameter, audit events, and another org's templates staying invisible.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, apiHarness } from '../helpers/api.js';

const yaml = { 'content-type': 'application/yaml' };

const bench = (echo: string) => `name: bench-redis
description: one benchmark run
params:
  cluster: {type: enum, values: [lab, prod], required: true}
  runs: {type: number, default: 2}
stages:
  - name: s
    tasks:
      - name: t
        shell: {command: "echo ${echo} {{.Params.cluster}} x{{.Params.runs}} $JOBHUB_PARAM_CLUSTER"}
`;

let a: ApiHarness;
beforeAll(async () => {
  a = await apiHarness();
});
afterAll(async () => {
  await a.dispose();
});

async function json<T>(res: Response, status: number): Promise<T> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  return JSON.parse(text) as T;
}

const push = (text: string, token?: string, query = '') =>
  a.api(`/api/v1/templates${query}`, {
    method: 'POST',
    headers: { ...yaml, ...(token ? { 'x-api-token': token } : {}) },
    body: text,
  });

interface JobView {
  id: number;
  status: string;
  params: Record<string, unknown> | null;
  template: { name: string; version: number } | null;
}

async function logsOf(id: number): Promise<string[]> {
  const page = await json<{ lines: Array<{ text: string }> }>(await a.api(`/api/v1/jobs/${id}/logs`), 200);
  return page.lines.map((l) => l.text);
}

describe('templates over the API', () => {
  it('versions pushes, runs any version with params, and records and filters by template', async () => {
    const v1 = await json<{ created: boolean; template: { version: number; params: unknown[] } }>(
      await push(bench('v1')),
      201,
    );
    expect(v1).toMatchObject({ created: true, template: { version: 1 } });
    expect(v1.template.params).toEqual([
      { name: 'cluster', type: 'enum', values: ['lab', 'prod'], required: true },
      { name: 'runs', type: 'number', default: 2, required: false },
    ]);
    expect(await json(await push(bench('v1')), 200)).toMatchObject({
      created: false,
      template: { version: 1 },
    });
    expect(await json(await push(bench('v2')), 201)).toMatchObject({
      created: true,
      template: { version: 2 },
    });

    const list = await json<{ results: Array<{ name: string; version: number; versions: number }> }>(
      await a.api('/api/v1/templates'),
      200,
    );
    expect(list.results.find((t) => t.name === 'bench-redis')).toMatchObject({ version: 2, versions: 2 });
    const versions = await json<{ versions: Array<{ version: number }> }>(
      await a.api('/api/v1/templates/bench-redis'),
      200,
    );
    expect(versions.versions.map((v) => v.version)).toEqual([2, 1]);
    const one = await json<{ spec: string }>(await a.api('/api/v1/templates/bench-redis/versions/1'), 200);
    expect(one.spec).toBe(bench('v1'));

    // Newest version by name; an old one by name@version.
    const latest = await json<{ id: number; job: JobView }>(
      await a.api('/api/v1/jobs?template=bench-redis&param=cluster=prod', { method: 'POST' }),
      201,
    );
    expect(latest.job.template).toEqual({ name: 'bench-redis', version: 2 });
    expect(latest.job.params).toEqual({ cluster: 'prod', runs: 2 });
    const old = await json<{ id: number; job: JobView }>(
      await a.api('/api/v1/jobs?template=bench-redis@1&param=cluster=lab&param=runs=5', { method: 'POST' }),
      201,
    );
    expect(old.job.template).toEqual({ name: 'bench-redis', version: 1 });
    expect((await a.h.coordinator.waitForEnd(latest.id)).status).toBe('succeeded');
    expect((await a.h.coordinator.waitForEnd(old.id)).status).toBe('succeeded');
    expect(await logsOf(latest.id)).toEqual(['v2 prod x2 prod']);
    expect(await logsOf(old.id)).toEqual(['v1 lab x5 lab']);

    // A spec sent as such, with params: no template.
    const plain = await json<{ id: number; job: JobView }>(
      await a.api('/api/v1/jobs?param=cluster=lab', { method: 'POST', headers: yaml, body: bench('plain') }),
      201,
    );
    expect(plain.job).toMatchObject({ template: null, params: { cluster: 'lab', runs: 2 } });

    const filtered = await json<{ results: JobView[] }>(
      await a.api('/api/v1/jobs?template=bench-redis'),
      200,
    );
    expect(filtered.results.map((j) => j.id)).toEqual([old.id, latest.id]);
    const detail = await json<JobView>(await a.api(`/api/v1/jobs/${old.id}`), 200);
    expect(detail).toMatchObject({
      template: { name: 'bench-redis', version: 1 },
      params: { cluster: 'lab', runs: 5 },
    });

    // A retry keeps the values and the origin.
    const retried = await json<{ id: number; job: JobView }>(
      await a.api(`/api/v1/jobs/${old.id}/retry`, { method: 'POST' }),
      201,
    );
    expect(retried.job).toMatchObject({
      template: { name: 'bench-redis', version: 1 },
      params: { cluster: 'lab', runs: 5 },
    });
    await a.h.coordinator.waitForEnd(retried.id);

    const audit = await json<{ events: Array<{ data: Record<string, unknown> }> }>(
      await a.api('/api/v1/events?type=audit&limit=1000'),
      200,
    );
    const pushes = audit.events.filter((e) => e.data.action === 'template.push').map((e) => e.data);
    expect(pushes).toEqual([
      expect.objectContaining({ name: 'bench-redis', version: 1, created: true }),
      expect.objectContaining({ name: 'bench-redis', version: 1, created: false }),
      expect.objectContaining({ name: 'bench-redis', version: 2, created: true }),
    ]);
    expect(
      audit.events.some((e) => e.data.action === 'job.submit' && e.data.template === 'bench-redis@1'),
    ).toBe(true);
  });

  it('refuses bad parameter values with a 400 naming the parameter', async () => {
    await push(bench('p'), undefined, '?name=bench-p');
    const cases: Array<[string, string, string]> = [
      ['', 'params.cluster', 'is required'],
      ['&param=cluster=dev', 'params.cluster', 'must be one of lab, prod, got "dev"'],
      ['&param=cluster=lab&param=runs=x', 'params.runs', 'must be a number, got "x"'],
      ['&param=cluster=lab&param=color=red', 'params.color', 'unknown parameter'],
    ];
    for (const [query, path, message] of cases) {
      const body = await json<{
        code: string;
        error: string;
        details: Array<{ path: string; message: string }>;
      }>(await a.api(`/api/v1/jobs?template=bench-p${query}`, { method: 'POST' }), 400);
      expect(body.code).toBe('bad_request');
      expect(body.error).toContain(path);
      expect(body.details).toEqual([{ path, message: expect.stringContaining(message) }]);
    }
    expect((await a.api('/api/v1/jobs?template=nope', { method: 'POST' })).status).toBe(404);
    expect(
      (await a.api('/api/v1/jobs?template=bench-p@9&param=cluster=lab', { method: 'POST' })).status,
    ).toBe(404);
    const both = await a.api('/api/v1/jobs?template=bench-p&param=cluster=lab', {
      method: 'POST',
      headers: yaml,
      body: bench('x'),
    });
    expect(both.status).toBe(400);
    // An invalid spec is refused at push, located.
    const bad = await json<{ code: string; details: Array<{ line: number }> }>(
      await push('name: broken\nstages:\n  - name: s\n    tasks: [{shell: {command: "{{.Params.nope}}"}}]\n'),
      400,
    );
    expect(bad.code).toBe('spec_invalid');
    expect(bad.details[0]?.line).toBe(4);
  });

  it("keeps an org's templates from another org: not listed, 404, name taken", async () => {
    const admin = async (method: string, path: string, body: unknown) =>
      json<Record<string, unknown>>(
        await a.api(path, {
          method,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        }),
        method === 'PUT' ? 200 : 201,
      );
    for (const org of ['tpl-a', 'tpl-b']) await admin('POST', '/api/v1/orgs', { name: org });
    const tokens: Record<string, string> = {};
    for (const [user, org] of [
      ['tina', 'tpl-a'],
      ['bert', 'tpl-b'],
    ] as const) {
      await admin('POST', '/api/v1/users', { name: user });
      await admin('PUT', `/api/v1/orgs/${org}/members/${user}`, { role: 'member' });
      tokens[user] = (await admin('POST', '/api/v1/tokens', { name: `${user}-t`, user })).token as string;
    }
    const ofA = `name: secret-sauce\nowner: {type: org, name: tpl-a}\nstages:\n  - name: s\n    tasks: [{shell: {command: "true"}}]\n`;
    const pushed = await json<{ template: { owner: { name: string } } }>(await push(ofA, tokens.tina), 201);
    expect(pushed.template.owner).toMatchObject({ name: 'tpl-a', type: 'org' });
    const as = (user: string) => ({ 'x-api-token': tokens[user] ?? '' });

    const bertList = await json<{ results: Array<{ name: string }> }>(
      await a.api('/api/v1/templates', { headers: as('bert') }),
      200,
    );
    expect(bertList.results.map((t) => t.name)).not.toContain('secret-sauce');
    expect((await a.api('/api/v1/templates/secret-sauce', { headers: as('bert') })).status).toBe(404);
    expect((await a.api('/api/v1/templates/secret-sauce/versions/1', { headers: as('bert') })).status).toBe(
      404,
    );
    expect(
      (await a.api('/api/v1/jobs?template=secret-sauce', { method: 'POST', headers: as('bert') })).status,
    ).toBe(404);
    // Bert cannot take the name over; he is not told whose it is.
    const taken = await push(ofA.replace('tpl-a', 'tpl-b'), tokens.bert);
    expect(taken.status).toBe(409);
    expect(await taken.text()).not.toContain('tpl-a');

    const tinaList = await json<{ results: Array<{ name: string }> }>(
      await a.api('/api/v1/templates', { headers: as('tina') }),
      200,
    );
    expect(tinaList.results.map((t) => t.name)).toContain('secret-sauce');
    const run = await json<{ id: number; job: JobView & { owner: { name: string } } }>(
      await a.api('/api/v1/jobs?template=secret-sauce', { method: 'POST', headers: as('tina') }),
      201,
    );
    expect(run.job.owner.name).toBe('tpl-a');
    expect(run.job.params).toBeNull();
  });
});
