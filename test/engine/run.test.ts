import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Harness, harness, nextEvent, pidsWithEnv, task, until } from '../helpers/embedded.js';

let h: Harness;
beforeEach(async () => {
  h = await harness();
});
afterEach(async () => {
  await h.dispose();
});

const overlaps = (a: { startedAt: number | null; endedAt: number | null }, b: typeof a) =>
  (a.startedAt ?? 0) < (b.endedAt ?? 0) && (b.startedAt ?? 0) < (a.endedAt ?? 0);

describe('order and parallelism', () => {
  it('runs pipelines in order and the stages of a pipeline in parallel', async () => {
    const { job, detail, events } = await h.run(`name: order
nodeAssignments: [{name: n1}, {name: n2}]
pipelines:
  - {name: first, stages: [a]}
  - {name: second, stages: [b, c]}
  - {name: third, stages: [d]}
stages:
  - {name: a, selectors: [{name: n1}], tasks: [{name: t, shell: {command: "sleep 0.2"}}]}
  - {name: b, selectors: [{name: n1}], tasks: [{name: t, shell: {command: "sleep 0.4"}}]}
  - {name: c, selectors: [{name: n2}], tasks: [{name: t, shell: {command: "sleep 0.4"}}]}
  - {name: d, selectors: [{all: true}], tasks: [{name: t, shell: {command: "true"}}]}
`);
    expect(job.status).toBe('succeeded');
    // From the event history: when each task started running and when it ended.
    const at = (label: string, to: string) => {
      const t = task(detail, label);
      const e = events.find((x) => x.type === 'task.status' && x.taskId === t.id && x.to === to);
      if (!e) throw new Error(`no ${to} event for ${label}`);
      return e.ts;
    };
    expect(at('b/n1/t', 'running')).toBeGreaterThanOrEqual(at('a/n1/t', 'succeeded'));
    expect(at('c/n2/t', 'running')).toBeGreaterThanOrEqual(at('a/n1/t', 'succeeded'));
    expect(at('c/n2/t', 'running')).toBeLessThan(at('b/n1/t', 'succeeded')); // b and c at once
    expect(at('b/n1/t', 'running')).toBeLessThan(at('c/n2/t', 'succeeded'));
    expect(at('d/n2/t', 'running')).toBeGreaterThanOrEqual(
      Math.max(at('b/n1/t', 'succeeded'), at('c/n2/t', 'succeeded')),
    );
    const a = task(detail, 'a/n1/t');
    const b = task(detail, 'b/n1/t');
    const c = task(detail, 'c/n2/t');
    expect(b.startedAt).toBeGreaterThanOrEqual(a.endedAt ?? Number.POSITIVE_INFINITY);
    expect(c.startedAt).toBeGreaterThanOrEqual(a.endedAt ?? Number.POSITIVE_INFINITY);
    expect(overlaps(b, c)).toBe(true);
    for (const node of ['n1', 'n2']) {
      const d = task(detail, `d/${node}/t`);
      expect(d.startedAt).toBeGreaterThanOrEqual(Math.max(b.endedAt ?? 0, c.endedAt ?? 0));
    }
  });

  it('runs a stage on every node its selectors pick, and its tasks in order on each', async () => {
    const { job, detail } = await h.run(`name: seq
nodeAssignments: [{name: x, role: loader}, {name: y, role: loader}, {name: z, role: database}]
stages:
  - name: s
    selectors: [{role: loader}]
    tasks:
      - {name: one, shell: {command: "sleep 0.2"}}
      - {name: two, shell: {command: "sleep 0.2"}}
`);
    expect(job.status).toBe('succeeded');
    expect(detail.tasks.map((t) => `${t.node}/${t.name}`)).toEqual(['x/one', 'x/two', 'y/one', 'y/two']);
    for (const n of ['x', 'y']) {
      expect(task(detail, `s/${n}/two`).startedAt).toBeGreaterThanOrEqual(
        task(detail, `s/${n}/one`).endedAt ?? Infinity,
      );
    }
    expect(overlaps(task(detail, 's/x/one'), task(detail, 's/y/one'))).toBe(true);
  });

  it("runs a stage's own pipelines: groups in order, the tasks of a group in parallel", async () => {
    const { detail } = await h.run(`name: groups
stages:
  - name: s
    pipelines: [{name: g1, tasks: [a, b]}, {name: g2, tasks: [c]}]
    tasks:
      - {name: a, shell: {command: "sleep 0.3"}}
      - {name: b, shell: {command: "sleep 0.3"}}
      - {name: c, shell: {command: "true"}}
`);
    const [a, b, c] = ['a', 'b', 'c'].map((n) => task(detail, `s/local/${n}`));
    expect(a && b && overlaps(a, b)).toBe(true);
    expect(c?.startedAt).toBeGreaterThanOrEqual(Math.max(a?.endedAt ?? 0, b?.endedAt ?? 0));
  });

  it('runs a DAG from needs: independent branches together, joins after both', async () => {
    const { job, detail } = await h.run(`name: diamond
stages:
  - {name: a, tasks: [{name: t, shell: {command: "echo a > a.txt"}}]}
  - {name: b, needs: [a], tasks: [{name: t, shell: {command: "sleep 0.3; cat a.txt"}}]}
  - {name: c, needs: [a], tasks: [{name: t, shell: {command: "sleep 0.3; cat a.txt"}}]}
  - {name: d, needs: [b, c], tasks: [{name: t, shell: {command: "true"}}]}
`);
    expect(job.status).toBe('succeeded');
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((s) => task(detail, `${s}/local/t`));
    expect(b?.startedAt).toBeGreaterThanOrEqual(a?.endedAt ?? Infinity);
    expect(b && c && overlaps(b, c)).toBe(true);
    expect(d?.startedAt).toBeGreaterThanOrEqual(Math.max(b?.endedAt ?? 0, c?.endedAt ?? 0));
    const logs = await h.store.readLogs({ jobId: job.id, taskId: b?.id ?? 0 });
    expect(logs.map((l) => l.text)).toEqual(['a']); // b read the file a wrote: one working dir per job and node
  });
});

