import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalAgent } from '../../src/agent/local-agent.js';
import type { AgentReport, AttemptRef, LogLine, ResolvedTask } from '../../src/agent/protocol.js';
import { findTaggedPids } from '../../src/agent/reaper.js';
import { pidsWithEnv, tempDir, until } from '../helpers/embedded.js';

interface Rig {
  agent: LocalAgent;
  reports: AgentReport[];
  /** Resolves with the first report (already received or coming) that matches. */
  waitFor<T extends AgentReport>(match: (r: AgentReport) => r is T): Promise<T>;
  lines(ref: AttemptRef): LogLine[];
}

const agents: LocalAgent[] = [];
afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.stop(0)));
});

function rig(nodeId = `node-${randomUUID().slice(0, 8)}`): Rig {
  const reports: AgentReport[] = [];
  const waiters: Array<() => void> = [];
  const agent = new LocalAgent({
    nodeId,
    workRoot: tempDir('jobhub-agent-'),
    sink: (_node, r) => {
      reports.push(r);
      for (const w of waiters.splice(0)) w();
    },
    logFlushMs: 5,
  });
  agents.push(agent);
  return {
    agent,
    reports,
    waitFor<T extends AgentReport>(match: (r: AgentReport) => r is T): Promise<T> {
      return new Promise((resolve) => {
        const check = () => {
          const found = reports.find(match);
          if (found) resolve(found);
          else waiters.push(check);
        };
        check();
      });
    },
    lines: (ref) =>
      reports
        .flatMap((r) => (r.type === 'log' ? r.lines : []))
        .filter(
          (l) => l.ref.jobId === ref.jobId && l.ref.taskId === ref.taskId && l.ref.attempt === ref.attempt,
        ),
  };
}

let nextTask = 1;
function start(r: Rig, task: Partial<ResolvedTask> & { command: string }, jobId = 1): AttemptRef {
  const ref = { jobId, taskId: nextTask++, attempt: 1 };
  r.agent.send({
    type: 'task.start',
    ref,
    task: { driver: 'shell', args: [], env: {}, workingDir: '', label: 's/n/t', longRunning: false, ...task },
  });
  return ref;
}

const same = (a: AttemptRef, b: AttemptRef) =>
  a.jobId === b.jobId && a.taskId === b.taskId && a.attempt === b.attempt;
const exited =
  (ref: AttemptRef) =>
  (r: AgentReport): r is Extract<AgentReport, { type: 'task.exited' }> =>
    r.type === 'task.exited' && same(r.ref, ref);
const readied =
  (ref: AttemptRef) =>
  (r: AgentReport): r is Extract<AgentReport, { type: 'task.ready' }> =>
    r.type === 'task.ready' && same(r.ref, ref);

