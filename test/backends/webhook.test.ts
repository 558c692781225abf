/**
 * The webhook backend against a fake backend (test/helpers/fake-webhook.ts) with a real `jobhub
 * server` process, on SQLite and on PostgreSQL: jobhub POSTs the job with its hook URL and token;
 * the backend reports progress, output and status through the hook and fetches the job's input
 * file; wrong tokens, unknown jobs, jobs not on a backend and ended jobs are refused; a statusUrl is
 * polled (seed 002's asynchronous polling); a stop reaches the stop URL and the job ends stopped; an
 * unreachable webhook fails the job.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HOOK_KEY_LABEL, HookTokens } from '../../src/backends/hook-tokens.js';
import { ServerKey } from '../../src/server/server-key.js';
import { freePort } from '../agent/harness.js';
import { ADMIN, api, eventually, type Proc, type ServerProc, startServer } from '../helpers/cluster.js';
import { tempDir } from '../helpers/embedded.js';
import { FakeWebhook, hook } from '../helpers/fake-webhook.js';
import { fileSchema, PG_URL as PG } from '../helpers/store.js';
import { final, lineSeen, lines, lockHolders, submit } from './support.js';

if (!PG)
  console.warn('PostgreSQL webhook backend tests skipped: set JOBHUB_TEST_PG_URL=postgres://... to run them');

const procs: Proc[] = [];
const KEY = 'webhook-test-key';
/** The hook tokens the servers here make (they share KEY): for jobs jobhub gave no token for. */
const TOKENS = new HookTokens(ServerKey.from(KEY).derive(HOOK_KEY_LABEL));
const schema = fileSchema('jh_bk_');
let webhook: FakeWebhook;
let deadPort = 0;

beforeAll(async () => {
  webhook = await new FakeWebhook().start();
  deadPort = await freePort();
});
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.kill('SIGKILL')));
  // Each server numbers its jobs from 1: what the fake got belongs to the test that ends.
  webhook.jobs.clear();
  webhook.states.clear();
});
afterAll(async () => {
  await webhook.close();
});

async function serverOn(store: 'sqlite' | 'postgres'): Promise<ServerProc> {
  const dir = tempDir('jobhub-wh-');
  const file = path.join(dir, 'backends.json');
  const common = { pollMs: 30, timeoutMs: 1000, retries: 2, unreachableMs: 300, stopGraceMs: 3000 };
  writeFileSync(
    file,
    JSON.stringify({
      backends: [
        {
          id: 'hooked',
          kind: 'webhook',
          url: `${webhook.url}/run`,
          token: 'webhook-bearer-s3cret',
          ...common,
        },
        {
          id: 'polled',
          kind: 'webhook',
          url: `${webhook.url}/run`,
          statusUrl: `${webhook.url}/status/{id}`,
          stopUrl: `${webhook.url}/stop/{id}`,
          ...common,
        },
        { id: 'gone', kind: 'webhook', url: `http://127.0.0.1:${deadPort}/run`, ...common },
      ],
    }),
  );
  const args = ['--backends', file];
  const env: Record<string, string> = { JOBHUB_SERVER_KEY: KEY };
  if (store === 'postgres' && PG) args.push('--database', PG, '--database-schema', schema());
  const s = await startServer({ dataDir: dir, args, env });
  procs.push(s);
  return s;
}

const stores = PG ? (['sqlite', 'postgres'] as const) : (['sqlite'] as const);