describe('long-running tasks', () => {
  it('retries readiness probes until they pass, then runs the next stage while the service runs', async () => {
    const { job, detail } = await h.run(`name: ready
pipelines: [{stages: [svc]}, {stages: [use]}]
stages:
  - name: svc
    type: longRunning
    tasks:
      - name: server
        longRunning: true
        shell: {command: "sleep 0.6; touch up.flag; echo up; exec sleep 1000"}
        ready:
          interval: 100ms
          timeout: 10s
          tasks: [{shell: {command: "test -f up.flag"}}]
  - name: use
    tasks: [{name: client, shell: {command: "test -f up.flag && echo service was up"}}]
`);
    expect(job.status).toBe('succeeded');
    const server = task(detail, 'svc/local/server');
    const client = task(detail, 'use/local/client');
    expect(server.readyAt).not.toBeNull();
    expect((server.readyAt ?? 0) - (server.startedAt ?? 0)).toBeGreaterThanOrEqual(500);
    expect(client.startedAt).toBeGreaterThanOrEqual(server.readyAt ?? Infinity);
    expect(server.status).toBe('stopped'); // stopped when every stage was done
    expect(server.endedAt).toBeGreaterThanOrEqual(client.endedAt ?? Infinity);
    const probeLines = (await h.store.readLogs({ jobId: job.id, taskId: server.id })).filter(
      (l) => l.stream === 'probe',
    );
    expect(probeLines.length).toBeGreaterThan(0);
  });

  it('fails the task and the job when probes do not pass in time, and kills the service', async () => {
    const marker = randomUUID();
    const { job, detail } = await h.run(`name: not-ready
pipelines: [{stages: [svc]}, {stages: [use]}]
stages:
  - name: svc
    type: longRunning
    tasks:
      - name: server
        longRunning: true
        env: {MARKER: "${marker}"}
        shell: {command: "sleep 1000"}
        ready: {interval: 100ms, timeout: 700ms, tcp: "127.0.0.1:1"}
  - name: use
    tasks: [{name: client, shell: {command: "true"}}]
`);
    expect(job.status).toBe('failed');
    const server = task(detail, 'svc/local/server');
    expect(server.status).toBe('failed');
    expect(server.text).toMatch(/not ready after/);
    expect(task(detail, 'use/local/client').status).toBe('skipped');
    expect(job.reason).toMatch(/svc\/local\/server failed/);
    expect(pidsWithEnv('MARKER', marker)).toEqual([]);
  });

  it('stops a long-running task with a stopper, then goes on', async () => {
    const marker = randomUUID();
    const { job, detail, events } = await h.run(`name: stopper
nodeAssignments: [{name: srv}, {name: cli}]
pipelines: [{stages: [svc]}, {stages: [stop]}, {stages: [after]}]
stages:
  - name: svc
    type: longRunning
    selectors: [{name: srv}]
    tasks:
      - name: server
        longRunning: true
        env: {MARKER: "${marker}"}
        shell: {command: "trap 'echo got TERM; exit 0' TERM; touch trapped; while true; do sleep 0.05; done"}
        ready: {interval: 20ms, tasks: [{shell: {command: "test -f trapped"}}]}
  - name: stop
    type: stopper
    tasks: [{name: stop, stopper: {stage: svc, task: server}}]
  - name: after
    selectors: [{name: cli}]
    tasks: [{name: check, shell: {command: "true"}}]
`);
    expect(job.status).toBe('succeeded');
    const server = task(detail, 'svc/srv/server');
    expect(server.status).toBe('stopped');
    expect(server.text).toContain('stopper stop/srv/stop');
    const stopper = task(detail, 'stop/srv/stop');
    expect(stopper.status).toBe('succeeded');
    expect(stopper.text).toBe('stopped 1 task');
    expect(task(detail, 'stop/cli/stop').text).toBe('stopped 0 tasks'); // nothing of svc runs on cli
    expect(stopper.endedAt).toBeGreaterThanOrEqual(server.endedAt ?? Infinity);
    expect(task(detail, 'after/cli/check').startedAt).toBeGreaterThanOrEqual(stopper.endedAt ?? Infinity);
    const logs = await h.store.readLogs({ jobId: job.id, taskId: server.id });
    expect(
      logs.map((l) => l.text),
      JSON.stringify(logs),
    ).toContain('got TERM');
    expect(events.filter((e) => e.type === 'stage.status' && e.stage === 'svc').map((e) => e.to)).toEqual([
      'running',
      'ready',
      'stopped',
    ]);
    expect(pidsWithEnv('MARKER', marker)).toEqual([]);
  });
});

