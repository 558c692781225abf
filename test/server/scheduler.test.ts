/**
 * The scheduler on a real embedded jobhub: a due tick makes one job (a workflow template expanded
 * as its owner's templates allow), a second pass over the same tick makes none, and a tick that
 * cannot make a job records why.
 */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { Scheduler } from '../../src/server/scheduler.js';
import type { ScheduleRecord } from '../../src/store/store.js';
import { type Harness, harness } from '../helpers/embedded.js';

let h: Harness;
afterEach(async () => {
  await h?.dispose();
});

const LAB = { id: 'o1', name: 'lab', type: 'org' as const };

async function push(name: string, text: string): Promise<void> {
  await h.store.pushTemplate({
    name,
    sha256: createHash('sha256').update(text).digest('hex'),
    rawSpec: text,
    description: null,
    owner: LAB,
    pushedBy: 'ann',
    createdAt: 1,
  });
}

function schedule(template: string, nextAt: number, params: Record<string, string> = {}): ScheduleRecord {
  return {
    template,
    templateVersion: null,
    cron: '0 3 * * *',
    timezone: 'UTC',
    params,
    owner: LAB,
    submitter: 'ann',
    paused: false,
    nextAt,
    lastAt: null,
    lastJobId: null,
    lastError: null,
    createdAt: 1,
  };
}

describe('Scheduler', () => {
  it('makes one job per due tick, expanding a workflow with its owner templates', async () => {
    h = await harness();
    await push(
      'step',
      'name: step\nparams:\n  word: {required: true}\nstages:\n  - name: say\n    tasks: [{shell: {command: "echo {{.Params.word}}"}}]\n',
    );
    await push(
      'flow',
      'name: flow\nstages:\n  - name: first\n    use: step\n    params: {word: one}\n  - name: second\n    use: step\n    params: {word: two}\n    needs: [first]\n',
    );
    const now = Date.now();
    await h.store.putSchedule(schedule('flow', now - 1000));
    const scheduler = new Scheduler({
      store: h.store,
      submit: (i) => h.coordinator.submit(i),
      log: () => {},
    });
    expect(await scheduler.tick()).toBe(1);
    expect(await scheduler.tick()).toBe(0); // the tick was claimed and moved on
    const s = await h.store.getSchedule('flow');
    expect(s?.lastError).toBeNull();
    expect(s?.nextAt).toBeGreaterThan(now);
    const job = await h.finish(s?.lastJobId ?? 0);
    expect(job.job.status).toBe('succeeded');
    expect(job.job.template).toEqual({ name: 'flow', version: 1 });
    expect(job.job.submitter).toBe('ann');
    expect(job.job.owner).toEqual(LAB);
    expect(job.detail.stages.map((x) => x.name)).toEqual(['first.say', 'second.say']);
    const audit = await h.store.listEvents({ types: ['audit'], limit: 10 });
    expect(audit.map((e) => [e.data?.actor, e.data?.action, e.data?.schedule])).toEqual([
      ['scheduler', 'job.submit', 'flow'],
    ]);
  });

  it('records why a tick made no job, and goes on to the next tick', async () => {
    h = await harness();
    await push(
      'needs-word',
      'name: needs-word\nparams:\n  word: {required: true}\nstages:\n  - name: s\n    tasks: [{shell: {command: "true"}}]\n',
    );
    await h.store.putSchedule(schedule('needs-word', Date.now() - 1000));
    await h.store.putSchedule(schedule('gone', Date.now() - 1000));
    const scheduler = new Scheduler({
      store: h.store,
      submit: (i) => h.coordinator.submit(i),
      log: () => {},
    });
    expect(await scheduler.tick()).toBe(0);
    expect((await h.store.getSchedule('needs-word'))?.lastError).toMatch(/params\.word: is required/);
    expect((await h.store.getSchedule('gone'))?.lastError).toBe('template gone does not exist any more');
    expect(await h.store.dueSchedules(Date.now())).toEqual([]);
  });
});
