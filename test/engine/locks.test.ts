/**
 * Locks on a real embedded jobhub (real processes, a real SQLite store): exclusive locks never
 * overlap, different locks run at once, shared holders run together and keep an exclusive one out,
 * first come first served, and a lock is released however its job ends (stop, failure). Overlap is
 * read from the `lock.acquired` / `lock.released` events, in the store.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { lockVerdict } from '../../src/engine/lock-state.js';
import type { EventRecord } from '../../src/store/store.js';
import { type Harness, harness, nextEvent } from '../helpers/embedded.js';

let h: Harness;
afterEach(async () => {
  await h?.dispose();
});

const spec = (name: string, locks: string, command = 'sleep 0.3') => `name: ${name}
locks: ${locks}
stages:
  - name: s
    tasks:
      - {name: t, shell: {command: "${command}"}}
`;

/** When each job held the lock: [acquired, released] from its events. */
async function held(jobId: number, lock: string): Promise<[number, number]> {
  const events = await h.store.listEvents({ jobId, types: ['lock.'], limit: 1000 });
  const at = (type: string) => events.find((e: EventRecord) => e.type === type && e.data?.lock === lock)?.ts;
  const a = at('lock.acquired');
  const r = at('lock.released');
  if (a === undefined || r === undefined) throw new Error(`job ${jobId} did not take and release ${lock}`);
  return [a, r];
}

const overlap = (x: [number, number], y: [number, number]) => x[0] < y[1] && y[0] < x[1];

describe('locks', () => {
  it('jobs with the same exclusive lock never overlap; jobs with other locks run meanwhile', async () => {
    h = await harness();
    const env = [];
    for (let i = 0; i < 3; i++) env.push(await h.submit(spec(`env-${i}`, '[env-a]')));
    const other = await h.submit(spec('other', '[env-b]', 'sleep 0.6'));
    for (const j of [...env, other]) expect((await h.finish(j.id)).job.status).toBe('succeeded');
    const spans = await Promise.all(env.map((j) => held(j.id, 'env-a')));
    for (let i = 0; i < spans.length; i++)
      for (let k = i + 1; k < spans.length; k++) expect(overlap(spans[i]!, spans[k]!)).toBe(false);
    // First come, first served.
    expect(spans.map((s) => s[0])).toEqual([...spans.map((s) => s[0])].sort((a, b) => a - b));
    const b = await held(other.id, 'env-b');
    expect(overlap(b, spans[0]!)).toBe(true);
  });

  it('shared holders run together; an exclusive one waits for them, and a later shared one for it', async () => {
    h = await harness();
    const s1 = await h.submit(spec('s1', '[{name: db, mode: shared}]', 'sleep 0.4'));
    const s2 = await h.submit(spec('s2', '[{name: db, mode: shared}]', 'sleep 0.4'));
    const ex = await h.submit(spec('ex', '[db]', 'sleep 0.2'));
    const s3 = await h.submit(spec('s3', '[{name: db, mode: shared}]', 'sleep 0.1'));
    for (const j of [s1, s2, ex, s3]) expect((await h.finish(j.id)).job.status).toBe('succeeded');
    const [a, b, e, c] = await Promise.all([s1, s2, ex, s3].map((j) => held(j.id, 'db')));
    expect(overlap(a!, b!)).toBe(true);
    expect(e![0]).toBeGreaterThanOrEqual(Math.max(a![1], b![1]));
    // s3 could have shared with s1 and s2, but ex came first: no overtaking.
    expect(c![0]).toBeGreaterThanOrEqual(e![1]);
  });

  it('says what a waiting job waits for: the holder, or the job ahead of it', async () => {
    h = await harness();
    const holder = await h.submit(spec('holder', '[x]', 'sleep 30'));
    await nextEvent(h.bus, (e) => e.type === 'lock.acquired' && e.jobId === holder.id).catch(() => {});
    const first = await h.submit(spec('first', '[x]', 'true'));
    const second = await h.submit(spec('second', '[x]', 'true'));
    const waiting = async (id: number) => {
      for (let i = 0; i < 200; i++) {
        const j = await h.store.getJob(id);
        if (j?.waitingFor) return j.waitingFor;
        await new Promise((r) => setTimeout(r, 10));
      }
      return null;
    };
    expect(await waiting(first.id)).toMatch(
      new RegExp(`^lock x held by job ${holder.id} \\(running since \\d{4}-\\d\\d-\\d\\dT`),
    );
    expect(await waiting(second.id)).toBe(`lock x: job ${first.id} is ahead in the queue for it`);
    // Stopping the holder releases the lock in the transaction that ends it; the queue moves on.
    await h.coordinator.requestStop(holder.id, 'test');
    expect((await h.finish(holder.id)).job.status).toBe('stopped');
    const end = (await h.store.listEvents({ jobId: holder.id, limit: 1000 })).filter(
      (e) => e.type === 'lock.released' || (e.type === 'job.status' && e.to === 'stopped'),
    );
    expect(end.map((e) => e.type)).toEqual(['lock.released', 'job.status']);
    expect(new Set(end.map((e) => e.ts)).size).toBe(1);
    expect((await h.finish(first.id)).job.status).toBe('succeeded');
    expect((await h.finish(second.id)).job.status).toBe('succeeded');
    const [f, s] = await Promise.all([held(first.id, 'x'), held(second.id, 'x')]);
    expect(s[0]).toBeGreaterThanOrEqual(f[1]);
  });

  it('releases the lock of a job that fails', async () => {
    h = await harness();
    const failing = await h.submit(spec('failing', '[y]', 'sleep 0.2; exit 3'));
    const next = await h.submit(spec('next', '[y]', 'true'));
    expect((await h.finish(failing.id)).job.status).toBe('failed');
    expect((await h.finish(next.id)).job.status).toBe('succeeded');
    const [f, n] = await Promise.all([held(failing.id, 'y'), held(next.id, 'y')]);
    expect(n[0]).toBeGreaterThanOrEqual(f[1]);
  });

  it('a queued job that is stopped no longer holds the queue up', async () => {
    h = await harness();
    const holder = await h.submit(spec('holder', '[z]', 'sleep 0.5'));
    const stopped = await h.submit(spec('stopped', '[z]', 'true'));
    const after = await h.submit(spec('after', '[z]', 'true'));
    await h.coordinator.requestStop(stopped.id, 'changed my mind');
    expect((await h.finish(stopped.id)).job.status).toBe('stopped');
    expect((await h.finish(holder.id)).job.status).toBe('succeeded');
    expect((await h.finish(after.id)).job.status).toBe('succeeded');
    const events = await h.store.listEvents({ jobId: stopped.id, types: ['lock.'], limit: 100 });
    expect(events).toEqual([]); // it never held it
  });
});