describe('failure, retries, timeouts, stop', () => {
  it('fails the job on a failed task: nothing after it starts, running tasks are stopped', async () => {
    const marker = randomUUID();
    const { job, detail } = await h.run(`name: fail
nodeAssignments: [{name: a}, {name: b}]
pipelines: [{stages: [work, slow]}, {stages: [later]}]
stages:
  - name: work
    selectors: [{name: a}]
    tasks:
      - {name: bad, shell: {command: "echo about to fail; exit 3"}}
      - {name: never, shell: {command: "true"}}
  - name: slow
    selectors: [{name: b}]
    tasks: [{name: sleeper, env: {MARKER: "${marker}"}, shell: {command: "sleep 1000"}}]
  - name: later
    tasks: [{name: t, shell: {command: "true"}}]
`);
    expect(job.status).toBe('failed');
    expect(job.reason).toBe('task work/a/bad failed: exit code 3');
    const bad = task(detail, 'work/a/bad');
    expect([bad.status, bad.exitCode]).toEqual(['failed', 3]);
    expect(task(detail, 'work/a/never').status).toBe('skipped');
    expect(task(detail, 'slow/b/sleeper').status).toBe('stopped');
    expect(task(detail, 'later/a/t').status).toBe('skipped');
    expect(detail.stages.map((s) => [s.name, s.status])).toEqual([
      ['work', 'failed'],
      ['slow', 'stopped'],
      ['later', 'skipped'],
    ]);
    expect(pidsWithEnv('MARKER', marker)).toEqual([]);
  });

  it('retries a failing task with backoff, as its spec says', async () => {
    const { job, detail, events } = await h.run(`name: retry
stages:
  - name: s
    tasks:
      - name: flaky
        retries: {count: 3, backoff: 50ms}
        shell: {command: "n=$(cat n 2>/dev/null || echo 0); n=$((n+1)); echo $n > n; echo try $n; test $n -ge 3"}
`);
    expect(job.status).toBe('succeeded');
    const flaky = task(detail, 's/local/flaky');
    expect(flaky.attempt).toBe(3);
    const transitions = events.filter((e) => e.type === 'task.status').map((e) => `${e.from}->${e.to}`);
    expect(transitions).toEqual([
      'queued->running',
      'running->queued',
      'queued->running',
      'running->queued',
      'queued->running',
      'running->succeeded',
    ]);
    const lines = await h.store.readLogs({ jobId: job.id, taskId: flaky.id });
    expect(lines.map((l) => [l.attempt, l.text])).toEqual([
      [1, 'try 1'],
      [2, 'try 2'],
      [3, 'try 3'],
    ]);
  });

  it('fails a task after its retries are used up', async () => {
    const { job, detail } = await h.run(`name: retry-out
stages: [{name: s, tasks: [{name: t, retries: {count: 1, backoff: 10ms}, shell: {command: "exit 7"}}]}]
`);
    expect(job.status).toBe('failed');
    expect([task(detail, 's/local/t').attempt, task(detail, 's/local/t').exitCode]).toEqual([2, 7]);
  });

  it('kills a task that runs past its timeout', async () => {
    const { job, detail } = await h.run(`name: timeout
stages: [{name: s, tasks: [{name: t, timeout: 300ms, shell: {command: "sleep 1000"}}]}]
`);
    expect(job.status).toBe('failed');
    expect(task(detail, 's/local/t').text).toMatch(/timed out after/);
  });

  it('stops a running job: tasks stopped or skipped, no process left', async () => {
    const marker = randomUUID();
    const ready = nextEvent(h.bus, (e) => e.type === 'task.status' && e.to === 'ready');
    const running = nextEvent(
      h.bus,
      (e) => e.type === 'task.status' && e.stage === 'work' && e.to === 'running',
    );
    const job = await h.submit(`name: stop-me
pipelines: [{stages: [svc]}, {stages: [work]}, {stages: [never]}]
stages:
  - name: svc
    type: longRunning
    tasks: [{name: server, longRunning: true, env: {MARKER: "${marker}"}, shell: {command: "setsid sleep 1000 & touch up; exec sleep 1000"}, ready: {tasks: [{shell: {command: "test -f up"}}]}}]
  - name: work
    tasks: [{name: sleeper, env: {MARKER: "${marker}"}, shell: {command: "sleep 1000"}}]
  - name: never
    tasks: [{name: t, shell: {command: "true"}}]
`);
    await ready;
    await running;
    // 'running' is recorded when the task is dispatched; its processes appear right after.
    await until(() => pidsWithEnv('MARKER', marker).length >= 3);
    await h.coordinator.requestStop(job.id, 'test');
    const { job: final, detail } = await h.finish(job.id);
    expect(final.status).toBe('stopped');
    expect(final.reason).toBe('stopped: test');
    expect(detail.tasks.map((t) => [t.stage, t.status])).toEqual([
      ['svc', 'stopped'],
      ['work', 'stopped'],
      ['never', 'skipped'],
    ]);
    expect(pidsWithEnv('MARKER', marker)).toEqual([]); // the setsid daemon too
    await expect(h.coordinator.requestStop(job.id, 'again')).rejects.toThrow(/already stopped/);
  });
});

describe('templates and environment', () => {
  it("fills in node addresses and the job's facts", async () => {
    const { job, detail } = await h.run(`name: tmpl
nodeAssignments: [{name: srv, role: database}, {name: cli, role: loader}]
stages:
  - name: s
    selectors: [{name: cli}]
    tasks:
      - name: t
        env: [{k: TARGET, v: "{{.Nodes.srv.Ip}}"}]
        exec: {command: sh, args: ["-c", "echo $TARGET $JOBHUB_NODE_SRV_IP $JOBHUB_JOB_ID $JOBHUB_NODE $JOBHUB_NODE_ROLE", "{{.Job.Id}}"]}
`);
    expect(job.status).toBe('succeeded');
    const lines = await h.store.readLogs({ jobId: job.id, taskId: task(detail, 's/cli/t').id });
    expect(lines.map((l) => l.text)).toEqual([`127.0.0.1 127.0.0.1 ${job.id} cli loader`]);
  });
});
