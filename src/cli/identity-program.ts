/**
 * The CLI's identity commands: `whoami`, `token`, `user`, `org`, `member`, `secret`. Their code is
 * loaded only when one of them runs.
 */
import type { Command } from 'commander';
import type { JsonFlag, TokenCreateFlags } from './commands/identity.js';
import type { CliIO } from './io.js';
import type { RemoteFlags } from './remote.js';
import { type Act, withRemote } from './remote-options.js';

const load = () => import('./commands/identity.js');

export function registerIdentityCommands(program: Command, io: CliIO, act: Act): void {
  const json = (c: Command) => withRemote(c).option('--json', 'print JSON');

  json(program.command('whoami').description('show who the token is: user, orgs and roles, scope')).action(
    act(async (flags: JsonFlag) => (await load()).whoamiCommand(flags, io)),
  );

  const token = program
    .command('token')
    .description('API tokens: make, list and revoke them (a token is shown once, stored only as a hash)');
  json(
    token
      .command('create')
      .description('make a token and print it once (alone on stdout)')
      .argument('<name>', 'what the token is for, e.g. "ci" or "portal"')
      .option('--scope <scope>', 'full, read (read only) or submit (submit and read) (default full)')
      .option('--expires <duration>', 'it stops working after this long, e.g. 30d, 12h (default: never)')
      .option('--user <user>', 'server admins: make it for this user')
      .option('--agent', 'server admins: an agent token (it can only connect agents)')
      .option('--act-for', 'server admins: it may name another user as submitter (a portal)'),
  ).action(
    act(async (name: string, flags: TokenCreateFlags) => (await load()).tokenCreateCommand(name, flags, io)),
  );
  json(
    token
      .command('list')
      .description('list your tokens (never their values)')
      .option('--all', "server admins: every user's tokens and the agent tokens"),
  ).action(act(async (flags: JsonFlag & { all?: boolean }) => (await load()).tokenListCommand(flags, io)));
  json(
    token
      .command('revoke')
      .description('revoke a token: it stops working at once, and agents using it are disconnected')
      .argument('<id>', 'the token id (from token list)'),
  ).action(act(async (id: string, flags: JsonFlag) => (await load()).tokenRevokeCommand(id, flags, io)));

  const user = program.command('user').description('users (server admins)');
  json(
    user
      .command('create')
      .description('make a user')
      .argument('<name>', 'user name')
      .option('--server-admin', 'may do everything on this server'),
  ).action(
    act(async (name: string, flags: JsonFlag & { serverAdmin?: boolean }) =>
      (await load()).userCreateCommand(name, flags, io),
    ),
  );
  json(user.command('list').description('list users')).action(
    act(async (flags: JsonFlag) => (await load()).userListCommand(flags, io)),
  );

  const org = program.command('org').description('orgs: groups of users that own jobs and secrets');
  json(
    org.command('create').description('make an org (server admins)').argument('<name>', 'org name'),
  ).action(act(async (name: string, flags: JsonFlag) => (await load()).orgCreateCommand(name, flags, io)));
  json(org.command('list').description('list your orgs (every org for server admins)')).action(
    act(async (flags: JsonFlag) => (await load()).orgListCommand(flags, io)),
  );

  const member = program
    .command('member')
    .description("an org's members and their roles: admin, member (submit, stop, retry), viewer (read)");
  json(member.command('list').description("list an org's members").argument('<org>', 'org name')).action(
    act(async (o: string, flags: JsonFlag) => (await load()).memberListCommand(o, flags, io)),
  );
  json(
    member
      .command('set')
      .description("add a user to an org, or change their role (the org's admins)")
      .argument('<org>', 'org name')
      .argument('<user>', 'user name')
      .argument('<role>', 'admin, member or viewer'),
  ).action(
    act(async (o: string, u: string, role: string, flags: JsonFlag) =>
      (await load()).memberSetCommand(o, u, role, flags, io),
    ),
  );
  json(
    member
      .command('remove')
      .description("remove a user from an org (the org's admins)")
      .argument('<org>', 'org name')
      .argument('<user>', 'user name'),
  ).action(
    act(async (o: string, u: string, flags: JsonFlag) => (await load()).memberRemoveCommand(o, u, flags, io)),
  );

  const secret = program
    .command('secret')
    .description("an org's secrets: used in env values as {{.Secrets.NAME}}, masked as *** in logs");
  withRemote(
    secret
      .command('set')
      .description("set a secret (the org's admins); the value comes from stdin, never the command line")
      .argument('<org>', 'org name')
      .argument('<name>', 'secret name, e.g. API_KEY')
      .option('--from-file <file>', 'read the value from this file instead of stdin'),
  ).action(
    act(async (o: string, n: string, flags: RemoteFlags & { fromFile?: string }) =>
      (await load()).secretSetCommand(o, n, flags, io),
    ),
  );
  json(secret.command('list').description("list an org's secret names").argument('<org>', 'org name')).action(
    act(async (o: string, flags: JsonFlag) => (await load()).secretListCommand(o, flags, io)),
  );
  withRemote(
    secret
      .command('rm')
      .description("delete a secret (the org's admins)")
      .argument('<org>', 'org name')
      .argument('<name>', 'secret name'),
  ).action(
    act(async (o: string, n: string, flags: RemoteFlags) =>
      (await load()).secretRemoveCommand(o, n, flags, io),
    ),
  );
}
