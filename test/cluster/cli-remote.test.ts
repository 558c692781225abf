import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN,
  api,
  eventually,
  type Proc,
  runCli,
  type ServerProc,
  startAgent,
  startServer,
} from '../helpers/cluster.js';
import { tempDir } from '../helpers/embedded.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/jobhub.js');
let server: ServerProc;
let agent: Proc;
let dir: string;

beforeAll(async () => {
  dir = tempDir('jobhub-remote-');
  server = await startServer();
  agent = startAgent({ server: server.url, role: 'any', labels: ['zone=a'] });
  await eventually(async () => {
    const r = await api<{ results: Array<{ connected: boolean }> }>(server.url, 'GET', '/api/v1/nodes');
    return r.results.some((n) => n.connected) ? true : undefined;
  });
});
afterAll(async () => {
  await agent?.kill('SIGKILL');
  await server?.kill('SIGKILL');
});

const cli = (args: string[], env: Record<string, string> = {}) => runCli(server.url, args, { cwd: dir, env });

function file(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('the CLI against a server', () => {
  it('submit --wait follows a job to its end; jobs, show, logs, events read it back', () => {
    const spec = file(
      'ok.yaml',
      'name: remote-ok\nlabels: {kind: demo}\nstages: [{name: s, tasks: [{name: t, shell: {command: "echo one; echo two"}}]}]\n',
    );
    const r = cli(['submit', spec, '--wait']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const id = /job (\d+) submitted/.exec(r.stdout)?.[1] ?? '';
    expect(r.stdout).toMatch(new RegExp(`job ${id} succeeded`));
    expect(r.stdout).toMatch(/task s\/local\/t succeeded/);

    const jobs = JSON.parse(cli(['jobs', '--json', '--label', 'kind=demo']).stdout) as {
      results: Array<{ id: number; status: string }>;
    };
    expect(jobs.results.map((j) => [String(j.id), j.status])).toContainEqual([id, 'succeeded']);
    expect(cli(['jobs']).stdout).toMatch(new RegExp(`^${id}\\s+remote-ok\\s+succeeded`, 'm'));
    expect(cli(['show', id]).stdout).toMatch(/✓ job \d+ remote-ok {2}succeeded/);
    expect(cli(['logs', id]).stdout).toBe('[s/local/t] one\n[s/local/t] two\n');
    expect(cli(['logs', id, '--task', 't']).stdout).toBe('one\ntwo\n');
    expect(cli(['events', id]).stdout).toMatch(/job \d+ succeeded/);
  });

  it('exposes Prometheus metrics: tasks started, dispatch latency, connected agents', async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(Number(/^jobhub_tasks_started_total (\d+)$/m.exec(text)?.[1])).toBeGreaterThan(0);
    expect(Number(/^jobhub_dispatch_latency_seconds_count (\d+)$/m.exec(text)?.[1])).toBeGreaterThan(0);
    expect(text).toMatch(/^jobhub_agents_connected 1$/m);
    expect(text).toMatch(/^jobhub_jobs\{status="succeeded"\} \d+$/m);
  });

  it('exits 1 when a submitted job fails, and 2 for an invalid spec with its located problems', () => {
    const bad = file(
      'bad.yaml',
      'name: remote-bad\nstages: [{name: s, tasks: [{shell: {command: "exit 3"}}]}]\n',
    );
    expect(cli(['submit', bad, '--wait']).code).toBe(1);
    const invalid = file('invalid.yaml', 'name: x\nstages: [{name: s, tasks: [{shel: {command: y}}]}]\n');
    const r = cli(['submit', invalid]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${invalid}:2:29: stages[0].tasks[0].shel: unknown field "shel"`);
  });

  it('logs -f streams a running job; stop stops it; retry makes a new job', async () => {
    const spec = file(
      'long.yaml',
      'name: remote-long\nstages: [{name: s, tasks: [{name: t, shell: {command: "echo started; sleep 1000"}}]}]\n',
    );
    const id = /job (\d+) submitted/.exec(cli(['submit', spec]).stdout)?.[1] ?? '';
    const follow = spawn(process.execPath, [BIN, 'logs', id, '-f'], {
      cwd: dir,
      env: { ...process.env, NO_COLOR: '1', JOBHUB_SERVER: server.url, JOBHUB_TOKEN: ADMIN },
    });
    let out = '';
    await new Promise<void>((resolve) => {
      follow.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        if (out.includes('started')) resolve();
      });
    });
    expect(cli(['stop', id]).code).toBe(0);
    const code = await new Promise<number | null>((resolve) => follow.on('exit', resolve));
    expect(code).toBe(0); // the stream ended with the job
    const show = JSON.parse(cli(['show', id, '--json']).stdout) as { status: string };
    expect(show.status).toBe('stopped');
    expect(cli(['stop', id]).code).toBe(2); // already stopped: a conflict

    const retried = cli(['retry', id]);
    expect(retried.stdout).toMatch(new RegExp(`job \\d+ submitted as a retry of job ${id}`));
    const newId = /job (\d+) submitted/.exec(retried.stdout)?.[1] ?? '';
    const again = JSON.parse(cli(['jobs', '--json']).stdout) as {
      results: Array<{ id: number; retryOf: number | null }>;
    };
    expect(again.results.find((j) => String(j.id) === newId)?.retryOf).toBe(Number(id));
    cli(['stop', newId, '--force']);
  });

  it('nodes lists the agent; drain and --undo change its state', () => {
    const nodes = JSON.parse(cli(['nodes', '--json']).stdout) as Array<{
      id: string;
      state: string;
      labels: Record<string, string>;
    }>;
    expect(nodes).toHaveLength(1);
    expect(nodes[0]?.labels).toEqual({ zone: 'a' });
    const id = nodes[0]?.id ?? '';
    expect(cli(['drain', id]).stdout).toBe(`node ${id} is draining\n`);
    expect(cli(['nodes']).stdout).toMatch(/draining/);
    expect(cli(['drain', id, '--undo']).stdout).toMatch(new RegExp(`node ${id} is (idle|busy)`));
  });

  it('says clearly when the server cannot be reached or the token is wrong', () => {
    const down = cli(['jobs'], { JOBHUB_SERVER: 'http://127.0.0.1:1' });
    expect(down.code).toBe(3);
    expect(down.stderr).toMatch(/cannot reach jobhub server at http:\/\/127\.0\.0\.1:1/);
    const wrong = cli(['jobs'], { JOBHUB_TOKEN: 'nope' });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/jobhub: .*token/i);
  });
});
