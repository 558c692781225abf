/** Tokens: only their SHA-256 hashes are stored; the token itself is shown once, when made. */
import type { NewToken, TokenRecord } from '../store.js';
import type { StatementCache } from './connection.js';

interface TokenRow {
  id: string;
  kind: string;
  name: string;
  created_at: number;
  revoked_at: number | null;
}

const COLUMNS = 'id, kind, name, created_at, revoked_at';
const INSERT =
  'INSERT INTO tokens (id, kind, name, hash, created_at) VALUES (@id, @kind, @name, @hash, @createdAt)';
const BY_HASH = `SELECT ${COLUMNS} FROM tokens WHERE hash = ?`;
const ALL = `SELECT ${COLUMNS} FROM tokens ORDER BY created_at, id`;

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
  constructor(private readonly st: StatementCache) {}

  insert(t: NewToken): TokenRecord {
    this.st.get<[NewToken]>(INSERT).run(t);
    return { id: t.id, kind: t.kind, name: t.name, createdAt: t.createdAt, revokedAt: null };
  }

  byHash(hash: string): TokenRecord | undefined {
    const row = this.st.get<[string], TokenRow>(BY_HASH).get(hash);
    return row === undefined ? undefined : fromRow(row);
  }

  list(): TokenRecord[] {
    return this.st.get<[], TokenRow>(ALL).all().map(fromRow);
  }
}
