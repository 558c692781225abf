import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Harness } from './harness.js';

let h: Harness;
afterEach(async () => {
  await h?.dispose();
});

describe('LocalAgent: running tasks', () => {
  it('runs a shell task: started with pid, stdout line, succeeded', async () => {
    h = await Harness.create();
    const ref = h.start({ command: 'echo hello from $0' });
    const exited = await h.exited(ref);
    expect(exited).toMatchObject({ outcome: 'succeeded', exitCode: 0, signal: null, text: 'exit code 0' });
    expect((await h.started(ref)).pid).toBeGreaterThan(0);
    expect(h.texts(ref, 'stdout')).toEqual(['hello from sh']);
    expect(h.statuses(ref)).toEqual(['task.started', 'task.exited']);
    expect(h.agent.runningCount()).toBe(0);
  });

  it('runs an exec task without a shell: spaces and $HOME pass literally', async () => {
    h = await Harness.create();
    const ref = h.start({ driver: 'exec', command: 'printf', args: ['%s|\n', 'a b', '$HOME', '*'] });
    expect((await h.exited(ref)).outcome).toBe('succeeded');
    expect(h.texts(ref, 'stdout')).toEqual(['a b|', '$HOME|', '*|']);
  });

  it('passes the task environment and the task tag', async () => {
    h = await Harness.create();
    const ref = h.start({ command: 'echo "$FOO/$JOBHUB_TASK_TAG"', env: { FOO: 'bar baz' } });
    await h.exited(ref);
    expect(h.texts(ref, 'stdout')).toEqual([`bar baz/${h.nodeId}/${ref.jobId}/${ref.taskId}/1`]);
  });

  it('shares the job directory between tasks of one job; resolves a relative workingDir in it', async () => {
    h = await Harness.create();
    const first = h.start({ command: 'echo shared > note.txt && pwd' });
    expect((await h.exited(first)).outcome).toBe('succeeded');
    const second = h.start({ command: 'cat note.txt' });
    expect((await h.exited(second)).outcome).toBe('succeeded');
    expect(h.texts(first, 'stdout')).toEqual([h.jobDir]);
    expect(h.texts(second, 'stdout')).toEqual(['shared']);

    const rel = h.start({ command: 'pwd; echo x > here.txt', workingDir: 'sub/dir' });
    expect((await h.exited(rel)).outcome).toBe('succeeded');
    expect(h.texts(rel, 'stdout')).toEqual([join(h.jobDir, 'sub/dir')]);
    expect(await readFile(join(h.jobDir, 'sub/dir/here.txt'), 'utf8')).toBe('x\n');

    const abs = h.start({ command: 'pwd', workingDir: h.workRoot });
    await h.exited(abs);
    expect(h.texts(abs, 'stdout')).toEqual([h.workRoot]);
  });

  it('numbers stdout and stderr lines of an attempt from 1 without gaps', async () => {
    h = await Harness.create();
    const ref = h.start({ command: 'echo one; echo two >&2; echo three; echo four >&2' });
    await h.exited(ref);
    const lines = h.lines(ref);
    expect(lines.map((l) => l.seq)).toEqual([1, 2, 3, 4]);
    expect(h.texts(ref, 'stdout')).toEqual(['one', 'three']);
    expect(h.texts(ref, 'stderr')).toEqual(['two', 'four']);
    expect(lines.every((l) => l.ts > 0)).toBe(true);
  });

  it('joins a line written in two chunks, keeps split UTF-8, emits a last line without newline', async () => {
    h = await Harness.create();
    const ref = h.start({
      command: `printf 'a'; sleep 0.1; printf 'b\\r\\n'; printf '\\303'; sleep 0.1; printf '\\251\\n'; printf 'tail'`,
    });
    await h.exited(ref);
    expect(h.texts(ref, 'stdout')).toEqual(['ab', 'é', 'tail']);
  });

  it('reports a non-zero exit and a signal it did not send as failed', async () => {
    h = await Harness.create();
    const code = h.start({ command: 'echo bad >&2; exit 3' });
    expect(await h.exited(code)).toMatchObject({ outcome: 'failed', exitCode: 3, text: 'exit code 3' });
    const sig = h.start({ command: 'kill -KILL $$' });
    expect(await h.exited(sig)).toMatchObject({
      outcome: 'failed',
      exitCode: null,
      signal: 'SIGKILL',
      text: 'killed by SIGKILL',
    });
  });

  it('reports a program that does not exist as start_error, with a system line before it', async () => {
    h = await Harness.create();
    const ref = h.start({ driver: 'exec', command: 'jobhub-no-such-program', args: [] });
    const exited = await h.exited(ref);
    expect(exited).toMatchObject({
      outcome: 'start_error',
      exitCode: null,
      text: 'cannot start "jobhub-no-such-program": not found (ENOENT)',
    });
    expect(h.lines(ref)).toMatchObject([{ seq: 1, stream: 'system', text: exited.text }]);
    expect(h.statuses(ref)).toEqual(['task.exited']);

    const plain = join(h.workRoot, 'plain.txt');
    await writeFile(plain, 'not a program\n', { mode: 0o644 });
    const noexec = h.start({ driver: 'exec', command: plain, args: [] });
    expect(await h.exited(noexec)).toMatchObject({
      outcome: 'start_error',
      text: `cannot start "${plain}": permission denied (EACCES)`,
    });
    const baddir = h.start({ command: 'true', workingDir: '/nonexistent/jobhub' });
    expect(await h.exited(baddir)).toMatchObject({
      outcome: 'start_error',
      text: 'working directory "/nonexistent/jobhub" does not exist',
    });
  });

  it('kills a task that exceeds its timeout', async () => {
    h = await Harness.create();
    const ref = h.start({ command: 'echo begin; sleep 30', timeoutMs: 300 });
    const exited = await h.exited(ref);
    expect(exited).toMatchObject({ outcome: 'timeout', text: 'timed out after 300ms' });
    expect(h.texts(ref, 'stdout')).toEqual(['begin']);
    expect(h.texts(ref, 'system')).toEqual([
      'timed out after 300ms (SIGTERM to the process group, SIGKILL after 5s)',
    ]);
  });

  it('escalates to SIGKILL when a timed-out group ignores SIGTERM', async () => {
    h = await Harness.create({ killGraceMs: 200 });
    const ref = h.start({
      command: `trap '' TERM; echo armed; while :; do sleep 0.05; done`,
      timeoutMs: 200,
    });
    expect(await h.exited(ref)).toMatchObject({ outcome: 'timeout', signal: 'SIGKILL' });
  });

  it('delivers every log line before the exit report, in batches of at most 1000', async () => {
    h = await Harness.create({ logFlushMs: 60_000 });
    const ref = h.start({ command: 'seq 1 2500' });
    await h.exited(ref);
    const exitIndex = h.reports.findIndex((r) => r.type === 'task.exited');
    const logIndexes = h.reports.flatMap((r, i) => (r.type === 'log' ? [i] : []));
    expect(logIndexes.every((i) => i < exitIndex)).toBe(true);
    const lines = h.lines(ref);
    expect(lines.map((l) => l.seq)).toEqual(Array.from({ length: 2500 }, (_, i) => i + 1));
    expect(lines.at(-1)?.text).toBe('2500');
    for (const r of h.reports) if (r.type === 'log') expect(r.lines.length).toBeLessThanOrEqual(1000);
  });

  it('ignores a repeated start of a running attempt', async () => {
    h = await Harness.create();
    const ref = h.start({ command: 'echo once' });
    h.start({ command: 'echo twice' }, ref);
    await h.exited(ref);
    expect(h.texts(ref, 'stdout')).toEqual(['once']);
    expect(h.statuses(ref)).toEqual(['task.started', 'task.exited']);
  });
});
