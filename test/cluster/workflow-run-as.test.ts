/**
 * A workflow and the run-as identity on a real server process and agent: a spec whose stage uses a
 * pushed template runs through `jobhub submit --wait`; every task sees JOBHUB_SUBMITTER; with
 * `jobhub agent --run-as nobody` (as root) tasks run as nobody, in a working directory nobody may
 * write. Not root: the run-as part is skipped, with a notice.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  api,
  eventually,
  type Proc,
  runCli,
  type ServerProc,
  startAgent,
  startServer,
} from '../helpers/cluster.js';
import { tempDir } from '../helpers/embedded.js';

const isRoot = process.getuid?.() === 0;
let server: ServerProc;
let agent: Proc;
let dir: string;

beforeAll(async () => {
  dir = tempDir('jobhub-cli-wf-');
  server = await startServer();
  const dataDir = tempDir('jobhub-agent-runas-');
  // nobody must be able to enter the agent's folder to reach its working directories.
  chmodSync(dataDir, 0o711);
  if (!isRoot) console.log('not root: --run-as is not tested here (it needs root to switch users)');
  agent = startAgent({
    server: server.url,
    role: 'any',
    dataDir,
    args: isRoot ? ['--run-as', 'nobody'] : [],
  });
  await eventually(async () => {
    const r = await api<{ results: Array<{ connected: boolean }> }>(server.url, 'GET', '/api/v1/nodes');
    return r.results.some((n) => n.connected) ? true : undefined;
  });
});
afterAll(async () => {
  await agent?.kill('SIGKILL');
  await server?.kill('SIGKILL');
});

const cli = (args: string[]) => runCli(server.url, args, { cwd: dir });

function file(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

const WHO = `name: who
params:
  tag: {required: true}
stages:
  - name: run
    tasks:
      - shell: {command: 'echo "{{.Params.tag}} user=$(id -un) by=$JOBHUB_SUBMITTER home=$HOME"; echo x > mine && stat -c "owner=%U" mine'}
`;

const FLOW = `name: flow
stages:
  - {name: one, use: who, params: {tag: first}}
  - name: after
    needs: [one]
    tasks: [{shell: {command: 'echo "after user=$(id -un) by=$JOBHUB_SUBMITTER"'}}]
`;

describe('workflow and run-as on a cluster', () => {
  it('runs a used template through the server, with the submitter (and the run-as user) in every task', () => {
    expect(cli(['template', 'push', file('who.yaml', WHO)]).stdout.trim()).toBe('template who@1 pushed');
    const run = cli(['submit', file('flow.yaml', FLOW), '--wait']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const id = /job (\d+) submitted/.exec(run.stdout)?.[1] ?? '';
    const logs = cli(['logs', id]).stdout.trim().split('\n');
    const user = isRoot ? 'nobody' : spawnSync('id', ['-un'], { encoding: 'utf8' }).stdout.trim();
    expect(logs).toEqual([
      expect.stringMatching(new RegExp(`^\\[one\\.run/local/task-0\\] first user=${user} by=admin home=`)),
      `[one.run/local/task-0] owner=${user}`,
      `[after/local/task-0] after user=${user} by=admin`,
    ]);
  }, 60_000);

  it('tells the workflow is for a server when run locally', () => {
    const local = cli(['run', file('flow2.yaml', FLOW), '--data', path.join(dir, 'local')]);
    expect(local.code).toBe(2);
    expect(local.stderr).toContain('stage "one": use: who needs templates, which live on a server');
  });
});
