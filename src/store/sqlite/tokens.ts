/** Tokens: only their SHA-256 hashes are stored; the token itself is shown once, when made. */
import type { NewToken, TokenRecord } from '../store.js';
import type { StatementCache } from './connection.js';

interface TokenRow {
  id: string;
  kind: string;
  name: string;
  user_id: string | null;
  scope: string;
  act_for: number;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
}

const COLUMNS = 'id, kind, name, user_id, scope, act_for, created_at, expires_at, revoked_at';
const INSERT = `INSERT INTO tokens (id, kind, name, hash, user_id, scope, act_for, created_at, expires_at)
VALUES (@id, @kind, @name, @hash, @userId, @scope, @actFor, @createdAt, @expiresAt)`;
const BY_HASH = `SELECT ${COLUMNS} FROM tokens WHERE hash = ?`;
const BY_ID = `SELECT ${COLUMNS} FROM tokens WHERE id = ?`;
const ALL = `SELECT ${COLUMNS} FROM tokens ORDER BY created_at, id`;
const OF_USER = `SELECT ${COLUMNS} FROM tokens WHERE user_id = ? ORDER BY created_at, id`;
const REVOKE = 'UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?';

function fromRow(r: TokenRow): TokenRecord {
  return {
    id: r.id,
    kind: r.kind as TokenRecord['kind'],
    name: r.name,
    userId: r.user_id,
    scope: r.scope as TokenRecord['scope'],
    actFor: r.act_for !== 0,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
  };
}

export class TokenStatements {
  constructor(private readonly st: StatementCache) {}

  insert(t: NewToken): TokenRecord {
    const row = {
      id: t.id,
      kind: t.kind,
      name: t.name,
      hash: t.hash,
      userId: t.userId ?? null,
      scope: t.scope ?? 'full',
      actFor: t.actFor ? 1 : 0,
      createdAt: t.createdAt,
      expiresAt: t.expiresAt ?? null,
    };
    this.st.get<[typeof row]>(INSERT).run(row);
    const made = this.byId(t.id);
    if (!made) throw new Error(`token ${t.id} vanished after its insert`);
    return made;
  }

  byHash(hash: string): TokenRecord | undefined {
    const row = this.st.get<[string], TokenRow>(BY_HASH).get(hash);
    return row === undefined ? undefined : fromRow(row);
  }

  byId(id: string): TokenRecord | undefined {
    const row = this.st.get<[string], TokenRow>(BY_ID).get(id);
    return row === undefined ? undefined : fromRow(row);
  }

  list(userId?: string): TokenRecord[] {
    const rows =
      userId === undefined
        ? this.st.get<[], TokenRow>(ALL).all()
        : this.st.get<[string], TokenRow>(OF_USER).all(userId);
    return rows.map(fromRow);
  }

  revoke(id: string, at: number): boolean {
    return this.st.get<[number, string]>(REVOKE).run(at, id).changes > 0;
  }
}
