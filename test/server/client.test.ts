/** The CLI's ApiClient against a real server: every method, errors, and follows that survive a cut. */
import { createServer } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/cli/client.js';
import { JobhubError } from '../../src/core/errors.js';
import type { EventView, LogLineView } from '../../src/server/api-schemas.js';
import { ADMIN, type ApiHarness, apiHarness } from '../helpers/api.js';
import { nextEvent } from '../helpers/embedded.js';

let a: ApiHarness;
let client: ApiClient;
/** Headers of every request the client made. */
let sent: Array<{ url: string; headers: Headers; at: number }>;
/** Items a test's follow had received so far (recorded with each request). */
let received: { count: number; lastId?: number };

beforeEach(async () => {
  a = await apiHarness();
  sent = [];
  received = { count: 0 };
  const recording: typeof fetch = (input, init) => {
    sent.push({ url: String(input), headers: new Headers(init?.headers), at: received.lastId ?? 0 });
    return fetch(input, init);
  };
  client = new ApiClient({ server: `${a.base}/`, token: ADMIN, fetch: recording, reconnectDelayMs: 20 });
});
afterEach(async () => {
  await a.dispose();
});

const spec = (name: string, command: string) => `name: ${name}
stages:
  - name: s
    tasks:
      - {name: t, shell: {command: ${JSON.stringify(command)}}}
`;

async function caught(p: Promise<unknown>): Promise<JobhubError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof JobhubError) return err;
    throw err;
  }
  throw new Error('expected a JobhubError');
}

