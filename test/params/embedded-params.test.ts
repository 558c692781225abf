/**
 * Parameters in a real embedded run: values reach commands, args, env values and working
 * directories through {{.Params.x}}, every task gets JOBHUB_PARAM_<NAME>, selectors are bound before
 * placement, and the job keeps its values. Also `jobhub run --param` as a process.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadSpec } from '../../src/spec/index.js';
import { applyParams } from '../../src/spec/params.js';
import { type Harness, harness, tempDir } from '../helpers/embedded.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/jobhub.js');

let h: Harness;
beforeEach(async () => {
  h = await harness({ stopGraceMs: 1000 });
});
afterEach(async () => {
  await h.dispose();
});

const SPEC = `name: params
params:
  greeting: {type: string, required: true}
  count: {type: number, default: 2}
  mode: {type: enum, values: [fast, slow], default: fast}
  dry: {type: boolean}
nodeAssignments:
  - name: a
stages:
  - name: s
    tasks:
      - driver: exec
        workingDir: "out-{{.Params.mode}}"
        exec: {command: sh, args: ["-c", "echo \\"$1\\" > argv.txt", "sh", "{{.Params.greeting}}"]}
      - workingDir: "out-{{.Params.mode}}"
        shell: {command: "echo '{{.Params.greeting}} x{{.Params.count}}' > cmd.txt; env | grep -E '^(JOBHUB_PARAM_|FROM_ENV)' | sort > env.txt"}
        env: {FROM_ENV: "{{.Params.mode}}/{{.Params.count}}"}
`;

describe('params (embedded)', () => {
  it('fills in commands, args, env and workingDir, and sets JOBHUB_PARAM_* in every task', async () => {
    const { spec, params } = applyParams(loadSpec(SPEC).spec, { greeting: 'hello; world', mode: 'slow' });
    const job = await h.coordinator.submit({ spec, rawSpec: SPEC, params });
    const { job: done } = await h.finish(job.id);
    expect(done.status).toBe('succeeded');
    expect(done.params).toEqual({ greeting: 'hello; world', count: 2, mode: 'slow' });
    // Where a node keeps its job directories is the local agent's business: find the folder.
    const found = findIn(h.dir, 'out-slow');
    expect(found('argv.txt')).toBe('hello; world\n');
    expect(found('cmd.txt')).toBe('hello; world x2\n');
    expect(found('env.txt').split('\n').filter(Boolean)).toEqual([
      'FROM_ENV=slow/2',
      'JOBHUB_PARAM_COUNT=2',
      'JOBHUB_PARAM_GREETING=hello; world',
      'JOBHUB_PARAM_MODE=slow',
    ]);
    expect((await h.store.getJob(job.id))?.params).toEqual({
      greeting: 'hello; world',
      count: 2,
      mode: 'slow',
    });
  });

  it('`jobhub run --param` runs with the values, and a bad value exits 2 naming the parameter', () => {
    const dir = tempDir('jobhub-params-cli-');
    const file = path.join(dir, 'job.yaml');
    writeFileSync(file, SPEC);
    const run = (args: string[]) =>
      spawnSync(process.execPath, [BIN, 'run', file, '--data', path.join(dir, 'data'), ...args], {
        cwd: dir,
        encoding: 'utf8',
        env: { ...process.env, NO_COLOR: '1' },
        timeout: 60_000,
      });
    const missing = run([]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('params.greeting: is required');
    const wrong = run(['--param', 'greeting=hi', '--param', 'count=lots', '--param', 'mode=medium']);
    expect(wrong.status).toBe(2);
    expect(wrong.stderr).toContain('params.count: must be a number, got "lots"');
    expect(wrong.stderr).toContain('params.mode: must be one of fast, slow, got "medium"');
    const unknown = run(['--param', 'greeting=hi', '--param', 'colour=red']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('params.colour: unknown parameter');
    const ok = run(['--param', 'greeting=hi there', '--param', 'count=7', '--json']);
    expect(ok.status).toBe(0);
    const show = spawnSync(process.execPath, [BIN, 'show', '1', '--data', path.join(dir, 'data')], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1' },
    });
    expect(show.stdout).toContain('params greeting=hi there count=7 mode=fast');
  });
});

/** A reader of files in the one directory named `name` under `root`. */
function findIn(root: string, name: string): (f: string) => string {
  const found = spawnSync('find', [root, '-type', 'd', '-name', name], { encoding: 'utf8' }).stdout;
  const dirs = found.split('\n').filter(Boolean);
  expect(dirs).toHaveLength(1);
  return (f) => readFileSync(path.join(dirs[0] ?? '', f), 'utf8');
}
