/** Tokens: only their SHA-256 hashes are stored; the token itself is shown once, when made. */
import type { NewToken, TokenRecord } from '../store.js';
import { type Db, query, statement } from './connection.js';

interface TokenRow {
  id: string;
  kind: string;
  name: string;
  user_id: string | null;
  scope: string;
  act_for: boolean;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
}

const COLUMNS = 'id, kind, name, user_id, scope, act_for, created_at, expires_at, revoked_at';
const INSERT = statement(
  'tokens_insert',
  `INSERT INTO tokens (id, kind, name, hash, user_id, scope, act_for, created_at, expires_at)
   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ${COLUMNS}`,
);
const BY_HASH = statement('tokens_by_hash', `SELECT ${COLUMNS} FROM tokens WHERE hash = $1`);
const BY_ID = statement('tokens_by_id', `SELECT ${COLUMNS} FROM tokens WHERE id = $1`);
const ALL = statement('tokens_list', `SELECT ${COLUMNS} FROM tokens ORDER BY created_at, id COLLATE "C"`);
const OF_USER = statement(
  'tokens_of_user',
  `SELECT ${COLUMNS} FROM tokens WHERE user_id = $1 ORDER BY created_at, id COLLATE "C"`,
);
const REVOKE = statement(
  'tokens_revoke',
  'UPDATE tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2',
);

function fromRow(r: TokenRow): TokenRecord {
  return {
    id: r.id,
    kind: r.kind as TokenRecord['kind'],
    name: r.name,
    userId: r.user_id,
    scope: r.scope as TokenRecord['scope'],
    actFor: r.act_for,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
  };
}

export class TokenStatements {
  async insert(c: Db, t: NewToken): Promise<TokenRecord> {
    const [row] = await query<TokenRow>(c, INSERT, [
      t.id,
      t.kind,
      t.name,
      t.hash,
      t.userId ?? null,
      t.scope ?? 'full',
      t.actFor ?? false,
      t.createdAt,
      t.expiresAt ?? null,
    ]);
    if (!row) throw new Error(`token ${t.id} vanished after its insert`);
    return fromRow(row);
  }

  async byHash(db: Db, hash: string): Promise<TokenRecord | undefined> {
    const [row] = await query<TokenRow>(db, BY_HASH, [hash]);
    return row === undefined ? undefined : fromRow(row);
  }

  async byId(db: Db, id: string): Promise<TokenRecord | undefined> {
    const [row] = await query<TokenRow>(db, BY_ID, [id]);
    return row === undefined ? undefined : fromRow(row);
  }

  async list(db: Db, userId?: string): Promise<TokenRecord[]> {
    const rows =
      userId === undefined ? await query<TokenRow>(db, ALL) : await query<TokenRow>(db, OF_USER, [userId]);
    return rows.map(fromRow);
  }

  async revoke(db: Db, id: string, at: number): Promise<boolean> {
    const res = await db.query({ name: REVOKE.name, text: REVOKE.text, values: [at, id] });
    return (res.rowCount ?? 0) > 0;
  }
}
