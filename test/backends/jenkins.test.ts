/**
 * The Jenkins backend against a fake Jenkins that follows Jenkins' REST API (test/helpers/
 * fake-jenkins.ts), with a real `jobhub server` process on SQLite: a parameterized build through a
 * slow queue with its console streamed into the job's log once, a failing build, a stop, wrong
 * credentials, an unreachable Jenkins (job failed, its lock released to the next job), a server
 * restart mid-build (no second build, no doubled line), a crash between Jenkins taking the trigger and
 * jobhub storing its queue item (the build found by its run marker, not triggered again), a trigger
 * that never reached Jenkins (sent once after the restart), a trigger taken but not answered in time
 * (found, not sent again), the ASCOB runs API choosing the backend, the
 * backends API (credentials never answered nor logged) and unknown backend labels refused.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../agent/harness.js';
import { ADMIN, api, type Proc, type ServerProc, startServer } from '../helpers/cluster.js';
import { tempDir } from '../helpers/embedded.js';
import { FakeJenkins } from '../helpers/fake-jenkins.js';
import { populate } from '../helpers/principals.js';
import { fileSchema, PG_URL as PG } from '../helpers/store.js';
import { final, lineSeen, lines, lockHolders, submit } from './support.js';

if (!PG)
  console.warn(
    'PostgreSQL Jenkins backend restart test skipped: set JOBHUB_TEST_PG_URL=postgres://... to run it',
  );
const procs: Proc[] = [];
/** jobhub's run marker: job.task.attempt.nonce. */
const RUN_MARKER = /^\d+\.\d+\.\d+\.[0-9a-f]{8}$/;
const stores = PG ? ['sqlite', 'postgres'] : ['sqlite'];
const schema = fileSchema('jh_jk_');
let jenkins: FakeJenkins;
let deadPort = 0;

function backendsFile(dir: string): string {
  const file = path.join(dir, 'backends.yaml');
  const common =
    'pollMs: 30\n    timeoutMs: 1000\n    retries: 2\n    unreachableMs: 300\n    stopGraceMs: 2000';
  writeFileSync(
    file,
    `backends:
  - id: jenkins-prod
    kind: jenkins
    url: ${jenkins.url}
    job: deploy
    user: ${jenkins.user}
    token: ${jenkins.token}
    ${common}
  - id: jenkins-wrong
    kind: jenkins
    url: ${jenkins.url}
    job: deploy
    user: ${jenkins.user}
    token: not-the-token
    ${common}
  - id: jenkins-down
    kind: jenkins
    url: http://127.0.0.1:${deadPort}
    job: deploy
    user: ${jenkins.user}
    token: ${jenkins.token}
    ${common}
`,
  );
  return file;
}

/** A server on SQLite in `dataDir`, or on PostgreSQL in `pgSchema`. */
async function serverWith(dataDir?: string, pgSchema?: string): Promise<ServerProc> {
  const dir = dataDir ?? tempDir('jobhub-bk-');
  const args = ['--backends', backendsFile(dir), '--stop-grace', '1'];
  if (pgSchema && PG) args.push('--database', PG, '--database-schema', pgSchema);
  const s = await startServer({ dataDir: dir, args, env: { JOBHUB_SERVER_KEY: 'jenkins-test-key' } });
  procs.push(s);
  return s;
}

const spec = (backend: string, extra = '') => `name: deploy-app
labels: {backend: ${backend}}
params:
  version: {type: string, default: "2.5"}
${extra}`;

beforeAll(async () => {
  jenkins = await new FakeJenkins().start();
  deadPort = await freePort();
});
afterAll(async () => {
  await jenkins.close();
});
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.kill('SIGKILL')));
});