describe('lockVerdict', () => {
  const view = (
    holders: Record<string, Array<{ jobId: number; mode: 'exclusive' | 'shared' }>>,
    caps = {},
  ) => ({
    holders: (n: string) => (holders[n] ?? []).map((x) => ({ ...x, since: null })),
    waiting: [] as Array<{ jobId: number; wants: Array<{ name: string; mode: 'exclusive' | 'shared' }> }>,
    capacity: (n: string) => (caps as Record<string, number>)[n],
  });

  it('takes all locks or none: one busy lock keeps the job from the others', () => {
    const v = lockVerdict(
      5,
      [
        { name: 'a', mode: 'exclusive' },
        { name: 'b', mode: 'exclusive' },
      ],
      view({ b: [{ jobId: 2, mode: 'exclusive' }] }),
    );
    expect(v).toEqual({ ok: false, reason: 'lock b held by job 2' });
  });

  it("names another owner's job without its id", () => {
    const v = lockVerdict(5, [{ name: 'a', mode: 'exclusive' }], {
      ...view({ a: [{ jobId: 2, mode: 'exclusive' }] }),
      jobName: (id) => (id === 2 ? 'a job of another owner' : `job ${id}`),
    });
    expect(v).toEqual({ ok: false, reason: 'lock a held by a job of another owner' });
  });

  it('a declared capacity is a semaphore of that many holders', () => {
    const two = [
      { jobId: 1, mode: 'shared' as const },
      { jobId: 2, mode: 'shared' as const },
    ];
    expect(lockVerdict(3, [{ name: 'lab', mode: 'shared' }], view({ lab: two }, { lab: 3 }))).toEqual({
      ok: true,
    });
    expect(lockVerdict(3, [{ name: 'lab', mode: 'shared' }], view({ lab: two }, { lab: 2 }))).toEqual({
      ok: false,
      reason: 'lock lab held by job 1 and 1 more, all 2 slots taken',
    });
  });
});
