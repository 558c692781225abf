/**
 * The template commands against a real server process and agent: `template push|list|show`,
 * `submit --template NAME[@V] --param`, `submit FILE --param`, `jobs --template`, `show`.
 */
import { writeFileSync } from 'node:fs';
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

let server: ServerProc;
let agent: Proc;
let dir: string;

beforeAll(async () => {
  dir = tempDir('jobhub-cli-tpl-');
  server = await startServer();
  agent = startAgent({ server: server.url, role: 'any' });
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

const spec = (word: string) => `name: greet
params:
  who: {type: string, required: true, description: whom to greet}
  loud: {type: boolean, default: false}
stages:
  - name: s
    tasks:
      - {name: t, shell: {command: "echo ${word} {{.Params.who}} $JOBHUB_PARAM_LOUD"}}
`;

function file(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('template commands', () => {
  it('push, list, show; submit by name@version with params; jobs --template; show', () => {
    const f = file('greet.yaml', spec('hello'));
    const first = cli(['template', 'push', f]);
    expect(first.stderr).toBe('');
    expect(first.stdout.trim()).toBe('template greet@1 pushed');
    expect(cli(['template', 'push', f]).stdout.trim()).toBe(
      'template greet@1 unchanged (same content as its newest version)',
    );
    file('greet.yaml', spec('bye'));
    expect(cli(['template', 'push', f]).stdout.trim()).toBe('template greet@2 pushed');

    expect(cli(['template', 'list']).stdout).toMatch(
      /^greet\s+2\s+2\s+user admin\s+who!:string loud:boolean=false/m,
    );
    const versions = cli(['template', 'show', 'greet']).stdout;
    expect(versions).toMatch(/^2\s+[0-9a-f]{12}\s+user admin\s+admin/m);
    expect(versions).toMatch(/^1\s+[0-9a-f]{12}/m);
    const v1 = cli(['template', 'show', 'greet@1']);
    expect(v1.stdout).toContain('echo hello {{.Params.who}}');
    expect(JSON.parse(cli(['template', 'show', 'greet@1', '--json']).stdout)).toMatchObject({ version: 1 });

    const byVersion = cli([
      'submit',
      '--template',
      'greet@1',
      '--param',
      'who=world',
      '--param',
      'loud=yes',
      '--wait',
    ]);
    expect(byVersion.stderr).toBe('');
    expect(byVersion.code).toBe(0);
    const id1 = /job (\d+) submitted/.exec(byVersion.stdout)?.[1] ?? '';
    const newest = cli(['submit', '--template', 'greet', '--param', 'who=moon', '--wait']);
    expect(newest.code).toBe(0);
    const id2 = /job (\d+) submitted/.exec(newest.stdout)?.[1] ?? '';
    expect(cli(['logs', id1]).stdout.trim()).toBe('[s/local/t] hello world true');
    expect(cli(['logs', id2]).stdout.trim()).toBe('[s/local/t] bye moon false');

    // A plain spec with params is no template's job.
    const plain = cli(['submit', f, '--param', 'who=sun', '--wait']);
    expect(plain.code).toBe(0);

    const listed = JSON.parse(cli(['jobs', '--template', 'greet', '--json']).stdout) as {
      results: Array<{ id: number; template: { version: number } }>;
    };
    expect(listed.results.map((j) => [String(j.id), j.template.version])).toEqual([
      [id2, 2],
      [id1, 1],
    ]);
    const shown = cli(['show', id1]).stdout;
    expect(shown).toContain('template greet@1');
    expect(shown).toContain('params who=world loud=true');
  }, 60_000);

  it('exits 2 naming the parameter, before or at the server', () => {
    const f = file('greet2.yaml', spec('hi'));
    const local = cli(['submit', f]);
    expect(local.code).toBe(2);
    expect(local.stderr).toContain('params.who: is required');
    const remote = cli(['submit', '--template', 'greet', '--param', 'who=x', '--param', 'loud=perhaps']);
    expect(remote.code).toBe(2);
    expect(remote.stderr).toContain('params.loud: must be true or false, got "perhaps"');
    const none = cli(['submit', '--template', 'no-such-template']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('template no-such-template not found');
    expect(cli(['submit']).code).toBe(2);
  });
});
