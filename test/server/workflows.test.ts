/**
 * Workflows from registered steps (seed 004) over the REST API, with real processes: a diamond
 * a -> (b, c) -> d strung from templates runs b and c at once and d after both (shown from the task
 * times); a failing b keeps d from starting and fails the job; the job records the templates it
 * used; a use's bad parameter is named with its stage; a template that uses itself, directly or
 * through another, is refused naming the cycle; a used template's node assignments must be the job's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskRecord } from '../../src/store/store.js';
import { type ApiHarness, apiHarness } from '../helpers/api.js';

const yaml = { 'content-type': 'application/yaml' };

/** One step: sleeps, says who it is and who asked, and fails when told to. */
const STEP = `name: step
params:
  word: {required: true}
  sleep: {type: number, default: 0}
  fail: {type: boolean, default: false}
stages:
  - name: run
    tasks:
      - shell: {command: 'sleep {{.Params.sleep}}; echo "{{.Params.word}} $JOBHUB_PARAM_WORD by $JOBHUB_SUBMITTER"; test {{.Params.fail}} = false'}
`;

/** Two steps in a row, the second one failing when told to. */
const PAIR = `name: pair
params:
  word: {required: true}
  sleep: {type: number, default: 0}
  fail: {type: boolean, default: false}
stages:
  - name: first
    tasks: [{shell: {command: 'sleep {{.Params.sleep}}; echo "{{.Params.word}} first"'}}]
  - name: second
    needs: [first]
    tasks: [{shell: {command: 'echo "{{.Params.word}} second"; test {{.Params.fail}} = false'}}]
`;

const DIAMOND = `name: diamond
params:
  failB: {type: boolean, default: false}
stages:
  - {name: a, use: step, params: {word: A}}
  - {name: b, use: pair@1, needs: [a], params: {word: B, sleep: 1.5, fail: "{{.Params.failB}}"}}
  - {name: c, use: step, needs: [a], params: {word: C, sleep: 1.5}}
  - {name: d, use: step@1, needs: [b, c], params: {word: D}}
`;

let a: ApiHarness;
beforeAll(async () => {
  a = await apiHarness();
  for (const t of [STEP, PAIR]) expect((await push(t)).status).toBe(201);
});
afterAll(async () => {
  await a.dispose();
});

const push = (text: string) => a.api('/api/v1/templates', { method: 'POST', headers: yaml, body: text });
const submit = (text: string, query = '') =>
  a.api(`/api/v1/jobs${query}`, { method: 'POST', headers: yaml, body: text });

async function json<T>(res: Response, status: number): Promise<T> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  return JSON.parse(text) as T;
}

async function runToEnd(
  text: string,
  query = '',
): Promise<{ id: number; status: string; tasks: Map<string, TaskRecord> }> {
  const { id } = await json<{ id: number }>(await submit(text, query), 201);
  const end = await a.h.coordinator.waitForEnd(id);
  const detail = await a.h.store.getJobDetail(id);
  return { id, status: end.status, tasks: new Map((detail?.tasks ?? []).map((t) => [t.stage, t])) };
}

function task(tasks: Map<string, TaskRecord>, stage: string): TaskRecord {
  const t = tasks.get(stage);
  if (!t) throw new Error(`no task of stage ${stage}: ${[...tasks.keys()].join(', ')}`);
  return t;
}