describe('drivers', () => {
  it('shell runs under sh -c; exec runs the program without a shell', async () => {
    const r = rig();
    const sh = start(r, { command: 'echo "$((1+2))" $HOME_TEST', env: { HOME_TEST: 'from-env' } });
    const ex = start(r, { driver: 'exec', command: 'echo', args: ['two words', '$HOME', '`x`'] });
    expect((await r.waitFor(exited(sh))).outcome).toBe('succeeded');
    expect((await r.waitFor(exited(ex))).outcome).toBe('succeeded');
    expect(r.lines(sh).map((l) => l.text)).toEqual(['3 from-env']);
    expect(r.lines(ex).map((l) => l.text)).toEqual(['two words $HOME `x`']);
  });

  it("shares the job's working directory between tasks on a node, and resolves relative workingDir", async () => {
    const r = rig();
    const write = start(r, { command: 'echo hi > shared.txt; mkdir -p sub; echo deep > sub/f' });
    await r.waitFor(exited(write));
    const read = start(r, { command: 'cat shared.txt' });
    const sub = start(r, { command: 'cat f; pwd', workingDir: 'sub' });
    await r.waitFor(exited(read));
    await r.waitFor(exited(sub));
    expect(r.lines(read).map((l) => l.text)).toEqual(['hi']);
    const [deep, pwd] = r.lines(sub).map((l) => l.text);
    expect(deep).toBe('deep');
    expect(pwd).toMatch(/\/job-1\/sub$/);
  });

  it('splits stdout and stderr into lines, numbered without gaps, chunks and all', async () => {
    const r = rig();
    const ref = start(r, {
      command: "printf 'a'; sleep 0.1; printf 'b\\nc\\n'; echo err >&2; printf 'no newline'",
    });
    await r.waitFor(exited(ref));
    const lines = r.lines(ref);
    expect(lines.map((l) => [l.stream, l.text])).toEqual([
      ['stdout', 'ab'],
      ['stdout', 'c'],
      ['stderr', 'err'],
      ['stdout', 'no newline'],
    ]);
    expect(lines.map((l) => l.seq)).toEqual([1, 2, 3, 4]);
  });

  it('reports a non-zero exit as failed, and a missing program as a start error', async () => {
    const r = rig();
    const bad = start(r, { command: 'exit 5' });
    const missing = start(r, { driver: 'exec', command: 'no-such-program-here' });
    expect(await r.waitFor(exited(bad))).toMatchObject({
      outcome: 'failed',
      exitCode: 5,
      text: 'exit code 5',
    });
    const m = await r.waitFor(exited(missing));
    expect(m.outcome).toBe('start_error');
    expect(m.text).toMatch(/no-such-program-here/);
    expect(m.text).toMatch(/ENOENT|not found/);
  });

  it('kills a task that exceeds its timeout', async () => {
    const r = rig();
    const ref = start(r, { command: 'sleep 1000', timeoutMs: 200 });
    const e = await r.waitFor(exited(ref));
    expect(e.outcome).toBe('timeout');
    expect(e.text).toMatch(/timed out after/);
  });

  it('delivers every log line before the exit report', async () => {
    const r = rig();
    const ref = start(r, { command: 'for i in $(seq 1 3000); do echo line $i; done' });
    await r.waitFor(exited(ref));
    const at = r.reports.findIndex(exited(ref));
    const before = r.reports
      .slice(0, at)
      .flatMap((x) => (x.type === 'log' ? x.lines : []))
      .filter((l) => same(l.ref, ref));
    expect(before).toHaveLength(3000);
    expect(before.at(-1)?.text).toBe('line 3000');
  });
});

