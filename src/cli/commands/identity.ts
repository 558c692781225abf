/**
 * `jobhub whoami`, `token`, `user`, `org`, `member`, `secret`: who may do what on a server. A new
 * token is printed once, alone on stdout (so `$(jobhub token create ...)` captures it), with what it
 * is on stderr. A secret's value is read from stdin or a file, never from the command line (which
 * shell history and `ps` would keep).
 */
import { readFileSync } from 'node:fs';
import { JobhubError } from '../../core/errors.js';
import type { MemberView, TokenView } from '../../server/identity-schemas.js';
import { paint, table } from '../format.js';
import { IdentityApi } from '../identity-client.js';
import { type CliIO, println, styleOf } from '../io.js';
import { type RemoteFlags, requireRemote } from '../remote.js';

export interface JsonFlag extends RemoteFlags {
  json?: boolean;
}

export interface TokenCreateFlags extends JsonFlag {
  scope?: string;
  expires?: string;
  user?: string;
  agent?: boolean;
  actFor?: boolean;
}

const api = (flags: RemoteFlags, io: CliIO, what: string) => new IdentityApi(requireRemote(flags, io, what));

const when = (iso: string | null) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-');

function printJson(io: CliIO, value: unknown): number {
  println(io.stdout, JSON.stringify(value, null, 2));
  return 0;
}

export async function whoamiCommand(flags: JsonFlag, io: CliIO): Promise<number> {
  const me = await api(flags, io, 'whoami').whoami();
  if (flags.json) return printJson(io, me);
  const who = me.user ? `user ${me.user.name}${me.user.serverAdmin ? ' (server admin)' : ''}` : 'an agent';
  println(io.stdout, `${who}, with token "${me.token.name}" (scope ${me.token.scope})`);
  if (me.token.expiresAt) println(io.stdout, `  the token expires ${when(me.token.expiresAt)}`);
  for (const o of me.orgs) println(io.stdout, `  ${o.role} of org ${o.name}`);
  return 0;
}

const SCOPES = ['full', 'read', 'submit'] as const;

export async function tokenCreateCommand(name: string, flags: TokenCreateFlags, io: CliIO): Promise<number> {
  const scope = flags.scope ?? 'full';
  if (!SCOPES.some((s) => s === scope))
    throw new JobhubError('bad_request', `--scope "${scope}": use one of ${SCOPES.join(', ')}`);
  const made = await api(flags, io, 'token create').createToken({
    name,
    scope: scope as (typeof SCOPES)[number],
    ...(flags.expires ? { expiresIn: flags.expires } : {}),
    ...(flags.user ? { user: flags.user } : {}),
    ...(flags.agent ? { kind: 'agent' as const } : {}),
    ...(flags.actFor ? { actFor: true } : {}),
  });
  if (flags.json) return printJson(io, made);
  const r = made.record;
  println(
    io.stderr,
    `made ${r.kind} token "${r.name}" (id ${r.id}${r.user ? `, user ${r.user}` : ''}, scope ${r.scope}` +
      `${r.expiresAt ? `, expires ${when(r.expiresAt)}` : ''}); it is shown this once:`,
  );
  println(io.stdout, made.token);
  return 0;
}

function tokenRows(tokens: TokenView[]): string[][] {
  return tokens.map((t) => [
    t.id,
    t.kind,
    t.name,
    t.user ?? '-',
    t.scope + (t.actFor ? '+act-for' : ''),
    when(t.createdAt),
    when(t.expiresAt),
    t.revokedAt ? `revoked ${when(t.revokedAt)}` : 'active',
  ]);
}

export async function tokenListCommand(flags: JsonFlag & { all?: boolean }, io: CliIO): Promise<number> {
  const tokens = await api(flags, io, 'token list').listTokens(flags.all === true);
  if (flags.json) return printJson(io, tokens);
  println(
    io.stdout,
    table(['ID', 'KIND', 'NAME', 'USER', 'SCOPE', 'CREATED', 'EXPIRES', 'STATE'], tokenRows(tokens)),
  );
  return 0;
}

export async function tokenRevokeCommand(id: string, flags: JsonFlag, io: CliIO): Promise<number> {
  const t = await api(flags, io, 'token revoke').revokeToken(id);
  if (flags.json) return printJson(io, t);
  println(io.stdout, `revoked ${t.kind} token "${t.name}" (${t.id})`);
  return 0;
}

