/**
 * Jobs end to end over real HTTP: submit (YAML and JSON), list (filters, paging, cursor, fields),
 * the status tree, events and logs followed as Server-Sent Events (resumed with Last-Event-ID),
 * stop and retry. Real processes run the tasks.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventView, JobDetailView, JobList, LogLineView } from '../../src/server/api-schemas.js';
import { type ApiHarness, apiHarness, readFrames } from '../helpers/api.js';
import { nextEvent } from '../helpers/embedded.js';

let a: ApiHarness;
beforeEach(async () => {
  a = await apiHarness({ sseHeartbeatMs: 100 });
});
afterEach(async () => {
  await a.dispose();
});

const yaml = { 'content-type': 'application/yaml' };

async function submit(text: string, contentType = 'application/yaml'): Promise<number> {
  const res = await a.api('/api/v1/jobs', {
    method: 'POST',
    headers: { 'content-type': contentType },
    body: text,
  });
  expect(res.status, await res.clone().text()).toBe(201);
  return ((await res.json()) as { id: number }).id;
}

const simple = (name: string, command = 'true', extra = '') => `name: ${name}
${extra}stages:
  - name: s
    tasks:
      - {name: t, shell: {command: ${JSON.stringify(command)}}}
`;

describe('submitting', () => {
  it('takes YAML and JSON, answers 201 with Location, and keeps the spec as sent', async () => {
    const text = simple('yamljob', 'echo hi');
    const res = await a.api('/api/v1/jobs', { method: 'POST', headers: yaml, body: text });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { id: number; job: { id: number; name: string; status: string } };
    expect(res.headers.get('location')).toBe(`/api/v1/jobs/${body.id}`);
    expect(body.job).toMatchObject({ id: body.id, name: 'yamljob', status: 'queued' });

    const json = `{
  "name": "jsonjob",
  "labels": {"kind": "json"},
  "stages": [{"name": "s", "tasks": [{"name": "t", "shell": {"command": "echo json"}}]}]
}`;
    const id2 = await submit(json, 'application/json; charset=utf-8');
    const spec = (await (await a.api(`/api/v1/jobs/${id2}/spec`)).json()) as {
      raw: string;
      spec: { name: string; labels: Record<string, string> };
    };
    expect(spec.raw).toBe(json);
    expect(spec.spec).toMatchObject({ name: 'jsonjob', labels: { kind: 'json' } });
    const plain = await submit(simple('plainjob'), 'text/plain');
    for (const id of [body.id, id2, plain])
      expect((await a.h.coordinator.waitForEnd(id)).status).toBe('succeeded');
  });
});

describe('listing', () => {
  it('filters, pages with start/next/previous and with cursors, and picks fields', async () => {
    const ids: number[] = [];
    ids.push(
      await submit(
        simple('alpha', 'true', 'labels: {team: a, tier: x}\nowner: {id: "7", name: at15, type: user}\n'),
      ),
    );
    ids.push(await submit(simple('beta', 'exit 3', 'labels: {team: b}\n')));
    ids.push(await submit(simple('alpha', 'true', 'labels: {team: a, tier: y}\n')));
    ids.push(await submit(simple('gamma', 'true', 'labels: {team: b}\n')));
    ids.push(await submit(simple('alpha', 'true', 'labels: {team: a}\n')));
    for (const id of ids) await a.h.coordinator.waitForEnd(id);
    const list = async (q: string) => {
      const res = await a.api(`/api/v1/jobs${q}`);
      expect(res.status, await res.clone().text()).toBe(200);
      return (await res.json()) as JobList;
    };
    const newestFirst = [...ids].reverse();

    expect((await list('')).results.map((j) => j.id)).toEqual(newestFirst);
    expect((await list('?status=failed')).results.map((j) => j.name)).toEqual(['beta']);
    expect((await list('?status=failed,succeeded')).results).toHaveLength(5);
    expect((await list('?status=failed&status=queued')).results).toHaveLength(1);
    expect((await list('?name=alpha')).results).toHaveLength(3);
    expect((await list('?owner=at15')).results.map((j) => j.id)).toEqual([ids[0]]);
    expect((await list('?owner=7')).results.map((j) => j.id)).toEqual([ids[0]]);
    expect((await list('?label=team=a')).results).toHaveLength(3);
    expect((await list('?label=team=a&label=tier=y')).results.map((j) => j.id)).toEqual([ids[2]]);

    // Times: ISO 8601 or epoch ms; after is inclusive, before exclusive.
    const all = (await list('')).results;
    const created = (id: number | undefined) => all.find((j) => j.id === id)?.createdAt ?? '';
    const third = created(ids[2]);
    const after = await list(`?createdAfter=${encodeURIComponent(third)}`);
    expect(after.results.every((j) => (j.createdAt ?? '') >= third)).toBe(true);
    expect(after.results.map((j) => j.id)).toContain(ids[2]);
    const before = await list(`?createdBefore=${Date.parse(third)}`);
    expect(before.results.every((j) => (j.createdAt ?? '') < third)).toBe(true);

    // fields: id always, then only what was asked for.
    for (const j of (await list('?fields=status,name')).results) {
      expect(Object.keys(j).sort()).toEqual(['id', 'name', 'status']);
    }

    // start/next/previous, keeping the other parameters.
    const p1 = await list('?limit=2&name=alpha');
    expect(p1.results.map((j) => j.id)).toEqual([ids[4], ids[2]]);
    expect(p1.previous).toBeNull();
    expect(p1.next).toBe('/api/v1/jobs?limit=2&start=3&name=alpha');
    const p2 = (await (await a.api(p1.next ?? '')).json()) as JobList;
    expect(p2.results.map((j) => j.id)).toEqual([ids[0]]);
    expect(p2.next).toBeNull();
    expect(p2.cursor).toBeNull();
    expect(p2.previous).toBe('/api/v1/jobs?limit=2&start=1&name=alpha');

    // Cursors: every job once, in order, however many pages.
    const seen: number[] = [];
    let page = await list('?limit=2');
    for (;;) {
      seen.push(...page.results.map((j) => j.id));
      if (page.cursor === null) {
        expect(page.next).toBeNull();
        break;
      }
      if (seen.length > 2) expect(page.next).toContain(`cursor=${page.cursor}`);
      page = await list(`?limit=2&cursor=${page.cursor}`);
      expect(page.previous).toBeNull();
    }
    expect(seen).toEqual(newestFirst);
  });
});

describe('the status tree', () => {
  it('shows pipelines, stages, the nodes each runs on and the tasks on each node', async () => {
    const id = await submit(`name: tree
nodeAssignments: [{name: n1, role: database}, {name: n2, role: loader}]
pipelines:
  - {name: first, stages: [a]}
  - {name: second, stages: [b]}
stages:
  - {name: a, selectors: [{name: n1}], tasks: [{name: t1, shell: {command: "true"}}, {name: t2, shell: {command: "exit 0"}}]}
  - {name: b, tasks: [{name: t, shell: {command: "true"}}]}
`);
    await a.h.coordinator.waitForEnd(id);
    const res = await a.api(`/api/v1/jobs/${id}`);
    const tree = (await res.json()) as JobDetailView;
    expect(tree).toMatchObject({
      id,
      name: 'tree',
      status: 'succeeded',
      stopRequested: false,
      retryOf: null,
    });
    expect(tree.pipelines).toEqual([
      { name: 'first', stages: ['a'] },
      { name: 'second', stages: ['b'] },
    ]);
    expect(tree.placement?.map((p) => p.assignment)).toEqual(['n1', 'n2']);
    const [sa, sb] = tree.stages;
    expect(sa).toMatchObject({ name: 'a', type: 'short', status: 'succeeded', needs: [] });
    expect(sa?.nodes.map((n) => n.name)).toEqual(['n1']);
    expect(sa?.nodes[0]?.tasks.map((t) => [t.name, t.status, t.exitCode, t.attempt])).toEqual([
      ['t1', 'succeeded', 0, 1],
      ['t2', 'succeeded', 0, 1],
    ]);
    expect(sa?.nodes[0]?.ip).toBe('127.0.0.1');
    expect(sa?.nodes[0]?.nodeId).toBe(tree.placement?.[0]?.nodeId);
    expect(sb?.needs).toEqual(['a']);
    expect(sb?.nodes.map((n) => n.name)).toEqual(['n1', 'n2']);
    const iso = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
    expect(tree.createdAt).toMatch(iso);
    expect(tree.endedAt).toMatch(iso);
    expect(sb?.nodes[1]?.tasks[0]?.startedAt).toMatch(iso);
    expect(sb?.readyAt).toBeNull();

    const plan = (await (await a.api(`/api/v1/jobs/${id}/plan`)).json()) as {
      job: string;
      pipelines: Array<{ name: string; stages: Array<{ nodes: Array<{ ip?: string }> }> }>;
    };
    expect(plan.job).toBe('tree');
    expect(plan.pipelines.map((p) => p.name)).toEqual(['first', 'second']);
    expect(plan.pipelines[1]?.stages[0]?.nodes).toHaveLength(2);
  });
});

describe('following events', () => {
  it('streams every event of a running job once, in order, then end', async () => {
    const id = await submit(simple('evs', 'sleep 0.3; echo done'));
    const res = await a.api(`/api/v1/jobs/${id}/events?follow=true`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('x-accel-buffering')).toBe('no');
    const { frames } = await readFrames(res);
    const end = frames[frames.length - 1];
    expect(end?.event).toBe('end');
    expect(JSON.parse(end?.data ?? '{}')).toEqual({ jobId: id, status: 'succeeded' });
    const items = frames.slice(0, -1);
    const stored = await a.h.store.listEvents({ jobId: id, limit: 10_000 });
    expect(items.map((f) => Number(f.id))).toEqual(stored.map((e) => e.seq));
    expect(items.map((f) => f.event)).toEqual(stored.map((e) => e.type));
    const last = JSON.parse(items[items.length - 1]?.data ?? '{}') as EventView;
    expect(last).toMatchObject({ type: 'job.status', to: 'succeeded', jobId: id });
  });

  it('resumes after Last-Event-ID without a gap or a double', async () => {
    const id = await submit(simple('resume', 'sleep 0.2; true'));
    const first = await readFrames(
      await a.api(`/api/v1/jobs/${id}/events`, { headers: { accept: 'text/event-stream' } }),
      (_f, all) => all.length === 2,
    );
    expect(first.frames).toHaveLength(2);
    const lastId = first.frames[1]?.id ?? '';
    const rest = await readFrames(
      await a.api(`/api/v1/jobs/${id}/events?follow=true&after=0`, { headers: { 'last-event-id': lastId } }),
    );
    const got = [...first.frames, ...rest.frames.slice(0, -1)].map((f) => Number(f.id));
    const stored = (await a.h.store.listEvents({ jobId: id, limit: 10_000 })).map((e) => e.seq);
    expect(got).toEqual(stored);
    // A finished job's stream from its last event ends at once.
    const tail = await readFrames(
      await a.api(`/api/v1/jobs/${id}/events?follow=true&after=${stored[stored.length - 1]}`),
    );
    expect(tail.frames.map((f) => f.event)).toEqual(['end']);
  });

  it('streams all events with filters, with heartbeats, until the client goes', async () => {
    const res = await a.api('/api/v1/events?follow=true&type=job.status');
    const id = await submit(simple('global'));
    const { frames } = await readFrames(res, (f) => {
      const e = JSON.parse(f.data) as EventView;
      return e.jobId === id && e.to === 'succeeded';
    });
    expect(frames.every((f) => f.event === 'job.status')).toBe(true);
    expect(frames.map((f) => (JSON.parse(f.data) as EventView).to)).toEqual(['running', 'succeeded']);
    // Heartbeats (every 100ms here) come as comments, also when nothing happens.
    const quiet = await readFrames(
      await a.api('/api/v1/events?follow=true&job=999'),
      () => true,
      (_c, all) => all.filter((c) => c === 'heartbeat').length >= 2,
    );
    expect(quiet.frames).toEqual([]);
  });

  it('ends open streams when the server closes, so close() does not hang', async () => {
    const res = await a.api('/api/v1/events?follow=true');
    const reading = readFrames(res, () => false);
    await a.app.close();
    const { ended } = await reading;
    expect(ended).toBe(true);
  });
});

describe('following logs', () => {
  it('streams every line once across a reconnect with Last-Event-ID, then end', async () => {
    const script =
      'for i in $(seq 1 300); do echo line $i; if [ $((i % 50)) -eq 0 ]; then sleep 0.1; fi; done';
    const id = await submit(`name: chatty
stages:
  - name: s
    tasks:
      - {name: talk, shell: {command: ${JSON.stringify(script)}}}
      - {name: quiet, shell: {command: "echo other"}}
`);
    const first = await readFrames(
      await a.api(`/api/v1/jobs/${id}/logs?follow=true&task=talk`),
      (_f, all) => all.length === 60,
    );
    const lastId = first.frames[59]?.id ?? '';
    const rest = await readFrames(
      await a.api(`/api/v1/jobs/${id}/logs?task=s/talk`, {
        headers: { accept: 'text/event-stream', 'last-event-id': lastId },
      }),
    );
    expect(rest.frames[rest.frames.length - 1]?.event).toBe('end');
    const lines = [...first.frames, ...rest.frames.slice(0, -1)].map(
      (f) => JSON.parse(f.data) as LogLineView,
    );
    expect(lines.map((l) => l.text)).toEqual(Array.from({ length: 300 }, (_, i) => `line ${i + 1}`));
    const ids = lines.map((l) => l.id);
    expect(new Set(ids).size).toBe(300);
    expect([...ids].sort((x, y) => x - y)).toEqual(ids);
    expect(lines[0]).toMatchObject({ task: 's/local/talk', stream: 'stdout', attempt: 1, seq: 1 });

    // Pages: the same lines; `next` while pages are full.
    const p1 = (await (await a.api(`/api/v1/jobs/${id}/logs?task=talk&limit=200`)).json()) as {
      lines: LogLineView[];
      next: number | null;
    };
    expect(p1.lines).toHaveLength(200);
    expect(p1.next).toBe(p1.lines[199]?.id);
    const p2 = (await (
      await a.api(`/api/v1/jobs/${id}/logs?task=talk&limit=200&after=${p1.next}`)
    ).json()) as {
      lines: LogLineView[];
      next: number | null;
    };
    expect(p2.lines).toHaveLength(100);
    expect(p2.next).toBeNull();
    const everything = (await (await a.api(`/api/v1/jobs/${id}/logs`)).json()) as { lines: LogLineView[] };
    expect(everything.lines.map((l) => l.text)).toContain('other');
  });
});

describe('stop and retry', () => {
  it('stops a running job (202), then 409 once it has ended; retry makes a new linked job', async () => {
    const running = nextEvent(a.h.bus, (e) => e.type === 'task.status' && e.to === 'running');
    const id = await submit(simple('sleeper', 'sleep 30'));
    await running;
    const res = await a.api(`/api/v1/jobs/${id}/stop`, { method: 'POST' });
    expect(res.status).toBe(202);
    const body = (await res.json()) as { job: { id: number; status: string; stopRequested: boolean } };
    expect(body.job.stopRequested).toBe(true);
    expect(['running', 'stopping', 'stopped']).toContain(body.job.status);
    const ended = await a.h.coordinator.waitForEnd(id);
    expect(ended.status).toBe('stopped');
    expect(ended.reason).toContain('requested by admin');
    const again = await a.api(`/api/v1/jobs/${id}/stop`, { method: 'POST' });
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ code: 'conflict' });

    const retry = await a.api(`/api/v1/jobs/${id}/retry`, { method: 'POST' });
    expect(retry.status).toBe(201);
    const r = (await retry.json()) as { id: number; job: { retryOf: number | null; name: string } };
    expect(r.id).not.toBe(id);
    expect(r.job).toMatchObject({ retryOf: id, name: 'sleeper' });
    expect(retry.headers.get('location')).toBe(`/api/v1/jobs/${r.id}`);
    await a.api(`/api/v1/jobs/${r.id}/stop?force=true`, { method: 'POST' });
    expect((await a.h.coordinator.waitForEnd(r.id)).status).toBe('stopped');
  });
});
