/** Declared locks (migration 6). */
import type { LockDecl } from '../store.js';
import type { StatementCache } from './connection.js';

interface LockRow {
  name: string;
  capacity: number;
  created_at: number;
}

const ALL = 'SELECT name, capacity, created_at FROM locks ORDER BY name';
const UPSERT = `INSERT INTO locks (name, capacity, created_at) VALUES (?, ?, ?)
ON CONFLICT (name) DO UPDATE SET capacity = excluded.capacity`;
const DELETE = 'DELETE FROM locks WHERE name = ?';

export class LockStatements {
  constructor(private readonly st: StatementCache) {}

  all(): LockDecl[] {
    return this.st
      .get<[], LockRow>(ALL)
      .all()
      .map((r) => ({ name: r.name, capacity: r.capacity, createdAt: r.created_at }));
  }

  put(d: LockDecl): void {
    this.st.get<[string, number, number]>(UPSERT).run(d.name, d.capacity, d.createdAt);
  }

  delete(name: string): boolean {
    return this.st.get<[string]>(DELETE).run(name).changes > 0;
  }
}