describe('long-running tasks and probes', () => {
  let server: Server | undefined;
  afterEach(() => {
    server?.close();
    server = undefined;
  });

  it('is ready when an http probe answers 2xx; ${VAR} in the URL comes from the task env', async () => {
    let hits = 0;
    server = createServer((req, res) => {
      hits++;
      res.statusCode = hits < 3 ? 503 : 200;
      res.end(req.url);
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    const r = rig();
    const ref = start(r, {
      command: 'sleep 1000',
      longRunning: true,
      env: { PROBE_PORT: String(port) },
      ready: {
        probes: [{ kind: 'http', label: 'h', url: 'http://127.0.0.1:${PROBE_PORT}/health' }],
        intervalMs: 20,
        timeoutMs: 5000,
      },
    });
    await r.waitFor(readied(ref));
    expect(hits).toBe(3);
    expect(r.reports.find(exited(ref))).toBeUndefined(); // still running
    r.agent.send({ type: 'task.stop', ref, reason: 'test over', graceMs: 1000 });
    expect((await r.waitFor(exited(ref))).outcome).toBe('stopped');
  });

  it('is ready when a tcp probe connects', async () => {
    server = createServer();
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    const r = rig();
    const ref = start(r, {
      command: 'exec sleep 1000',
      longRunning: true,
      ready: {
        probes: [{ kind: 'tcp', label: 't', address: `127.0.0.1:${port}` }],
        intervalMs: 20,
        timeoutMs: 5000,
      },
    });
    await r.waitFor(readied(ref));
    r.agent.send({ type: 'task.stop', ref, reason: 'done', graceMs: 1000 });
    expect((await r.waitFor(exited(ref))).outcome).toBe('stopped');
  });

  it('is ready after a command probe that fails twice', async () => {
    const r = rig();
    const ref = start(r, {
      command: 'exec sleep 1000',
      longRunning: true,
      ready: {
        probes: [
          {
            kind: 'command',
            label: 'count',
            command: {
              driver: 'shell',
              command: 'n=$(cat n 2>/dev/null || echo 0); echo $((n+1)) > n; echo try $((n+1)); [ $n -ge 2 ]',
              args: [],
              env: {},
              workingDir: '',
            },
          },
        ],
        intervalMs: 20,
        timeoutMs: 5000,
      },
    });
    await r.waitFor(readied(ref));
    expect(
      r
        .lines(ref)
        .filter((l) => l.stream === 'probe' && l.text.startsWith('try'))
        .map((l) => l.text),
    ).toEqual(['try 1', 'try 2', 'try 3']);
    r.agent.send({ type: 'task.stop', ref, reason: 'done', graceMs: 1000 });
    await r.waitFor(exited(ref));
  });

  it('fails with probe_timeout when not ready in time, and the process is gone', async () => {
    const r = rig();
    const marker = randomUUID();
    const ref = start(r, {
      command: 'sleep 1000',
      longRunning: true,
      env: { MARKER: marker },
      ready: {
        probes: [{ kind: 'tcp', label: 't', address: '127.0.0.1:1' }],
        intervalMs: 20,
        timeoutMs: 300,
      },
    });
    const e = await r.waitFor(exited(ref));
    expect(e.outcome).toBe('probe_timeout');
    expect(e.text).toMatch(/not ready after .*tcp 127\.0\.0\.1:1.*ECONNREFUSED/);
    expect(pidsWithEnv('MARKER', marker)).toEqual([]);
  });

  it('stop ends the whole process group, children included', async () => {
    const r = rig();
    const marker = randomUUID();
    const ref = start(r, {
      command: 'sleep 1000 & sleep 1000 & wait',
      longRunning: true,
      env: { MARKER: marker },
    });
    await r.waitFor(readied(ref));
    await until(() => pidsWithEnv('MARKER', marker).length === 3);
    r.agent.send({ type: 'task.stop', ref, reason: 'enough', graceMs: 2000 });
    const e = await r.waitFor(exited(ref));
    expect(e).toMatchObject({ outcome: 'stopped', text: 'stopped: enough' });
    expect(pidsWithEnv('MARKER', marker)).toEqual([]);
  });

  it('job.cleanup kills processes that left the group, then reports job.cleaned', async () => {
    const r = rig();
    const marker = randomUUID();
    // The daemon signals once it is in its own session, so the group kill at exit cannot reach it.
    const daemon =
      "setsid sh -c 'echo $$ > daemon.pid; exec sleep 1000' & while [ ! -s daemon.pid ]; do sleep 0.01; done";
    const ref = start(r, { command: daemon, env: { MARKER: marker } }, 7);
    await r.waitFor(exited(ref));
    expect(pidsWithEnv('MARKER', marker)).toHaveLength(1); // the daemon outlived its task
    expect(findTaggedPids(`${r.agent.nodeId}/7/`)).toHaveLength(1);
    r.agent.send({ type: 'job.cleanup', jobId: 7, graceMs: 1000 });
    const cleaned = await r.waitFor(
      (x): x is Extract<AgentReport, { type: 'job.cleaned' }> => x.type === 'job.cleaned',
    );
    expect(cleaned).toMatchObject({ jobId: 7, killed: 1 });
    expect(pidsWithEnv('MARKER', marker)).toEqual([]);
  });
});