describe('ApiClient', () => {
  it('speaks every route', async () => {
    const submitted = await client.submitSpec(spec('one', 'echo a; echo b'));
    expect(submitted.job.name).toBe('one');
    const id = submitted.id;
    await a.h.coordinator.waitForEnd(id);
    const json = await client.submitSpec(
      JSON.stringify({
        name: 'two',
        stages: [{ name: 's', tasks: [{ name: 't', shell: { command: 'true' } }] }],
      }),
      'application/json',
    );
    await a.h.coordinator.waitForEnd(json.id);

    const list = await client.listJobs({ status: ['succeeded'], fields: ['status'], limit: 1 });
    expect(list.results).toEqual([{ id: json.id, status: 'succeeded' }]);
    expect(list.next).not.toBeNull();
    const next = await client.listJobsAt(list.next ?? '');
    expect(next.results.map((j) => j.id)).toEqual([id]);

    const job = await client.getJob(id);
    expect(job.stages[0]?.nodes[0]?.tasks[0]).toMatchObject({ name: 't', status: 'succeeded', exitCode: 0 });
    expect((await client.getSpec(id)).raw).toBe(spec('one', 'echo a; echo b'));
    expect((await client.getPlan(id)).pipelines).toHaveLength(1);
    expect((await client.planSpec(spec('p', 'true'))).job).toBe('p');
    expect(await client.validateSpec(spec('v', 'true'))).toEqual({ valid: true, problems: [] });
    const invalid = await client.validateSpec('name: v\nstages: nope\n');
    expect(invalid.valid).toBe(false);
    expect(invalid.problems[0]).toMatchObject({ path: 'stages', line: 2 });

    const events = await client.jobEvents(id, { limit: 2 });
    expect(events.events).toHaveLength(2);
    expect(events.next).toBe(events.events[1]?.seq);
    const rest = await client.jobEvents(id, { after: events.next ?? 0 });
    expect(rest.events[0]?.seq).toBeGreaterThan(events.next ?? 0);
    expect((await client.jobLogs(id, { task: 's/t' })).lines.map((l) => l.text)).toEqual(['a', 'b']);
    expect((await client.jobLogs(id, { after: 1 })).lines.map((l) => l.text)).toEqual(['b']);

    const nodes = await client.listNodes();
    const nodeId = nodes.results[0]?.id ?? '';
    expect(nodes.results[0]?.connected).toBe(false);
    expect((await client.getNode(nodeId)).id).toBe(nodeId);
    expect((await client.nodeEvents(nodeId)).events[0]?.type).toBe('node.registered');
    expect((await client.drainNode(nodeId, true)).node.state).toBe('draining');
    expect((await client.drainNode(nodeId, false)).node.state).toBe('idle');
    const all = await client.events({ type: ['job.status'], job: id });
    expect(all.events.map((e) => e.to)).toEqual(['running', 'succeeded']);

    const running = nextEvent(a.h.bus, (e) => e.type === 'task.status' && e.to === 'running');
    const slow = await client.submitSpec(spec('slow', 'sleep 30'));
    await running;
    expect((await client.stopJob(slow.id)).job.stopRequested).toBe(true);
    await a.h.coordinator.waitForEnd(slow.id);
    const retried = await client.retryJob(slow.id);
    expect(retried.job.retryOf).toBe(slow.id);
    await client.stopJob(retried.id, { force: true });
    await a.h.coordinator.waitForEnd(retried.id);
    for (const s of sent) expect(s.headers.get('x-api-token')).toBe(ADMIN);
  });

  it('turns error answers into JobhubErrors with code, message and details', async () => {
    const notFound = await caught(client.getJob(999));
    expect(notFound.code).toBe('not_found');
    expect(notFound.message).toBe('job 999 not found');
    const invalid = await caught(client.submitSpec('name: x\nstages: 3\n'));
    expect(invalid.code).toBe('spec_invalid');
    expect(invalid.details).toEqual([{ path: 'stages', message: expect.any(String), line: 2, column: 9 }]);
    const badQuery = await caught(client.listJobs({ limit: 0 }));
    expect(badQuery.code).toBe('bad_request');
    expect(badQuery.details).toEqual([{ path: 'query.limit', message: expect.any(String) }]);
    const noToken = await caught(new ApiClient({ server: a.base }).listNodes());
    expect(noToken.code).toBe('unauthorized');
    const conflictJob = await client.submitSpec(spec('done', 'true'));
    await a.h.coordinator.waitForEnd(conflictJob.id);
    expect((await caught(client.stopJob(conflictJob.id))).code).toBe('conflict');
    // A non-JSON answer falls back to the code of its status.
    const teapot = new ApiClient({
      server: a.base,
      fetch: async () => new Response('<html>bad gateway</html>', { status: 502 }),
    });
    const e502 = await caught(teapot.listNodes());
    expect(e502.code).toBe('internal');
    expect(e502.message).toContain('502');
  });

  it('says when the server cannot be reached', async () => {
    const port = await freePort();
    const offline = new ApiClient({
      server: `http://127.0.0.1:${port}`,
      maxReconnects: 2,
      reconnectDelayMs: 5,
    });
    const err = await caught(offline.getJob(1));
    expect(err.code).toBe('unavailable');
    expect(err.message).toContain(`cannot reach jobhub server at http://127.0.0.1:${port}`);
    const follow = await caught(
      (async () => {
        for await (const _ of offline.followEvents()) {
          // never
        }
      })(),
    );
    expect(follow.code).toBe('unavailable');
  });

  it('follows a job to its end: every event once, in order', async () => {
    const { id } = await client.submitSpec(spec('f', 'sleep 0.2; echo x'));
    const got: EventView[] = [];
    const it = client.followJobEvents(id);
    let r = await it.next();
    while (!r.done) {
      got.push(r.value);
      r = await it.next();
    }
    expect(r.value).toEqual({ jobId: id, status: 'succeeded' });
    const stored = await a.h.store.listEvents({ jobId: id, limit: 10_000 });
    expect(got.map((e) => e.seq)).toEqual(stored.map((e) => e.seq));
  });

  it('resumes a cut log follow with Last-Event-ID: no line lost or doubled', async () => {
    const script = 'for i in $(seq 1 120); do echo line $i; sleep 0.01; done';
    const { id } = await client.submitSpec(spec('cut', script));
    const lines: LogLineView[] = [];
    let cuts = 0;
    for await (const l of client.followJobLogs(id, { task: 't' })) {
      lines.push(l);
      received = { count: lines.length, lastId: l.id };
      if (lines.length === 30 || lines.length === 80) {
        // Cut every connection from the server's side, mid-stream.
        for (const s of a.sockets) s.destroy();
        cuts++;
      }
    }
    expect(cuts).toBe(2);
    expect(lines.map((l) => l.text)).toEqual(Array.from({ length: 120 }, (_, i) => `line ${i + 1}`));
    expect(new Set(lines.map((l) => l.id)).size).toBe(120);
    const resumed = sent.filter((s) => s.url.includes(`/jobs/${id}/logs`) && s.headers.get('last-event-id'));
    expect(resumed.length).toBeGreaterThanOrEqual(2);
    // Frames already buffered before the cut may carry the resume point past line 30: it is the last
    // line the client had, whichever that was.
    const ids = new Set(lines.map((l) => l.id));
    for (const s of resumed) expect(ids.has(Number(s.headers.get('last-event-id')))).toBe(true);
    expect(Number(resumed[0]?.headers.get('last-event-id'))).toBeGreaterThanOrEqual(lines[29]?.id ?? 0);
  });

  it('follows all events until aborted, across a cut', async () => {
    const abort = new AbortController();
    const seen: EventView[] = [];
    const done = (async () => {
      for await (const e of client.followEvents({ type: ['job.status'], signal: abort.signal })) {
        seen.push(e);
        if (seen.length === 2) for (const s of a.sockets) s.destroy();
        if (seen.length === 4) abort.abort();
      }
    })();
    const first = await client.submitSpec(spec('g1', 'true'));
    await a.h.coordinator.waitForEnd(first.id);
    const second = await client.submitSpec(spec('g2', 'true'));
    await a.h.coordinator.waitForEnd(second.id);
    await done;
    expect(seen.map((e) => [e.jobId, e.to])).toEqual([
      [first.id, 'running'],
      [first.id, 'succeeded'],
      [second.id, 'running'],
      [second.id, 'succeeded'],
    ]);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}