export async function userCreateCommand(
  name: string,
  flags: JsonFlag & { serverAdmin?: boolean },
  io: CliIO,
): Promise<number> {
  const u = await api(flags, io, 'user create').createUser(name, flags.serverAdmin === true);
  if (flags.json) return printJson(io, u);
  println(io.stdout, `made user ${u.name}${u.serverAdmin ? ' (server admin)' : ''}`);
  println(io.stderr, `give them a token: jobhub token create <name> --user ${u.name}`);
  return 0;
}

export async function userListCommand(flags: JsonFlag, io: CliIO): Promise<number> {
  const users = await api(flags, io, 'user list').listUsers();
  if (flags.json) return printJson(io, users);
  const rows = users.map((u) => [u.name, u.serverAdmin ? 'server admin' : '', when(u.createdAt), u.id]);
  println(io.stdout, table(['NAME', 'ROLE', 'CREATED', 'ID'], rows));
  return 0;
}

export async function orgCreateCommand(name: string, flags: JsonFlag, io: CliIO): Promise<number> {
  const o = await api(flags, io, 'org create').createOrg(name);
  if (flags.json) return printJson(io, o);
  println(io.stdout, `made org ${o.name}`);
  return 0;
}

export async function orgListCommand(flags: JsonFlag, io: CliIO): Promise<number> {
  const orgs = await api(flags, io, 'org list').listOrgs();
  if (flags.json) return printJson(io, orgs);
  println(
    io.stdout,
    table(
      ['NAME', 'CREATED', 'ID'],
      orgs.map((o) => [o.name, when(o.createdAt), o.id]),
    ),
  );
  return 0;
}

const ROLES = ['admin', 'member', 'viewer'] as const;

export async function memberSetCommand(
  org: string,
  user: string,
  role: string,
  flags: JsonFlag,
  io: CliIO,
): Promise<number> {
  if (!ROLES.some((r) => r === role))
    throw new JobhubError('bad_request', `role "${role}": use one of ${ROLES.join(', ')}`);
  const m = await api(flags, io, 'member set').setMember(org, user, role as MemberView['role']);
  if (flags.json) return printJson(io, m);
  println(io.stdout, `${m.user} is now ${m.role} of org ${org}`);
  return 0;
}

export async function memberRemoveCommand(org: string, user: string, flags: JsonFlag, io: CliIO) {
  await api(flags, io, 'member remove').removeMember(org, user);
  if (!flags.json) println(io.stdout, `${user} is no longer in org ${org}`);
  return 0;
}

export async function memberListCommand(org: string, flags: JsonFlag, io: CliIO): Promise<number> {
  const members = await api(flags, io, 'member list').listMembers(org);
  if (flags.json) return printJson(io, members);
  println(
    io.stdout,
    table(
      ['USER', 'ROLE'],
      members.map((m) => [m.user, m.role]),
    ),
  );
  return 0;
}

/** The value of a secret: from --from-file, else stdin (a trailing newline is dropped). */
function secretValue(flags: { fromFile?: string }, stdin: () => string): string {
  const raw = flags.fromFile ? readFileSync(flags.fromFile, 'utf8') : stdin();
  const value = raw.replace(/\r?\n$/, '');
  if (value === '')
    throw new JobhubError('bad_request', 'the secret is empty: give its value on stdin or with --from-file');
  return value;
}

export async function secretSetCommand(
  org: string,
  name: string,
  flags: RemoteFlags & { fromFile?: string },
  io: CliIO,
  stdin: () => string = () => readFileSync(0, 'utf8'),
): Promise<number> {
  const value = secretValue(flags, stdin);
  await api(flags, io, 'secret set').putSecret(org, name, value);
  println(io.stdout, `set secret ${name} of org ${org}; use it in env values as {{.Secrets.${name}}}`);
  return 0;
}

export async function secretListCommand(org: string, flags: JsonFlag, io: CliIO): Promise<number> {
  const names = await api(flags, io, 'secret list').listSecrets(org);
  if (flags.json) return printJson(io, names);
  if (names.length === 0) println(io.stdout, paint(styleOf(io), 'gray', `org ${org} has no secrets`));
  for (const n of names) println(io.stdout, n);
  return 0;
}

export async function secretRemoveCommand(org: string, name: string, flags: RemoteFlags, io: CliIO) {
  await api(flags, io, 'secret rm').deleteSecret(org, name);
  println(io.stdout, `deleted secret ${name} of org ${org}`);
  return 0;
}