describe.each(stores)('webhook backend (%s)', (store) => {
  it('sends the job, takes status, progress and output through the hook, and serves its input file', async () => {
    const server = await serverOn(store);
    const form = new FormData();
    form.append(
      'spec',
      'name: hooked-job\nlabels: {backend: hooked, team: qa}\ninputs: [{name: data.csv}]\nparams: {n: {type: number, default: 3}}\n',
    );
    form.append('file', new Blob(['a,b\n1,2\n']), 'data.csv');
    const res = await fetch(`${server.url}/api/v1/jobs`, {
      method: 'POST',
      headers: { 'x-api-token': ADMIN },
      body: form,
    });
    expect(res.status, await res.clone().text()).toBe(201);
    const { id } = (await res.json()) as { id: number };
    const [, job] = await webhook.received(id);
    expect(job.name).toBe('hooked-job');
    expect(job.params).toEqual({ n: '3' });
    expect(job.labels).toMatchObject({ backend: 'hooked', team: 'qa' });
    expect(job.authorization).toBe('Bearer webhook-bearer-s3cret');
    expect(job.hook.url).toBe(`${server.url}/api/v1/hooks/jobs/${id}`);
    expect(job.inputs.map((f) => f.path)).toEqual(['inputs/data.csv']);

    // The backend fetches the input through the hook.
    const file = await fetch(job.inputs[0]?.url ?? '', { headers: { 'x-hook-token': job.hook.token } });
    expect(await file.text()).toBe('a,b\n1,2\n');
    expect((await hook(job, 'GET', '/files')).body).toMatchObject({
      results: [{ path: 'inputs/data.csv', size: 8 }],
    });

    expect((await hook(job, 'POST', '/progress', { progress: 40, text: 'halfway' })).status).toBe(200);
    expect((await hook(job, 'POST', '/output', { lines: ['line 1', 'line 2'] })).body).toEqual({
      jobId: id,
      accepted: 2,
    });
    expect((await hook(job, 'POST', '/output', { text: 'line 3\nline 4\n', stream: 'stderr' })).status).toBe(
      200,
    );
    expect((await hook(job, 'POST', '/status', { state: 'succeeded', text: 'all good' })).status).toBe(200);
    const done = await final(server.url, id);
    expect(done.status).toBe('succeeded');
    const log = await lines(server.url, id);
    expect(log.filter((l) => l.stream !== 'system').map((l) => l.text)).toEqual([
      'line 1',
      'line 2',
      'line 3',
      'line 4',
    ]);
    expect(log.map((l) => l.text)).toContain('progress 40%: halfway');

    // An ended job's reports are closed; wrong token, unknown job refused.
    expect((await hook(job, 'POST', '/status', { state: 'failed' })).status).toBe(409);
    expect((await hook(job, 'POST', '/output', { lines: ['x'] }, 'wrong')).status).toBe(403);
    // Another job's token opens nothing here (403); a valid token of a job that does not exist: 404.
    const elsewhere = { hook: { url: `${server.url}/api/v1/hooks/jobs/99999`, token: job.hook.token } };
    expect((await hook(elsewhere, 'POST', '/status', { state: 'running' })).status).toBe(403);
    const unknownJob = { hook: { url: `${server.url}/api/v1/hooks/jobs/99999`, token: TOKENS.sign(99999) } };
    expect((await hook(unknownJob, 'POST', '/status', { state: 'running' })).status).toBe(404);
    // A job on jobhub's own agents (queued here: no agent) has no backend to report for it: 409.
    const own = await submit(
      server.url,
      'name: own\nstages: [{name: s, tasks: [{shell: {command: "true"}}]}]\n',
    );
    const ownJob = { hook: { url: `${server.url}/api/v1/hooks/jobs/${own}`, token: TOKENS.sign(own) } };
    const conflict = await hook(ownJob, 'POST', '/output', { lines: ['x'] });
    expect(conflict.status).toBe(409);
    expect(conflict.text).toMatch(/does not run on a backend/);
    const noToken = await fetch(`${server.url}/api/v1/hooks/jobs/${id}/status`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"state":"running"}',
    });
    expect(noToken.status).toBe(401);
    // A report is JSON: anything else is refused before its body is read.
    const asText = await fetch(`${job.hook.url}/output`, {
      method: 'POST',
      headers: { 'x-hook-token': job.hook.token, 'content-type': 'text/plain' },
      body: 'line',
    });
    expect(asText.status).toBe(415);
    // A bad body names its field.
    const badBody = await hook(job, 'POST', '/status', { state: 'exploded' });
    expect(badBody.status).toBe(400);
    expect(badBody.text).toMatch(/state/);
    // The bearer token never shows in the API.
    expect(JSON.stringify(await api(server.url, 'GET', '/api/v1/backends'))).not.toContain(
      'webhook-bearer-s3cret',
    );
  });

  it('polls a statusUrl, fails on a failed state, stops through the stop URL, and fails an unreachable webhook', async () => {
    const server = await serverOn(store);
    const failing = await submit(server.url, 'name: polled-job\nlabels: {backend: polled}\n');
    const [ext] = await webhook.received(failing);
    webhook.states.set(ext, { state: 'running', output: 'starting\nstep 1\n' });
    await lineSeen(server.url, failing, 'step 1', 10_000);
    webhook.states.set(ext, {
      state: 'failed',
      text: 'disk full',
      output: 'starting\nstep 1\nstep 2 failed',
    });
    const failed = await final(server.url, failing);
    expect(failed.status).toBe('failed');
    expect(failed.reason).toMatch(/disk full/);
    expect(
      (await lines(server.url, failing)).filter((l) => l.stream === 'stdout').map((l) => l.text),
    ).toEqual(['starting', 'step 1', 'step 2 failed']);

    const stopping = await submit(server.url, 'name: polled-stop\nlabels: {backend: polled}\n');
    const [ext2] = await webhook.received(stopping);
    await api(server.url, 'POST', `/api/v1/jobs/${stopping}/stop`, '{}', 'application/json');
    await eventually(async () => (webhook.stops.some((s) => s.id === ext2) ? true : undefined), 10_000);
    webhook.states.set(ext2, { state: 'stopped', text: 'cancelled' });
    expect((await final(server.url, stopping)).status).toBe('stopped');

    const gone = await final(
      server.url,
      await submit(server.url, 'name: nowhere\nlabels: {backend: gone}\nlocks: [w-lock]\n'),
    );
    expect(gone.status).toBe('failed');
    expect(gone.reason).toMatch(
      /backend gone unreachable: POST http:\/\/127\.0\.0\.1:\d+\/run: ECONNREFUSED/,
    );
    expect(await lockHolders(server.url, 'w-lock')).toEqual([]);
  });
});

describe.skipIf(!PG)('webhook backend with two server replicas on PostgreSQL', () => {
  it('takes hook reports on the replica without the lease; the lease holder ends the job', async () => {
    const a = await serverOn('postgres');
    const b = await serverOn('postgres');
    const id = await submit(b.url, 'name: replicated\nlabels: {backend: hooked}\n');
    const [, job] = await webhook.received(id);
    // The hooks of the replica that did not send the job (its URL is that of the one that did).
    const sent = new URL(job.hook.url).origin;
    const other = sent === a.url ? b.url : a.url;
    const viaOther = { hook: { url: job.hook.url.replace(sent, other), token: job.hook.token } };
    expect((await hook(viaOther, 'POST', '/output', { lines: ['from the other replica'] })).status).toBe(200);
    expect((await hook(viaOther, 'POST', '/status', { state: 'succeeded' })).status).toBe(200);
    expect((await final(a.url, id)).status).toBe('succeeded');
    expect((await lines(b.url, id)).map((l) => l.text)).toContain('from the other replica');
  });
});
