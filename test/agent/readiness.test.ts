import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findTaggedPids } from '../../src/agent/reaper.js';
import { freePort, Harness, isGone } from './harness.js';

let h: Harness;
afterEach(async () => {
  await h?.dispose();
});

/** A node program serving HTTP (or plain TCP) on $PORT after a short start-up delay. */
function server(kind: 'http' | 'tcp'): { driver: 'exec'; command: string; args: string[] } {
  const create =
    kind === 'http'
      ? `require('node:http').createServer((q, s) => s.end('ok'))`
      : `require('node:net').createServer((c) => c.end())`;
  const script = `setTimeout(() => ${create}.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening')), 200);`;
  return { driver: 'exec', command: process.execPath, args: ['-e', script] };
}

describe('LocalAgent: long-running tasks and readiness', () => {
  it('is ready once spawned when it has no probes', async () => {
    h = await Harness.create();
    const ref = h.start({ command: 'sleep 1000', longRunning: true });
    await h.ready(ref);
    expect(h.statuses(ref)).toEqual(['task.started', 'task.ready']);
    expect(h.agent.runningCount()).toBe(1);
    h.stopTask(ref, 'done testing');
    expect(await h.exited(ref)).toMatchObject({ outcome: 'stopped', text: 'stopped: done testing' });
    expect(h.agent.runningCount()).toBe(0);
  });

  it('is ready when an http probe answers 2xx (${VAR} from the task env); the service keeps running until stopped', async () => {
    h = await Harness.create();
    const port = await freePort();
    const ref = h.start({
      ...server('http'),
      env: { PORT: String(port) },
      longRunning: true,
      ready: {
        // ${PORT} is filled in on the node from the task's environment.
        probes: [{ kind: 'http', label: 'http http://127.0.0.1:${PORT}/', url: 'http://127.0.0.1:${PORT}/' }],
        intervalMs: 50,
        timeoutMs: 10_000,
      },
    });
    await h.ready(ref);
    expect(h.texts(ref, 'probe')).toContain(`probe http http://127.0.0.1:${port}/: passed`);
    // A failure logged while the server was starting names the error once, not once per try.
    const retries = h.texts(ref, 'probe').filter((t) => t.endsWith('(retrying)'));
    expect(new Set(retries).size).toBe(retries.length);
    expect(h.statuses(ref)).toEqual(['task.started', 'task.ready']);
    h.stopTask(ref);
    expect((await h.exited(ref)).outcome).toBe('stopped');
  });

  it('is ready when a tcp probe connects', async () => {
    h = await Harness.create();
    const port = await freePort();
    const ref = h.start({
      ...server('tcp'),
      env: { PORT: String(port) },
      longRunning: true,
      ready: {
        probes: [{ kind: 'tcp', label: 'tcp 127.0.0.1:${PORT}', address: '127.0.0.1:${PORT:-1}' }],
        intervalMs: 50,
        timeoutMs: 10_000,
      },
    });
    await h.ready(ref);
    // The probe can connect before the program's listen callback has printed its line.
    await h.line(ref, (l) => l.text === 'listening');
    h.stopTask(ref);
    expect((await h.exited(ref)).outcome).toBe('stopped');
    expect(h.texts(ref, 'stdout')).toEqual(['listening']);
  });

  it('is ready after a command probe that fails twice; its output goes to the log as probe lines', async () => {
    h = await Harness.create();
    const probe =
      'n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; echo "try $n $P"; [ $n -ge 3 ]';
    const ref = h.start({
      command: 'sleep 1000',
      longRunning: true,
      env: { P: 'task-env' },
      ready: {
        probes: [
          {
            kind: 'command',
            label: 'probe 0: counter',
            command: { driver: 'shell', command: probe, args: [], env: {}, workingDir: '' },
          },
        ],
        intervalMs: 20,
        timeoutMs: 10_000,
      },
    });
    await h.ready(ref);
    expect(h.texts(ref, 'probe')).toEqual([
      'try 1 task-env',
      'probe 0: counter: exit code 1 (retrying)',
      'try 2 task-env',
      'try 3 task-env',
      'probe 0: counter: passed',
    ]);
    expect(await readFile(join(h.jobDir, 'count'), 'utf8')).toBe('3\n');
    expect(h.lines(ref).map((l) => l.seq)).toEqual([1, 2, 3, 4, 5]);
    h.stopTask(ref);
    await h.exited(ref);
  });

  it('fails with probe_timeout naming the probe, and kills the process', async () => {
    h = await Harness.create();
    const port = await freePort(); // nobody listens there
    const url = `http://127.0.0.1:${port}/`;
    const ref = h.start({
      command: 'sleep 1000',
      longRunning: true,
      ready: { probes: [{ kind: 'http', label: `http ${url}`, url }], intervalMs: 50, timeoutMs: 1000 },
    });
    const { pid } = await h.started(ref);
    const exited = await h.exited(ref);
    expect(exited.outcome).toBe('probe_timeout');
    expect(exited.text).toMatch(
      new RegExp(
        `^not ready after 1s: probe http ${url} failed: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}$`,
      ),
    );
    expect(h.statuses(ref)).toEqual(['task.started', 'task.exited']);
    // Many tries, one line: the error text never changed.
    expect(h.texts(ref, 'probe')).toEqual([
      `probe http ${url}: connect ECONNREFUSED 127.0.0.1:${port} (retrying)`,
    ]);
    expect(isGone(pid)).toBe(true);
    expect(findTaggedPids(h.jobPrefix)).toEqual([]);
  });

  it('fails when the process exits before it is ready', async () => {
    h = await Harness.create();
    const ref = h.start({
      command: 'exit 0',
      longRunning: true,
      ready: {
        probes: [{ kind: 'tcp', label: 'tcp 127.0.0.1:1', address: '127.0.0.1:1' }],
        intervalMs: 50,
        timeoutMs: 10_000,
      },
    });
    expect(await h.exited(ref)).toMatchObject({
      outcome: 'failed',
      exitCode: 0,
      text: 'exited with code 0 before it was ready',
    });
  });

  it('reports the exit of a ready service as usual', async () => {
    h = await Harness.create();
    const ref = h.start({ command: 'exit 4', longRunning: true });
    expect(await h.exited(ref)).toMatchObject({ outcome: 'failed', text: 'exit code 4' });
    expect(h.statuses(ref)).toEqual(['task.started', 'task.ready', 'task.exited']);
  });

  it('a stop during probing ends the probes too', async () => {
    h = await Harness.create();
    const ref = h.start({
      command: 'sleep 1000',
      longRunning: true,
      ready: {
        probes: [
          {
            kind: 'command',
            label: 'probe 0: hang',
            command: {
              driver: 'shell',
              command: 'echo probing; sleep 1000',
              args: [],
              env: {},
              workingDir: '',
            },
          },
        ],
        intervalMs: 50,
        timeoutMs: 60_000,
      },
    });
    await h.line(ref, (l) => l.stream === 'probe' && l.text === 'probing');
    // Task (sh/sleep) and probe (sh/sleep) all carry the tag.
    expect(findTaggedPids(h.jobPrefix).length).toBeGreaterThanOrEqual(2);
    h.stopTask(ref, 'changed my mind');
    expect(await h.exited(ref)).toMatchObject({ outcome: 'stopped', text: 'stopped: changed my mind' });
    expect(findTaggedPids(h.jobPrefix)).toEqual([]);
    expect(h.statuses(ref)).toEqual(['task.started', 'task.exited']);
  });
});
