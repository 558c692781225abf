/**
 * The identity commands against a real server process: an admin sets up a user, an org, a
 * membership, a secret and tokens with the CLI; the new user's token works and shows who it is; a
 * read-only token cannot submit; a revoked token stops working; secret values never come back.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type ServerProc, startServer } from '../helpers/cluster.js';
import { tempDir } from '../helpers/embedded.js';

let server: ServerProc;
let dir: string;

beforeAll(async () => {
  dir = tempDir('jobhub-cli-identity-');
  server = await startServer();
});
afterAll(async () => {
  await server?.kill('SIGKILL');
});

const cli = (args: string[], opts: { token?: string; input?: string } = {}) =>
  runCli(server.url, args, { cwd: dir, ...opts });

function ok(args: string[], opts: { token?: string; input?: string } = {}): string {
  const r = cli(args, opts);
  expect(r.code, `jobhub ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

describe('jobhub user, org, member, secret, token, whoami', () => {
  it('sets up a user in an org with a token of their own, which then works as them', () => {
    expect(ok(['whoami'])).toMatch(/admin/);
    ok(['user', 'create', 'rosa']);
    expect(ok(['user', 'list'])).toMatch(/rosa/);
    ok(['org', 'create', 'physics']);
    ok(['member', 'set', 'physics', 'rosa', 'member']);
    expect(ok(['member', 'list', 'physics'])).toMatch(/rosa\s+member/);
    ok(['secret', 'set', 'physics', 'DB_PASS'], { input: 'hunter2-value\n' });
    const secretFile = path.join(dir, 'token.txt');
    writeFileSync(secretFile, 'from-a-file');
    ok(['secret', 'set', 'physics', 'OTHER', '--from-file', secretFile]);
    const secrets = ok(['secret', 'list', 'physics']);
    expect(secrets).toMatch(/DB_PASS/);
    expect(secrets).toMatch(/OTHER/);
    expect(secrets).not.toMatch(/hunter2|from-a-file/);

    const made = JSON.parse(ok(['token', 'create', 'rosa-laptop', '--user', 'rosa', '--json'])) as {
      token: string;
      record: { id: string };
    };
    expect(made.token.length).toBeGreaterThan(20);
    const who = JSON.parse(ok(['whoami', '--json'], { token: made.token })) as {
      user: { name: string };
      orgs: Array<{ name: string; role: string }>;
    };
    expect(who.user.name).toBe('rosa');
    expect(who.orgs).toEqual([expect.objectContaining({ name: 'physics', role: 'member' })]);
    // A member submits for the org; the job is the org's.
    writeFileSync(
      path.join(dir, 'job.yaml'),
      'name: org-job\nowner: {type: org, name: physics}\nstages:\n  - name: s\n    tasks: [{shell: {command: "true"}}]\n',
    );
    expect(ok(['submit', 'job.yaml'], { token: made.token })).toMatch(/job \d+/);
    expect(ok(['jobs'], { token: made.token })).toMatch(/org-job/);

    // The token list shows it without its value; revoking it ends it.
    const list = ok(['token', 'list', '--all']);
    expect(list).toMatch(/rosa-laptop/);
    expect(list).not.toContain(made.token);
    ok(['token', 'revoke', made.record.id]);
    const after = cli(['whoami'], { token: made.token });
    expect(after.code).not.toBe(0);
    expect(after.stderr).toMatch(/token/i);
  });

  it('a read-only token reads but cannot submit, and says so', () => {
    ok(['user', 'create', 'ivo']);
    const made = JSON.parse(
      ok(['token', 'create', 'ivo-read', '--user', 'ivo', '--scope', 'read', '--expires', '30d', '--json']),
    ) as { token: string; record: { expiresAt: string | null } };
    expect(made.record.expiresAt).not.toBeNull();
    expect(cli(['jobs'], { token: made.token }).code).toBe(0);
    const submit = cli(['submit', 'job.yaml'], { token: made.token });
    expect(submit.code).not.toBe(0);
    expect(submit.stderr).toMatch(/scope \(read\)/);
  });

  it('removes members and secrets; a non-admin cannot make users', () => {
    ok(['secret', 'rm', 'physics', 'OTHER']);
    expect(ok(['secret', 'list', 'physics'])).not.toMatch(/OTHER/);
    ok(['member', 'remove', 'physics', 'rosa']);
    expect(ok(['member', 'list', 'physics'])).not.toMatch(/rosa/);
    const ivo = JSON.parse(ok(['token', 'create', 'ivo-full', '--user', 'ivo', '--json'])) as {
      token: string;
    };
    const refused = cli(['user', 'create', 'mallory'], { token: ivo.token });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/only a server admin/);
  });
});
