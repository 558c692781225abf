import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { ProcessGroup } from '../../src/agent/process-group.js';
import { findTaggedPids, reapTagged } from '../../src/agent/reaper.js';
import { DirectSpawner, type Spawner } from '../../src/agent/spawner.js';
import { Harness, isGone, sameRef } from './harness.js';

let h: Harness;
afterEach(async () => {
  await h?.dispose();
});

describe('LocalAgent: stop, cleanup, shutdown', () => {
  it('stop ends the whole process group, background child included', async () => {
    h = await Harness.create();
    const ref = h.start({ command: 'sleep 1000 & echo "bg $!"; sleep 1000', longRunning: true });
    const { pid } = await h.started(ref);
    await h.ready(ref);
    // Ready comes at spawn (no probes); the line tells that the background child exists too.
    const bgLine = await h.line(ref, (l) => l.text.startsWith('bg '));
    const bg = Number(bgLine.text.slice(3));
    const tagged = findTaggedPids(h.jobPrefix);
    expect(tagged).toEqual(expect.arrayContaining([pid, bg]));
    h.stopTask(ref, 'test over', 2000);
    expect(await h.exited(ref)).toMatchObject({
      outcome: 'stopped',
      text: 'stopped: test over',
      signal: 'SIGTERM',
    });
    expect(h.texts(ref, 'system')).toEqual([
      'stopping: test over (SIGTERM to the process group, SIGKILL after 2s)',
    ]);
    for (const p of [pid, bg, ...tagged]) expect(isGone(p)).toBe(true);
    expect(findTaggedPids(h.jobPrefix)).toEqual([]);
  });

  it('a terminate asked before the spawner has started the process is applied once it has', async () => {
    // Regression: the spawn helper starts processes asynchronously; a stop in that window was lost
    // and the task ran to its end. This spawner holds the start until told.
    let go: () => void = () => {};
    const held = new EventEmitter() as EventEmitter & {
      pid: number | undefined;
      stdout: PassThrough;
      stderr: PassThrough;
    };
    held.pid = undefined;
    held.stdout = new PassThrough();
    held.stderr = new PassThrough();
    const spawner: Spawner = {
      spawn(req) {
        go = () => {
          const real = new DirectSpawner().spawn(req);
          real.stdout?.pipe(held.stdout);
          real.stderr?.pipe(held.stderr);
          real.once('spawn', () => {
            held.pid = real.pid;
            held.emit('spawn');
          });
          real.once('exit', (code, signal) => held.emit('exit', code, signal));
          real.once('close', () => held.emit('close'));
        };
        return held;
      },
      close: async () => {},
    };
    const group = new ProcessGroup(
      { driver: 'shell', command: 'sleep 60', args: [], cwd: process.cwd(), env: {} },
      { spawner, onLine: () => {} },
    );
    group.terminate(2000); // before the process exists
    go();
    expect(await group.started).toBe(true);
    const pid = group.pid as number;
    expect(await group.finished).toMatchObject({ kind: 'exit', signal: 'SIGTERM' });
    expect(isGone(pid)).toBe(true);
  });

  it('kills children left behind by a task that exited', async () => {
    h = await Harness.create();
    const ref = h.start({ command: 'sleep 1000 & echo $! > child.pid' });
    expect((await h.exited(ref)).outcome).toBe('succeeded');
    const child = Number(await readFile(join(h.jobDir, 'child.pid'), 'utf8'));
    expect(isGone(child)).toBe(true);
  });

  it('killNow SIGKILLs the given jobs at once, escaped daemons too, and leaves other jobs alone', async () => {
    h = await Harness.create();
    const daemon = `setsid sh -c 'echo $$ > d.pid; exec sleep 1000' & while [ ! -s d.pid ]; do sleep 0.02; done; exec sleep 1000`;
    const doomed = h.start({ command: daemon, longRunning: true });
    const spared = h.start({ command: 'sleep 1000', longRunning: true }, { jobId: doomed.jobId + 1 });
    const { pid } = await h.started(doomed);
    await h.ready(spared);
    const d = Number(await waitForFile(join(h.jobDir, 'd.pid')));
    h.agent.killNow([doomed.jobId]);
    expect((await h.exited(doomed)).signal).toBe('SIGKILL');
    for (const p of [pid, d]) expect(isGone(p)).toBe(true);
    expect(h.statuses(spared)).toEqual(['task.started', 'task.ready']);
    h.stopTask(spared);
    await h.exited(spared);
  });

  it('ignores a stop of an unknown or finished attempt', async () => {
    h = await Harness.create();
    h.stopTask({ jobId: 999, taskId: 1, attempt: 1 });
    const ref = h.start({ command: 'true' });
    await h.exited(ref);
    h.stopTask(ref);
    expect(h.statuses(ref)).toEqual(['task.started', 'task.exited']);
  });

  it('job.cleanup kills a daemon that left the process group', async () => {
    h = await Harness.create();
    // The daemon writes its pid after setsid; the task waits for it, so the daemon surely escaped.
    const ref = h.start({
      command: `setsid sh -c 'echo $$ > daemon.pid; exec sleep 1000' & while [ ! -s daemon.pid ]; do sleep 0.02; done`,
    });
    expect((await h.exited(ref)).outcome).toBe('succeeded');
    const daemon = Number(await readFile(join(h.jobDir, 'daemon.pid'), 'utf8'));
    expect(isGone(daemon)).toBe(false);
    expect(findTaggedPids(h.jobPrefix)).toEqual([daemon]);

    h.agent.send({ type: 'job.cleanup', jobId: h.jobId, graceMs: 1000 });
    expect(await h.waitFor((r) => r.type === 'job.cleaned' && r.jobId === h.jobId)).toMatchObject({
      killed: 1,
    });
    expect(isGone(daemon)).toBe(true);
    expect(findTaggedPids(h.jobPrefix)).toEqual([]);
  });

  it('an attempt whose exit waits for cleanup still counts as running: a repeated start (a reconnect) does not run it again', async () => {
    h = await Harness.create({ killGraceMs: 1500 });
    // The daemon ignores SIGTERM, so the cleanup after the task takes the whole kill grace.
    const ref = h.start({
      command: `setsid sh -c 'trap "" TERM; echo $$ > daemon.pid; exec sleep 1000' >/dev/null 2>&1 & while [ ! -s daemon.pid ]; do sleep 0.02; done; echo once >> runs.log`,
      cleanupAfter: true,
    });
    const { pid } = await h.started(ref);
    while (!isGone(pid)) await new Promise((resolve) => setTimeout(resolve, 20));
    // The task's own process has exited; its exit report waits for the cleanup.
    expect(h.reports.some((r) => r.type === 'task.exited')).toBe(false);
    expect(h.agent.runningRefs()).toContainEqual(ref);
    h.start({ command: 'echo twice >> runs.log', cleanupAfter: true }, ref);
    const exited = await h.exited(ref);
    expect(exited).toMatchObject({ outcome: 'succeeded', cleaned: { killed: 1 } });
    expect(h.reports.filter((r) => r.type === 'task.started' && sameRef(r.ref, ref))).toHaveLength(1);
    expect(await readFile(join(h.jobDir, 'runs.log'), 'utf8')).toBe('once\n');
    expect(h.agent.runningRefs()).toEqual([]);
  });

  it('job.cleanup stops the attempts of the job that still run', async () => {
    h = await Harness.create();
    const ref = h.start({ command: 'sleep 1000', longRunning: true });
    await h.ready(ref);
    h.agent.send({ type: 'job.cleanup', jobId: h.jobId, graceMs: 1000 });
    expect(await h.exited(ref)).toMatchObject({ outcome: 'stopped', text: 'stopped: job cleanup' });
    await h.waitFor((r) => r.type === 'job.cleaned');
  });

  it('reapTagged SIGKILLs what ignores SIGTERM after the grace period', async () => {
    h = await Harness.create();
    const ref = h.start({
      command: `setsid sh -c 'trap "" TERM; echo $$ > stubborn.pid; while :; do sleep 0.05; done' & while [ ! -s stubborn.pid ]; do sleep 0.02; done`,
    });
    await h.exited(ref);
    const stubborn = Number(await readFile(join(h.jobDir, 'stubborn.pid'), 'utf8'));
    expect(isGone(stubborn)).toBe(false);
    const result = await reapTagged(h.jobPrefix, 200);
    expect(result.found).toBeGreaterThanOrEqual(1);
    expect(result.killed).toBeGreaterThanOrEqual(1);
    expect(isGone(stubborn)).toBe(true);
  });

  it('stop(graceMs) stops every attempt, is idempotent, and refuses later starts', async () => {
    h = await Harness.create();
    const a = h.start({ command: 'sleep 1000', longRunning: true });
    const b = h.start({ command: 'sleep 1000' });
    await h.ready(a);
    await h.started(b);
    expect(h.agent.runningCount()).toBe(2);
    await Promise.all([h.agent.stop(1000), h.agent.stop(1000)]);
    expect(h.agent.runningCount()).toBe(0);
    for (const ref of [a, b]) {
      // On the agent's own account, not asked by the server: the server counts them lost.
      expect(await h.exited(ref)).toMatchObject({
        outcome: 'abandoned',
        text: 'stopped by its agent: agent stopping',
      });
    }
    const late = h.start({ command: 'true' });
    expect(await h.exited(late)).toMatchObject({
      outcome: 'start_error',
      text: `agent ${h.nodeId} is stopping`,
    });
  });
});

/** The file's text once it is there and not empty (a daemon writes it after it has escaped). */
async function waitForFile(file: string): Promise<string> {
  for (;;) {
    const text = await readFile(file, 'utf8').catch(() => '');
    if (text.trim() !== '') return text;
    await new Promise((r) => setTimeout(r, 10));
  }
}
