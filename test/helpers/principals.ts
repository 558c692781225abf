/**
 * A server populated with the roles of the permission matrix: two orgs, a user in each role, and
 * tokens that are revoked, expired, read-only, or for agents. Everything is made through the API
 * with the admin token, as an operator would.
 */

export type Role =
  | 'none'
  | 'revoked'
  | 'expired'
  | 'agent'
  | 'viewer'
  | 'member'
  | 'orgAdmin'
  | 'other'
  | 'readScope'
  | 'serverAdmin';

export const ROLES: readonly Role[] = [
  'none',
  'revoked',
  'expired',
  'agent',
  'viewer',
  'member',
  'orgAdmin',
  'other',
  'readScope',
  'serverAdmin',
];

export interface Answer {
  status: number;
  body: unknown;
  text: string;
  headers: Headers;
}

export interface Population {
  /** Token of each role (none: no token). */
  tokens: Record<Role, string | undefined>;
  /** The user behind each user role. */
  users: Partial<Record<Role, string>>;
  orgA: string;
  orgB: string;
  call(role: Role, method: string, path: string, body?: unknown, type?: string): Promise<Answer>;
  /** Every token string made (for scans). */
  allTokens(): string[];
}

export async function populate(base: string, adminToken: string, agentToken: string): Promise<Population> {
  const made: string[] = [adminToken, agentToken];
  const send = async (
    token: string | undefined,
    method: string,
    path: string,
    body?: unknown,
    type?: string,
  ) => {
    const headers: Record<string, string> = {};
    if (token !== undefined) headers['x-api-token'] = token;
    let payload: string | Buffer | undefined;
    if (Buffer.isBuffer(body)) {
      payload = body;
      headers['content-type'] = type ?? 'application/octet-stream';
    } else if (body !== undefined) {
      payload = typeof body === 'string' ? body : JSON.stringify(body);
      headers['content-type'] = type ?? (typeof body === 'string' ? 'application/yaml' : 'application/json');
    }
    const res = await fetch(`${base}${path}`, {
      method,
      headers,
      ...(payload !== undefined ? { body: payload } : {}),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: res.status, body: parsed, text, headers: res.headers };
  };
  const admin = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const a = await send(adminToken, method, path, body);
    if (a.status >= 300) throw new Error(`${method} ${path}: ${a.status} ${a.text}`);
    return a.body as T;
  };
  const token = async (name: string, body: Record<string, unknown>): Promise<string> => {
    const r = await admin<{ token: string }>('POST', '/api/v1/tokens', { name, ...body });
    made.push(r.token);
    return r.token;
  };

  const orgA = 'lab-a';
  const orgB = 'lab-b';
  await admin('POST', '/api/v1/orgs', { name: orgA });
  await admin('POST', '/api/v1/orgs', { name: orgB });
  const users: Partial<Record<Role, string>> = {
    viewer: 'vera',
    member: 'mia',
    orgAdmin: 'ada',
    other: 'otto',
    readScope: 'mia',
    serverAdmin: 'admin',
  };
  for (const name of ['vera', 'mia', 'ada', 'otto']) await admin('POST', '/api/v1/users', { name });
  await admin('PUT', `/api/v1/orgs/${orgA}/members/vera`, { role: 'viewer' });
  await admin('PUT', `/api/v1/orgs/${orgA}/members/mia`, { role: 'member' });
  await admin('PUT', `/api/v1/orgs/${orgA}/members/ada`, { role: 'admin' });
  await admin('PUT', `/api/v1/orgs/${orgB}/members/otto`, { role: 'member' });

  const revoked = await token('soon revoked', { user: 'mia' });
  const listed = await admin<{ results: Array<{ id: string; name: string }> }>(
    'GET',
    '/api/v1/tokens?all=true',
  );
  const revokedId = listed.results.find((t) => t.name === 'soon revoked')?.id;
  if (!revokedId) throw new Error('the token to revoke is not listed');
  await admin('DELETE', `/api/v1/tokens/${revokedId}`);

  const tokens: Record<Role, string | undefined> = {
    none: undefined,
    revoked,
    expired: await token('expired', { user: 'mia', expiresIn: '1ms' }),
    agent: agentToken,
    viewer: await token('vera', { user: 'vera' }),
    member: await token('mia', { user: 'mia' }),
    orgAdmin: await token('ada', { user: 'ada' }),
    other: await token('otto', { user: 'otto' }),
    readScope: await token('mia read-only', { user: 'mia', scope: 'read' }),
    serverAdmin: adminToken,
  };
  return {
    tokens,
    users,
    orgA,
    orgB,
    call: (role, method, path, body, type) => send(tokens[role], method, path, body, type),
    allTokens: () => [...made],
  };
}
