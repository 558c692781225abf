/**
 * How `jobhub server` serves the web UI (no browser needed): index.html at `/` and at UI paths with a
 * strict Content-Security-Policy, hashed assets cached for good, `/api/...` unknown paths still
 * answering the JSON error, UI routes out of the OpenAPI document; the API additions the UI uses
 * (logs `before`, events `tail`); and `jobhub run --ui`.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN,
  api,
  eventually,
  type Proc,
  type ServerProc,
  startAgent,
  startServer,
} from '../helpers/cluster.js';
import { tempDir } from '../helpers/embedded.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
let server: ServerProc;
let agent: Proc;

beforeAll(async () => {
  server = await startServer();
  agent = startAgent({ server: server.url, name: 'web-node' });
  await eventually(async () => {
    const r = await api<{ results: Array<{ connected: boolean }> }>(server.url, 'GET', '/api/v1/nodes');
    return r.results.some((n) => n.connected) ? true : undefined;
  });
});
afterAll(async () => {
  await agent?.kill();
  await server?.kill();
});

const get = (route: string, headers: Record<string, string> = {}) =>
  fetch(`${server.url}${route}`, { headers });

async function finished(id: number): Promise<void> {
  let last: unknown;
  await eventually(async () => {
    const j = await api<{ status: string }>(server.url, 'GET', `/api/v1/jobs/${id}`);
    last = j;
    return ['succeeded', 'failed', 'stopped'].includes(j.status) ? true : undefined;
  }, 15_000).catch((err: unknown) => {
    throw new Error(`job ${id} did not end: ${JSON.stringify(last)} (${String(err)})`);
  });
}

describe('serving the web UI', () => {
  it('answers index.html at / and at UI paths, with a strict CSP, and its assets with a long cache', async () => {
    for (const route of [
      '/',
      '/jobs',
      '/jobs/12',
      '/jobs/12/tasks/3',
      '/nodes',
      '/locks',
      '/templates',
      '/submit',
    ]) {
      const res = await get(route);
      expect(res.status, route).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/html');
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
      expect(res.headers.get('cache-control')).toBe('no-cache');
      const html = await res.text();
      expect(html).toMatch(/<script type="module" src="\/assets\/app-[A-Z0-9]+\.js"><\/script>/);
      // Nothing inline and nothing from another host.
      expect(html).not.toMatch(/<script>|<style>|https?:\/\//);
    }
    const html = await (await get('/')).text();
    for (const asset of [/\/assets\/app-[A-Z0-9]+\.js/, /\/assets\/app-[A-Z0-9]+\.css/]) {
      const url = asset.exec(html)?.[0] ?? '';
      const res = await get(url);
      expect(res.status, url).toBe(200);
      expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(1000);
    }
  });

  it('keeps JSON errors for /api paths and refuses paths outside the assets', async () => {
    const res = await get('/api/v1/no-such-thing');
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'no route GET /api/v1/no-such-thing', code: 'not_found' });
    for (const bad of ['/assets/..%2Fpackage.json', '/assets/nope.js', '/assets/app.exe', '/jobs/1/2/3/4']) {
      const r = await get(bad);
      expect(r.status, bad).toBe(404);
      expect(r.headers.get('content-type'), bad).toContain('application/json');
    }
    // The UI's routes are no part of the API's document.
    const doc = (await (await get('/api/v1/openapi.json')).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths).filter((p) => !p.startsWith('/api/'))).not.toContain('/');
    expect(Object.keys(doc.paths).some((p) => p.startsWith('/assets') || p === '/jobs')).toBe(false);
  });
});

describe('the API the UI reads', () => {
  it('pages back through a log with `before` (its tail, then older pages), not with follow', async () => {
    const { id } = await api<{ id: number }>(
      server.url,
      'POST',
      '/api/v1/jobs',
      'name: lines\nstages:\n  - name: s\n    tasks:\n      - {name: t, shell: {command: "seq 1 25"}}\n',
    );
    await finished(id);
    type Page = { lines: Array<{ id: number; text: string }> };
    const tail = await api<Page>(
      server.url,
      'GET',
      `/api/v1/jobs/${id}/logs?task=t&before=9007199254740991&limit=10`,
    );
    expect(tail.lines.map((l) => l.text)).toEqual(Array.from({ length: 10 }, (_, i) => String(16 + i)));
    const older = await api<Page>(
      server.url,
      'GET',
      `/api/v1/jobs/${id}/logs?task=t&before=${tail.lines[0]?.id}&limit=10`,
    );
    expect(older.lines.map((l) => l.text)).toEqual(Array.from({ length: 10 }, (_, i) => String(6 + i)));
    const first = await api<Page>(
      server.url,
      'GET',
      `/api/v1/jobs/${id}/logs?task=t&before=${older.lines[0]?.id}&limit=10`,
    );
    expect(first.lines.map((l) => l.text)).toEqual(['1', '2', '3', '4', '5']);
    const res = await fetch(`${server.url}/api/v1/jobs/${id}/logs?before=5&follow=true`, {
      headers: { 'x-api-token': ADMIN },
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 'bad_request', details: [{ path: 'query.before' }] });
  });

  it('streams only new events with `tail=true`', async () => {
    const before = await api<{ events: Array<{ seq: number }> }>(
      server.url,
      'GET',
      '/api/v1/events?limit=10000',
    );
    const newest = before.events.at(-1)?.seq ?? 0;
    expect(newest).toBeGreaterThan(0);
    const ctl = new AbortController();
    const res = await fetch(`${server.url}/api/v1/events?follow=true&tail=true&type=job.submitted`, {
      headers: { 'x-api-token': ADMIN },
      signal: ctl.signal,
    });
    const reader = res.body!.getReader();
    // The stream is open (headers came) before the job is submitted: its event is the first one.
    const { id } = await api<{ id: number }>(
      server.url,
      'POST',
      '/api/v1/jobs',
      'name: tailed\nstages:\n  - name: s\n    tasks:\n      - {name: t, shell: {command: "true"}}\n',
    );
    let text = '';
    while (!/^data: .*\n/m.test(text)) {
      const { value } = await reader.read();
      text += new TextDecoder().decode(value);
    }
    ctl.abort();
    const data = /^data: (.*)$/m.exec(text)?.[1];
    const first = JSON.parse(data ?? '{}') as { seq: number; jobId: number; type: string };
    expect(first).toMatchObject({ type: 'job.submitted', jobId: id });
    expect(first.seq).toBeGreaterThan(newest);
  });
});

describe('jobhub run --ui', () => {
  it('serves the UI and the API on 127.0.0.1 while the job runs, and prints where', async () => {
    const dir = tempDir('jobhub-runui-');
    const file = path.join(dir, 'job.yaml');
    writeFileSync(
      file,
      'name: local-ui\nstages:\n  - name: s\n    tasks:\n      - {name: t, shell: {command: "sleep 60"}}\n',
    );
    const child = spawn(
      process.execPath,
      [path.join(ROOT, 'bin/jobhub.js'), 'run', file, '--ui', '--data', path.join(dir, 'data'), '--json'],
      {
        env: { ...process.env, NO_COLOR: '1', JOBHUB_ADMIN_TOKEN: '' },
      },
    );
    let err = '';
    child.stderr.on('data', (b: Buffer) => {
      err += b.toString();
    });
    const exited = new Promise<number | null>((r) => child.on('exit', r));
    try {
      const m = await eventually(
        async () =>
          /web UI at (http:\/\/127\.0\.0\.1:\d+\/) \(sign in with the token (\S+)\)/.exec(err) ?? undefined,
        20_000,
      );
      const [, url, token] = m;
      const page = await fetch(url!);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
      expect((await fetch(`${url}api/v1/jobs`)).status).toBe(401);
      const jobs = await eventually(async () => {
        const r = (await (
          await fetch(`${url}api/v1/jobs`, { headers: { 'x-api-token': token! } })
        ).json()) as {
          results: Array<{ id: number; name: string; status: string }>;
        };
        return r.results[0]?.status === 'running' ? r.results : undefined;
      });
      expect(jobs.map((j) => j.name)).toEqual(['local-ui']);
      // The UI's stop button calls this: the run ends, as stopped.
      const stop = await fetch(`${url}api/v1/jobs/${jobs[0]!.id}/stop`, {
        method: 'POST',
        headers: { 'x-api-token': token! },
      });
      expect(stop.status).toBe(202);
      expect(await exited).toBe(1);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