describe('jenkins backend', () => {
  it('runs a parameterized build through a slow queue, streams its console once, and fails a failing build', async () => {
    const server = await serverWith();
    jenkins.scripts.set('deploy', {
      lines: ['Started by user robot', 'deploying 2.5', 'Finished: SUCCESS'],
      result: 'SUCCESS',
      queuePolls: 4,
    });
    const id = await submit(server.url, spec('jenkins-prod'));
    const job = await final(server.url, id);
    expect(job.status).toBe('succeeded');
    const build = jenkins.builds.at(-1);
    expect(build?.params).toEqual({ version: '2.5', JOBHUB_RUN: expect.stringMatching(RUN_MARKER) });
    // The queue item was polled while it named no build (the slow queue), then the build.
    const item = [...jenkins.queue.values()].at(-1);
    expect(item?.polls).toBeGreaterThan(4);
    const out = (await lines(server.url, id)).filter((l) => l.stream === 'stdout').map((l) => l.text);
    expect(out).toEqual(['Started by user robot', 'deploying 2.5', 'Finished: SUCCESS']);
    const sys = (await lines(server.url, id)).filter((l) => l.stream === 'system').map((l) => l.text);
    expect(sys.join('\n')).toMatch(/queueItem=\d+/);
    expect(sys.join('\n')).toMatch(/build=1/);

    jenkins.scripts.set('deploy', {
      lines: ['compiling', 'error: boom', 'Finished: FAILURE'],
      result: 'FAILURE',
      queuePolls: 1,
    });
    const bad = await final(server.url, await submit(server.url, spec('jenkins-prod')));
    expect(bad.status).toBe('failed');
    expect(bad.reason).toMatch(/Jenkins build #2: FAILURE/);
    expect((await lines(server.url, bad.id)).map((l) => l.text)).toContain('error: boom');
  });

  it('stops a running build (POST /stop) and the job ends stopped', async () => {
    const server = await serverWith();
    jenkins.scripts.set('deploy', { lines: ['working'], result: 'SUCCESS', queuePolls: 1, hold: true });
    const id = await submit(server.url, spec('jenkins-prod'));
    await lineSeen(server.url, id, 'working', 15_000);
    await api(server.url, 'POST', `/api/v1/jobs/${id}/stop`, '{}', 'application/json');
    const job = await final(server.url, id);
    expect(job.status).toBe('stopped');
    const number = jenkins.builds.at(-1)?.number;
    expect(jenkins.requests).toContain(`POST /job/deploy/${number}/stop`);
    expect(jenkins.builds.at(-1)?.result).toBe('ABORTED');
  });

  it('fails the job with the reason on wrong credentials and on an unreachable Jenkins, releasing its lock', async () => {
    const server = await serverWith();
    jenkins.scripts.set('deploy', { lines: ['ok'], result: 'SUCCESS', queuePolls: 1 });
    const wrong = await final(server.url, await submit(server.url, spec('jenkins-wrong')));
    expect(wrong.status).toBe('failed');
    expect(wrong.reason).toMatch(/backend jenkins-wrong refused: .*answered 401/);

    const down = await submit(server.url, spec('jenkins-down', 'locks: [env-staging]'));
    const next = await submit(server.url, spec('jenkins-prod', 'locks: [env-staging]'));
    const failed = await final(server.url, down);
    expect(failed.status).toBe('failed');
    expect(failed.reason).toMatch(
      /backend jenkins-down unreachable: POST http:\/\/127\.0\.0\.1:\d+\/crumbIssuer|backend jenkins-down unreachable: GET .*ECONNREFUSED/,
    );
    expect(failed.reason).toMatch(/ECONNREFUSED/);
    // The lock went with the failed job: the next job waiting on it ran.
    expect((await final(server.url, next)).status).toBe('succeeded');
    expect(await lockHolders(server.url, 'env-staging')).toEqual([]);
  });

  it.each(stores)(
    'resumes after a server restart mid-build (%s): no second build, no doubled line',
    async (store) => {
      const dir = tempDir('jobhub-bk-');
      const on = store === 'postgres' ? schema() : undefined;
      let server = await serverWith(dir, on);
      jenkins.scripts.set('deploy', {
        lines: ['one', 'two', 'three', 'four'],
        result: 'SUCCESS',
        queuePolls: 1,
        hold: true,
      });
      const before = jenkins.triggers;
      const id = await submit(server.url, spec('jenkins-prod'));
      await lineSeen(server.url, id, 'four', 15_000);
      await server.kill('SIGKILL');
      procs.splice(procs.indexOf(server), 1);
      const number = jenkins.builds.at(-1)?.number ?? 0;
      // While jobhub is down the build goes on and ends.
      jenkins.builds.at(-1)?.script.lines.push('five');
      jenkins.finish('deploy', number);
      server = await serverWith(dir, on);
      const job = await final(server.url, id);
      expect(job.status).toBe('succeeded');
      expect(jenkins.triggers - before).toBe(1);
      const out = (await lines(server.url, id)).filter((l) => l.stream === 'stdout').map((l) => l.text);
      expect(out).toEqual(['one', 'two', 'three', 'four', 'five']);
      expect((await lines(server.url, id)).some((l) => /taken up again/.test(l.text))).toBe(true);
    },
  );

  it.each(stores.flatMap((store) => [`${store} queued`, `${store} started`]))(
    'adopts what a trigger started before a crash that came before its queue item was stored (%s)',
    async (variant) => {
      const [store, state] = variant.split(' ');
      const dir = tempDir('jobhub-bk-');
      const on = store === 'postgres' ? schema() : undefined;
      let server = await serverWith(dir, on);
      jenkins.scripts.set('deploy', { lines: ['alpha', 'beta'], result: 'SUCCESS', queuePolls: 1 });
      const before = jenkins.triggers;
      const queued = jenkins.queue.size;
      // Jenkins takes the trigger, and jobhub dies before it hears the queue item.
      const held = jenkins.holdTrigger('after');
      const id = await submit(server.url, spec('jenkins-prod'));
      await held.arrived;
      await server.kill('SIGKILL');
      procs.splice(procs.indexOf(server), 1);
      held.drop();
      expect(jenkins.queue.size - queued).toBe(1);
      const item = [...jenkins.queue.values()].at(-1);
      const marker = item?.params.JOBHUB_RUN ?? '';
      expect(marker).toMatch(RUN_MARKER);
      // While jobhub is down the item stays queued, or Jenkins starts its build.
      if (state === 'started') jenkins.startQueued(item?.id ?? 0);
      server = await serverWith(dir, on);
      const job = await final(server.url, id);
      expect(job.status).toBe('succeeded');
      expect(jenkins.triggers - before).toBe(1);
      expect(jenkins.builds.filter((b) => b.params.JOBHUB_RUN === marker)).toHaveLength(1);
      const all = await lines(server.url, id);
      expect(all.filter((l) => l.stream === 'stdout').map((l) => l.text)).toEqual(['alpha', 'beta']);
      const sys = all.filter((l) => l.stream === 'system').map((l) => l.text);
      expect(sys.join('\n')).toContain(
        `what was triggered before the restart (${marker}): ${state === 'started' ? 'build=' : 'queueItem='}`,
      );
    },
  );

  it.each(stores)(
    'triggers once after a restart when the trigger never reached Jenkins (%s)',
    async (store) => {
      const dir = tempDir('jobhub-bk-');
      const on = store === 'postgres' ? schema() : undefined;
      let server = await serverWith(dir, on);
      jenkins.scripts.set('deploy', { lines: ['gamma'], result: 'SUCCESS', queuePolls: 1 });
      const queued = jenkins.queue.size;
      const builds = jenkins.builds.length;
      const held = jenkins.holdTrigger('before');
      const id = await submit(server.url, spec('jenkins-prod'));
      await held.arrived;
      await server.kill('SIGKILL');
      procs.splice(procs.indexOf(server), 1);
      held.drop();
      expect(jenkins.queue.size).toBe(queued);
      const posts = jenkins.triggers;
      server = await serverWith(dir, on);
      const job = await final(server.url, id);
      expect(job.status).toBe('succeeded');
      expect(jenkins.triggers - posts).toBe(1);
      expect(jenkins.queue.size - queued).toBe(1);
      expect(jenkins.builds.length - builds).toBe(1);
      const all = await lines(server.url, id);
      expect(all.filter((l) => l.stream === 'stdout').map((l) => l.text)).toEqual(['gamma']);
      expect(all.some((l) => /never reached backend jenkins-prod/.test(l.text))).toBe(true);
    },
  );

  it('looks its marker up before sending again a trigger that Jenkins took but did not answer in time', async () => {
    const server = await serverWith();
    jenkins.scripts.set('deploy', { lines: ['delta'], result: 'SUCCESS', queuePolls: 1 });
    const before = jenkins.triggers;
    // Jenkins takes the trigger and never answers: jobhub's call times out (timeoutMs 1000).
    const held = jenkins.holdTrigger('after');
    const id = await submit(server.url, spec('jenkins-prod'));
    await held.arrived;
    const job = await final(server.url, id);
    held.drop();
    expect(job.status).toBe('succeeded');
    expect(jenkins.triggers - before).toBe(1);
    expect((await lines(server.url, id)).map((l) => l.text)).toContain('delta');
  });

  it('routes an ASCOB run by _execution_backend_id, refuses unknown backends, and never shows credentials', async () => {
    const server = await serverWith();
    jenkins.scripts.set('deploy', { lines: ['ascob ok'], result: 'SUCCESS', queuePolls: 1 });
    const res = await fetch(`${server.url}/api/runs`, {
      method: 'POST',
      headers: { 'x-api-token': ADMIN, 'content-type': 'application/json' },
      body: JSON.stringify({
        jobSpec: {
          description: 'via ascob',
          labels: { _execution_backend_id: 'jenkins-prod' },
          parameters: { version: '9' },
        },
      }),
    });
    expect(res.status).toBe(200);
    const { runId } = (await res.json()) as { runId: number };
    expect((await final(server.url, runId)).status).toBe('succeeded');
    expect(jenkins.builds.at(-1)?.params).toEqual({
      version: '9',
      JOBHUB_RUN: expect.stringMatching(RUN_MARKER),
    });

    const unknown = await fetch(`${server.url}/api/v1/jobs`, {
      method: 'POST',
      headers: { 'x-api-token': ADMIN, 'content-type': 'application/yaml' },
      body: spec('nope'),
    });
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { error: string }).error).toMatch(
      /^labels\.backend: no backend "nope"/,
    );
    const ascobUnknown = await fetch(`${server.url}/api/runs`, {
      method: 'POST',
      headers: { 'x-api-token': ADMIN, 'content-type': 'application/json' },
      body: JSON.stringify({ jobSpec: { labels: { _execution_backend_id: 'nope' } } }),
    });
    expect(ascobUnknown.status).toBe(400);
    expect(await ascobUnknown.text()).toMatch(/labels\._execution_backend_id/);
    const withStages = await fetch(`${server.url}/api/v1/jobs`, {
      method: 'POST',
      headers: { 'x-api-token': ADMIN, 'content-type': 'application/yaml' },
      body: `${spec('jenkins-prod')}stages: [{name: s, tasks: [{shell: {command: "true"}}]}]\n`,
    });
    expect(withStages.status).toBe(400);
    expect(await withStages.text()).toMatch(/stages.*has no stages/);

    // The API: members read, only server admins change; the token is never answered.
    const pop = await populate(server.url, ADMIN, 'test-agent-token');
    const list = await pop.call('member', 'GET', '/api/v1/backends');
    expect(list.status).toBe(200);
    expect(list.text).toContain('jenkins-prod');
    expect(list.text).not.toContain(jenkins.token);
    expect(
      (await pop.call('member', 'PUT', '/api/v1/backends/x', { kind: 'webhook', url: 'http://127.0.0.1:1/' }))
        .status,
    ).toBe(403);
    const put = await pop.call('serverAdmin', 'PUT', '/api/v1/backends/jenkins-api', {
      kind: 'jenkins',
      url: jenkins.url,
      job: 'deploy',
      user: jenkins.user,
      token: jenkins.token,
      pollMs: 30,
    });
    expect(put.status).toBe(200);
    expect(put.text).not.toContain(jenkins.token);
    expect((put.body as { backend: { credentials: string } }).backend.credentials).toBe('sealed');
    const noJob = await pop.call('serverAdmin', 'PUT', '/api/v1/backends/j2', {
      kind: 'jenkins',
      url: jenkins.url,
    });
    expect(noJob.status).toBe(400);
    expect(noJob.text).toMatch(/body\.job/);
    // The API-made backend runs jobs with its sealed token.
    expect((await final(server.url, await submit(server.url, spec('jenkins-api')))).status).toBe('succeeded');
    expect((await pop.call('serverAdmin', 'DELETE', '/api/v1/backends/jenkins-api')).status).toBe(200);
    expect((await pop.call('member', 'GET', '/api/v1/backends/jenkins-api')).status).toBe(404);
    // Nowhere in what the server said, nor in the events.
    const events = await api<unknown>(server.url, 'GET', '/api/v1/events?limit=1000');
    expect(JSON.stringify(events)).not.toContain(jenkins.token);
    expect(server.out()).not.toContain(jenkins.token);
  });
});
