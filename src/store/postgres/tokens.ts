/** Tokens: only their SHA-256 hashes are stored; the token itself is shown once, when made. */
import type { NewToken, TokenRecord } from '../store.js';
import { type Db, query, statement } from './connection.js';

interface TokenRow {
  id: string;
  kind: string;
  name: string;
  created_at: number;
  revoked_at: number | null;
}

const COLUMNS = 'id, kind, name, created_at, revoked_at';
const INSERT = statement(
  'tokens_insert',
  'INSERT INTO tokens (id, kind, name, hash, created_at) VALUES ($1, $2, $3, $4, $5)',
);
const BY_HASH = statement('tokens_by_hash', `SELECT ${COLUMNS} FROM tokens WHERE hash = $1`);
const ALL = statement('tokens_list', `SELECT ${COLUMNS} FROM tokens ORDER BY created_at, id COLLATE "C"`);

function fromRow(r: TokenRow): TokenRecord {
  return {
    id: r.id,
    kind: r.kind as TokenRecord['kind'],
    name: r.name,
    createdAt: r.created_at,
    revokedAt: r.revoked_at,
  };
}

export class TokenStatements {
  async insert(c: Db, t: NewToken): Promise<TokenRecord> {
    await query(c, INSERT, [t.id, t.kind, t.name, t.hash, t.createdAt]);
    return { id: t.id, kind: t.kind, name: t.name, createdAt: t.createdAt, revokedAt: null };
  }

  async byHash(db: Db, hash: string): Promise<TokenRecord | undefined> {
    const [row] = await query<TokenRow>(db, BY_HASH, [hash]);
    return row === undefined ? undefined : fromRow(row);
  }

  async list(db: Db): Promise<TokenRecord[]> {
    return (await query<TokenRow>(db, ALL)).map(fromRow);
  }
}
