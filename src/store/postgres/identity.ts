/** Users, orgs, memberships and org secrets (see migration 4). */
import type { Membership, OrgRecord, OrgRole, UserRecord } from '../store.js';
import { type Db, query, statement } from './connection.js';

interface UserRow {
  id: string;
  name: string;
  server_admin: boolean;
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
  serverAdmin: r.server_admin,
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

const S = {
  insertUser: statement(
    'users_insert',
    'INSERT INTO users (id, name, server_admin, created_at) VALUES ($1, $2, $3, $4)',
  ),
  getUser: statement(
    'users_get',
    'SELECT * FROM users WHERE id = $1 OR name = $1 ORDER BY (id = $1) DESC LIMIT 1',
  ),
  listUsers: statement('users_list', 'SELECT * FROM users ORDER BY name COLLATE "C"'),
  insertOrg: statement('orgs_insert', 'INSERT INTO orgs (id, name, created_at) VALUES ($1, $2, $3)'),
  getOrg: statement(
    'orgs_get',
    'SELECT * FROM orgs WHERE id = $1 OR name = $1 ORDER BY (id = $1) DESC LIMIT 1',
  ),
  listOrgs: statement('orgs_list', 'SELECT * FROM orgs ORDER BY name COLLATE "C"'),
  removeMember: statement('members_delete', 'DELETE FROM memberships WHERE org_id = $1 AND user_id = $2'),
  setMember: statement(
    'members_set',
    `INSERT INTO memberships (org_id, user_id, role) VALUES ($1, $2, $3)
     ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role`,
  ),
  ofUser: statement('members_of_user', `${MEMBERS} WHERE m.user_id = $1 ORDER BY o.name COLLATE "C"`),
  ofOrg: statement('members_of_org', `${MEMBERS} WHERE m.org_id = $1 ORDER BY u.name COLLATE "C"`),
  putSecret: statement(
    'secrets_put',
    `INSERT INTO secrets (org_id, name, ciphertext, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
     ON CONFLICT (org_id, name) DO UPDATE SET ciphertext = excluded.ciphertext, updated_at = excluded.updated_at`,
  ),
  secretNames: statement(
    'secrets_names',
    'SELECT name FROM secrets WHERE org_id = $1 ORDER BY name COLLATE "C"',
  ),
  secrets: statement(
    'secrets_get',
    'SELECT name, ciphertext FROM secrets WHERE org_id = $1 AND name = ANY($2::text[])',
  ),
  deleteSecret: statement(
    'secrets_delete',
    'DELETE FROM secrets WHERE org_id = $1 AND name = $2 RETURNING name',
  ),
};

export class IdentityStatements {
  async createUser(db: Db, u: UserRecord): Promise<UserRecord> {
    await query(db, S.insertUser, [u.id, u.name, u.serverAdmin, u.createdAt]);
    return u;
  }

  async getUser(db: Db, idOrName: string): Promise<UserRecord | undefined> {
    const [row] = await query<UserRow>(db, S.getUser, [idOrName]);
    return row ? user(row) : undefined;
  }

  async listUsers(db: Db): Promise<UserRecord[]> {
    return (await query<UserRow>(db, S.listUsers)).map(user);
  }

  async createOrg(db: Db, o: OrgRecord): Promise<OrgRecord> {
    await query(db, S.insertOrg, [o.id, o.name, o.createdAt]);
    return o;
  }

  async getOrg(db: Db, idOrName: string): Promise<OrgRecord | undefined> {
    const [row] = await query<OrgRow>(db, S.getOrg, [idOrName]);
    return row ? org(row) : undefined;
  }

  async listOrgs(db: Db): Promise<OrgRecord[]> {
    return (await query<OrgRow>(db, S.listOrgs)).map(org);
  }

  async setMembership(db: Db, orgId: string, userId: string, role: OrgRole | null): Promise<void> {
    if (role === null) await query(db, S.removeMember, [orgId, userId]);
    else await query(db, S.setMember, [orgId, userId, role]);
  }

  async memberships(db: Db, of: { userId: string } | { orgId: string }): Promise<Membership[]> {
    const rows =
      'userId' in of
        ? await query<MemberRow>(db, S.ofUser, [of.userId])
        : await query<MemberRow>(db, S.ofOrg, [of.orgId]);
    return rows.map(member);
  }

  async putSecret(db: Db, orgId: string, name: string, ciphertext: string, now: number): Promise<void> {
    await query(db, S.putSecret, [orgId, name, ciphertext, now]);
  }

  async secretNames(db: Db, orgId: string): Promise<string[]> {
    return (await query<{ name: string }>(db, S.secretNames, [orgId])).map((r) => r.name);
  }

  async secrets(db: Db, orgId: string, names: string[]): Promise<Map<string, string>> {
    const rows = await query<{ name: string; ciphertext: string }>(db, S.secrets, [orgId, names]);
    return new Map(rows.map((r) => [r.name, r.ciphertext]));
  }

  async deleteSecret(db: Db, orgId: string, name: string): Promise<boolean> {
    return (await query(db, S.deleteSecret, [orgId, name])).length > 0;
  }
}