describe('workflows from templates', () => {
  it('runs a diamond: b and c at once, d after both, and records the templates used', async () => {
    const run = await runToEnd(DIAMOND);
    expect(run.status).toBe('succeeded');
    expect([...run.tasks.keys()]).toEqual(['a.run', 'b.first', 'b.second', 'c.run', 'd.run']);
    const [ta, b1, b2, c, d] = ['a.run', 'b.first', 'b.second', 'c.run', 'd.run'].map((s) =>
      task(run.tasks, s),
    );
    const at = (t: TaskRecord | undefined) => ({
      start: t?.startedAt ?? Number.NaN,
      end: t?.endedAt ?? Number.NaN,
    });
    // b and c both wait for a, then overlap (each sleeps 1.5s); d starts once both are done.
    expect(at(b1).start).toBeGreaterThanOrEqual(at(ta).end);
    expect(at(c).start).toBeGreaterThanOrEqual(at(ta).end);
    expect(at(c).start).toBeLessThan(at(b1).end);
    expect(at(b1).start).toBeLessThan(at(c).end);
    expect(at(b2).start).toBeGreaterThanOrEqual(at(b1).end);
    expect(at(d).start).toBeGreaterThanOrEqual(Math.max(at(b2).end, at(c).end));

    const logs = await json<{ lines: Array<{ text: string }> }>(
      await a.api(`/api/v1/jobs/${run.id}/logs`),
      200,
    );
    const job = await json<{ submitter: string }>(await a.api(`/api/v1/jobs/${run.id}`), 200);
    expect(job.submitter).toBeTruthy();
    const texts = logs.lines.map((l) => l.text);
    // Each used stage has its own template's values, as {{.Params.x}} and as JOBHUB_PARAM_*.
    expect(texts).toEqual(
      expect.arrayContaining([
        `A A by ${job.submitter}`,
        'B first',
        'B second',
        `C C by ${job.submitter}`,
        `D D by ${job.submitter}`,
      ]),
    );

    const spec = await json<{ spec: { uses: unknown[]; stages: Array<{ name: string; needs: string[] }> } }>(
      await a.api(`/api/v1/jobs/${run.id}/spec`),
      200,
    );
    expect(spec.spec.uses).toEqual([
      { stage: 'a', template: 'step', version: 1 },
      { stage: 'b', template: 'pair', version: 1 },
      { stage: 'c', template: 'step', version: 1 },
      { stage: 'd', template: 'step', version: 1 },
    ]);
    expect(spec.spec.stages.find((s) => s.name === 'd.run')?.needs).toEqual(['b.second', 'c.run']);
    expect(spec.spec.stages.find((s) => s.name === 'b.first')?.needs).toEqual(['a.run']);
  });

  it('a failing b keeps d from starting and fails the job', async () => {
    const run = await runToEnd(DIAMOND, '?param=failB=true');
    expect(run.status).toBe('failed');
    expect(task(run.tasks, 'b.second').status).toBe('failed');
    const d = task(run.tasks, 'd.run');
    expect(d.status).toBe('skipped');
    expect(d.startedAt).toBeNull();
  });

  it('names the stage and the parameter of a bad use', async () => {
    const bad = (params: string) => `name: w\nstages:\n  - {name: build, use: step, params: ${params}}\n`;
    const unknown = await json<{ error: string; details: Array<{ path: string }> }>(
      await submit(bad('{word: x, wrd: y}')),
      400,
    );
    expect(unknown.error).toContain('stage "build"');
    expect(unknown.error).toContain('params.wrd: unknown parameter');
    expect(unknown.details.map((d) => d.path)).toContain('stages.build.params.wrd');
    const typed = await json<{ error: string }>(await submit(bad('{word: x, sleep: long}')), 400);
    expect(typed.error).toMatch(/stage "build".*params\.sleep: must be a number, got "long"/);
    const missing = await json<{ error: string }>(await submit(bad('{}')), 400);
    expect(missing.error).toMatch(/stage "build".*params\.word: is required/);
    const none = await json<{ error: string }>(
      await submit('name: w\nstages:\n  - {name: x, use: nothing}\n'),
      400,
    );
    expect(none.error).toContain('stage "x": use: template "nothing" not found');
    // Pushing a workflow checks the same, and that its steps exist.
    expect((await json<{ error: string }>(await push(bad('{wrd: y}')), 400)).error).toContain('params.wrd');
  });

  it('refuses a template that uses itself, directly or through another, naming the cycle', async () => {
    const self = await json<{ error: string }>(
      await push('name: loop\nstages:\n  - {name: again, use: loop}\n'),
      400,
    );
    expect(self.error).toContain('loop -> loop');
    expect(
      (await push('name: x1\nstages:\n  - {name: s, tasks: [{shell: {command: "true"}}]}\n')).status,
    ).toBe(201);
    expect((await push('name: x2\nstages:\n  - {name: s, use: x1}\n')).status).toBe(201);
    const indirect = await json<{ error: string }>(
      await push('name: x1\nstages:\n  - {name: s, use: x2}\n'),
      400,
    );
    expect(indirect.error).toContain('x1 -> x2 -> x1');
  });

  it("runs used stages on the job's node assignments, refusing a template that declares others", async () => {
    const db = `name: db-step\nnodeAssignments: [{name: db, role: database}]\nstages:\n  - {name: s, tasks: [{shell: {command: "true"}}]}\n`;
    expect((await push(db)).status).toBe(201);
    const refused = await json<{ error: string }>(
      await submit('name: w\nstages:\n  - {name: x, use: db-step}\n'),
      400,
    );
    expect(refused.error).toMatch(
      /declares node assignment "db" \(role database\), which this job does not have/,
    );
  });
});
