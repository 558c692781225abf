import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pidsWithEnv, tempDir, until } from '../helpers/embedded.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/jobhub.js');

let dir: string;
/** Every jobhub process a test starts; killed (with its tasks) if a test fails half-way. */
const children = new Set<ChildProcess>();
const markers: string[] = [];
beforeAll(() => {
  dir = tempDir('jobhub-cli-');
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const m of markers) for (const pid of pidsWithEnv('TEST_MARKER', m)) process.kill(pid, 'SIGKILL');
});

function spawnJobhub(args: string[], marker: string): ChildProcess {
  markers.push(marker);
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: dir,
    env: { ...process.env, NO_COLOR: '1', TEST_MARKER: marker },
  });
  children.add(child);
  return child;
}

function jobhub(args: string[], env: Record<string, string> = {}, cwd = dir) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', ...env },
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A read command against one data folder. */
function jobhubIn(args: string[], data: string) {
  return jobhub([...args, '--data', data]);
}

function file(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

describe('jobhub validate, schema, plan', () => {
  it('validate: exit 0 for a valid spec, 2 with every located problem otherwise', () => {
    expect(jobhub(['validate', path.join(ROOT, 'examples/benchmark.yaml')]).code).toBe(0);
    const bad = file(
      'ten.yaml',
      `name: bad name
owner: {type: robot}
nodeAssignments: [{name: db, role: database}, {name: db}]
pipelines: [{stages: [start]}, {stages: [load, ghost]}, {stages: [stop]}]
stages:
  - name: start
    type: longRunning
    tasks:
      - {name: server, longRunning: true, shell: {command: x}, ready: {tcp: "localhost"}}
  - name: load
    selectors: [{name: dbb}]
    tasks:
      - {driver: exec, exec: {command: "x {{.Nodes.nope.Ip}}"}, timeout: forever}
      - {shell: {command: y}, evn: {A: b}}
  - name: stop
    type: stopper
    tasks: [{stopper: {stage: start, task: sever}}]
`,
    );
    const r = jobhub(['validate', bad]);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(11);
    for (const l of lines.slice(0, 10)) expect(l).toMatch(new RegExp(`^${bad}:\\d+:\\d+: \\S+: .+`));
    expect(lines[10]).toBe(`10 problems in ${bad}`);
    expect(r.stdout).toBe('');
  });

  it('run refuses an invalid spec with exit 2 and starts nothing', () => {
    const bad = file(
      'bad.yaml',
      'name: x\nstages: [{name: s, tasks: [{shel: {command: "touch started"}}]}]\n',
    );
    const r = jobhub(['run', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      `${bad}:2:29: stages[0].tasks[0].shel: unknown field "shel" (did you mean "shell"?)`,
    );
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/); // no stack trace
  });

  it('schema prints the JSON Schema', () => {
    const r = jobhub(['schema']);
    expect(r.code).toBe(0);
    const schema = JSON.parse(r.stdout) as { title: string; properties: Record<string, unknown> };
    expect(schema.title).toBe('jobhub job spec');
    expect(Object.keys(schema.properties)).toContain('nodeAssignments');
  });

  it('plan prints the plan for local nodes and for a nodes file, and runs nothing', () => {
    const r = jobhub(['plan', path.join(ROOT, 'examples/benchmark.yaml')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('1. pipeline prepare (stages in parallel)');
    expect(r.stdout).toContain('stage load [short] on loader1@127.0.0.1, loader2@127.0.0.1');
    const nodes = file(
      'nodes.yaml',
      `- {name: box1, role: database, ip: 10.1.0.1}
- {name: box2, role: loader, ip: 10.1.0.2}
- {name: box3, role: loader, ip: 10.1.0.3}
`,
    );
    const j = jobhub(['plan', path.join(ROOT, 'examples/benchmark.yaml'), '--nodes', nodes, '--json']);
    expect(j.code).toBe(0);
    const plan = JSON.parse(j.stdout) as {
      pipelines: Array<{ stages: Array<{ name: string; nodes: Array<{ ip: string }> }> }>;
    };
    const load = plan.pipelines.flatMap((p) => p.stages).find((s) => s.name === 'load');
    expect(load?.nodes.map((n) => n.ip)).toEqual(['10.1.0.2', '10.1.0.3']);
    const few = file('few.yaml', '- {name: box1, role: database}\n');
    const f = jobhub(['plan', path.join(ROOT, 'examples/benchmark.yaml'), '--nodes', few]);
    expect(f.code).toBe(2);
    expect(f.stderr).toContain('no node for assignment loader1 (role loader)');
  });

  it('usage errors exit 2; --help exits 0', () => {
    expect(jobhub(['frobnicate']).code).toBe(2);
    expect(jobhub(['run']).code).toBe(2);
    const help = jobhub(['run', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Exit codes');
  });
});

describe('jobhub run', () => {
  it('runs the example benchmark; jobs, show, logs and events read it back afterwards', async () => {
    const port = String(await freePort());
    // As the README's quick start does: from the project's root, with the data folder inside it.
    const data = path.join(ROOT, 'test-artifacts', `bench-${randomUUID()}`);
    const r = jobhub(['run', 'examples/benchmark.yaml'], { BENCH_PORT: port, JOBHUB_DATA: data }, ROOT);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/job \d+ pingpong-bench succeeded/);
    const id = /job (\d+) pingpong-bench succeeded/.exec(r.stdout)?.[1] ?? '';

    const read = (args: string[]) => jobhubIn(args, data);
    const jobs = JSON.parse(read(['jobs', '--json']).stdout) as Array<{ id: number; status: string }>;
    expect(jobs.find((j) => String(j.id) === id)?.status).toBe('succeeded');

    const show = JSON.parse(read(['show', id, '--json']).stdout) as {
      tasks: Array<{ stage: string; node: string; status: string }>;
      job: { placement: Array<{ assignment: string; ip: string }> };
    };
    expect(show.tasks.filter((t) => t.stage === 'load').map((t) => [t.node, t.status])).toEqual([
      ['loader1', 'succeeded'],
      ['loader2', 'succeeded'],
    ]);
    expect(show.tasks.find((t) => t.stage === 'start_server')?.status).toBe('stopped');

    const loadLog = read(['logs', id, '--task', 'load/loader1/ping']);
    expect(loadLog.stdout).toMatch(/^2000 requests, 0 failed, \d+ req\/s$/m);
    const report = read(['logs', id, '--task', 'report/count']);
    expect(report.stdout.trim()).toBe('the server answered 4000 requests');
    const all = read(['logs', id]);
    expect(all.stdout).toContain('[start_server/db/server] listening');

    const events = read(['events', id]).stdout;
    expect(events).toMatch(/task start_server\/db\/server ready/);
    expect(events).toMatch(/job \d+ succeeded/);
    expect(read(['show', id]).stdout).toContain('pingpong-bench');
    rmSync(data, { recursive: true, force: true });
  });

  it("exits 1 on a failed job and prints the failing task's last lines", () => {
    const spec = file(
      'fails.yaml',
      'name: fails\nstages: [{name: s, tasks: [{name: t, shell: {command: "echo one; echo two >&2; exit 4"}}]}]\n',
    );
    const r = jobhub(['run', spec]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/job \d+ fails failed in .*: task s\/local\/t failed: exit code 4/);
    expect(r.stdout).toContain('--- s/local/t: last 2 lines of attempt 1 ---\none\ntwo');
  });

  it('--json streams events as JSON lines', () => {
    const r = jobhub(['run', path.join(ROOT, 'examples/hello.yaml'), '--json']);
    expect(r.code).toBe(0);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; to?: string; seq: number });
    expect(events.at(-1)).toMatchObject({ type: 'job.status', to: 'succeeded' });
    expect(events.map((e) => e.seq)).toEqual([...events.map((e) => e.seq)].sort((a, b) => a - b));
  });

  it('Ctrl-C stops the job cleanly, exits 130 and leaves no process', async () => {
    const marker = randomUUID();
    const spec = file(
      'forever.yaml',
      `name: forever
pipelines: [{stages: [svc]}, {stages: [work]}]
stages:
  - name: svc
    type: longRunning
    tasks: [{name: server, longRunning: true, shell: {command: "setsid sleep 1000 & exec sleep 1000"}}]
  - name: work
    tasks: [{name: sleeper, shell: {command: "sleep 1000"}}]
`,
    );
    const child = spawnJobhub(['run', spec, '--stop-grace', '2s'], marker);
    let out = '';
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
    });
    await new Promise<void>((resolve) => {
      const check = () => {
        if (/task work\/local\/sleeper running/.test(out)) resolve();
      };
      child.stdout?.on('data', check);
    });
    // jobhub, the server, its setsid daemon, the sleeper (dispatch is recorded just before the spawn)
    await until(() => pidsWithEnv('TEST_MARKER', marker).length >= 4);
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code).toBe(130);
    expect(out).toMatch(/job \d+ forever stopped/);
    expect(pidsWithEnv('TEST_MARKER', marker)).toEqual([]);
  });

  it('a job whose jobhub run process was killed is ended as failed by the next command, its processes killed', async () => {
    const marker = randomUUID();
    const data = path.join(dir, 'orphan-data');
    const spec = file(
      'orphan.yaml',
      'name: orphan\nstages: [{name: s, tasks: [{name: t, shell: {command: "sleep 1000"}}]}]\n',
    );
    const child = spawnJobhub(['run', spec, '--data', data], marker);
    let out = '';
    await new Promise<void>((resolve) => {
      child.stdout?.on('data', (b: Buffer) => {
        out += b.toString();
        if (/task s\/local\/t running/.test(out)) resolve();
      });
    });
    await until(() => pidsWithEnv('TEST_MARKER', marker).length >= 2);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.on('exit', resolve));
    expect(pidsWithEnv('TEST_MARKER', marker).length).toBeGreaterThanOrEqual(1); // the task outlived its runner

    const r = jobhub(['jobs', '--data', data, '--json']);
    expect(r.stderr).toMatch(/job 1 was left active by a jobhub process that died/);
    const [job] = JSON.parse(r.stdout) as Array<{ status: string; reason: string }>;
    expect(job?.status).toBe('failed');
    expect(job?.reason).toMatch(/the jobhub run process that ran it \(pid \d+\) ended/);
    expect(pidsWithEnv('TEST_MARKER', marker)).toEqual([]);
    const show = JSON.parse(jobhub(['show', '1', '--data', data, '--json']).stdout) as {
      tasks: Array<{ status: string }>;
    };
    expect(show.tasks.map((t) => t.status)).toEqual(['lost']);
  });

  it('jobhub stop stops a job held by a jobhub run in another process', async () => {
    const marker = randomUUID();
    const data = path.join(dir, 'stop-data');
    const spec = file(
      'stoppable.yaml',
      'name: stoppable\nstages: [{name: s, tasks: [{name: t, shell: {command: "sleep 1000"}}]}]\n',
    );
    const child = spawnJobhub(['run', spec, '--data', data, '--stop-grace', '1s'], marker);
    let out = '';
    await new Promise<void>((resolve) => {
      child.stdout?.on('data', (b: Buffer) => {
        out += b.toString();
        if (/task s\/local\/t running/.test(out)) resolve();
      });
    });
    const r = jobhub(['stop', '1', '--data', data]);
    expect(r.stdout).toMatch(/job 1: asked its jobhub run process \(pid \d+\) to stop it/);
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(130);
    expect(JSON.parse(jobhub(['show', '1', '--data', data, '--json']).stdout).job.status).toBe('stopped');
    expect(jobhub(['stop', '1', '--data', data]).code).toBe(2);
    expect(pidsWithEnv('TEST_MARKER', marker)).toEqual([]);
  });
});
