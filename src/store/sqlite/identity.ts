/** Users, orgs, memberships and org secrets (see migration 4). */
import type { Membership, OrgRecord, OrgRole, UserRecord } from '../store.js';
import type { StatementCache } from './connection.js';

interface UserRow {
  id: string;
  name: string;
  server_admin: number;
  created_at: number;
}
interface OrgRow {
  id: string;
  name: string;
  created_at: number;
}
interface MemberRow {
  org_id: string;
  org_name: string;
  user_id: string;
  user_name: string;
  role: string;
}

const user = (r: UserRow): UserRecord => ({
  id: r.id,
  name: r.name,
  serverAdmin: r.server_admin !== 0,
  createdAt: r.created_at,
});
const org = (r: OrgRow): OrgRecord => ({ id: r.id, name: r.name, createdAt: r.created_at });
const member = (r: MemberRow): Membership => ({
  orgId: r.org_id,
  orgName: r.org_name,
  userId: r.user_id,
  userName: r.user_name,
  role: r.role as OrgRole,
});

const MEMBERS = `SELECT m.org_id, o.name AS org_name, m.user_id, u.name AS user_name, m.role
FROM memberships m JOIN orgs o ON o.id = m.org_id JOIN users u ON u.id = m.user_id`;

export class IdentityStatements {
  constructor(private readonly st: StatementCache) {}

  createUser(u: UserRecord): UserRecord {
    this.st
      .get<[string, string, number, number]>(
        'INSERT INTO users (id, name, server_admin, created_at) VALUES (?, ?, ?, ?)',
      )
      .run(u.id, u.name, u.serverAdmin ? 1 : 0, u.createdAt);
    return u;
  }

  getUser(idOrName: string): UserRecord | undefined {
    const row = this.st
      .get<[string, string], UserRow>(
        'SELECT * FROM users WHERE id = ? UNION ALL SELECT * FROM users WHERE name = ? LIMIT 1',
      )
      .get(idOrName, idOrName);
    return row ? user(row) : undefined;
  }

  listUsers(): UserRecord[] {
    return this.st.get<[], UserRow>('SELECT * FROM users ORDER BY name').all().map(user);
  }

  createOrg(o: OrgRecord): OrgRecord {
    this.st
      .get<[string, string, number]>('INSERT INTO orgs (id, name, created_at) VALUES (?, ?, ?)')
      .run(o.id, o.name, o.createdAt);
    return o;
  }

  getOrg(idOrName: string): OrgRecord | undefined {
    const row = this.st
      .get<[string, string], OrgRow>(
        'SELECT * FROM orgs WHERE id = ? UNION ALL SELECT * FROM orgs WHERE name = ? LIMIT 1',
      )
      .get(idOrName, idOrName);
    return row ? org(row) : undefined;
  }

  listOrgs(): OrgRecord[] {
    return this.st.get<[], OrgRow>('SELECT * FROM orgs ORDER BY name').all().map(org);
  }

  setMembership(orgId: string, userId: string, role: OrgRole | null): void {
    if (role === null) {
      this.st
        .get<[string, string]>('DELETE FROM memberships WHERE org_id = ? AND user_id = ?')
        .run(orgId, userId);
      return;
    }
    this.st
      .get<[string, string, string]>(
        'INSERT INTO memberships (org_id, user_id, role) VALUES (?, ?, ?) ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role',
      )
      .run(orgId, userId, role);
  }

  memberships(of: { userId: string } | { orgId: string }): Membership[] {
    if ('userId' in of) {
      return this.st
        .get<[string], MemberRow>(`${MEMBERS} WHERE m.user_id = ? ORDER BY o.name`)
        .all(of.userId)
        .map(member);
    }
    return this.st
      .get<[string], MemberRow>(`${MEMBERS} WHERE m.org_id = ? ORDER BY u.name`)
      .all(of.orgId)
      .map(member);
  }

  putSecret(orgId: string, name: string, ciphertext: string, now: number): void {
    this.st
      .get<[string, string, string, number, number]>(
        `INSERT INTO secrets (org_id, name, ciphertext, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (org_id, name) DO UPDATE SET ciphertext = excluded.ciphertext, updated_at = excluded.updated_at`,
      )
      .run(orgId, name, ciphertext, now, now);
  }

  secretNames(orgId: string): string[] {
    return this.st
      .get<[string], string>('SELECT name FROM secrets WHERE org_id = ? ORDER BY name')
      .pluck()
      .all(orgId);
  }

  secrets(orgId: string, names: string[]): Map<string, string> {
    const rows = this.st
      .get<[string, string], { name: string; ciphertext: string }>(
        'SELECT name, ciphertext FROM secrets WHERE org_id = ? AND name IN (SELECT value FROM json_each(?))',
      )
      .all(orgId, JSON.stringify(names));
    return new Map(rows.map((r) => [r.name, r.ciphertext]));
  }

  deleteSecret(orgId: string, name: string): boolean {
    return (
      this.st.get<[string, string]>('DELETE FROM secrets WHERE org_id = ? AND name = ?').run(orgId, name)
        .changes > 0
    );
  }
}
