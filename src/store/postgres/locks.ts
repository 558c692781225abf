/** Declared locks (migration 6). */
import type { LockDecl } from '../store.js';
import { type Db, query, statement } from './connection.js';

interface LockRow {
  name: string;
  capacity: number;
  created_at: number;
}

const ALL = statement('locks_all', 'SELECT name, capacity, created_at FROM locks ORDER BY name COLLATE "C"');
const UPSERT = statement(
  'locks_upsert',
  `INSERT INTO locks (name, capacity, created_at) VALUES ($1, $2, $3)
ON CONFLICT (name) DO UPDATE SET capacity = excluded.capacity`,
);
const DELETE = statement('locks_delete', 'DELETE FROM locks WHERE name = $1 RETURNING name');

export class LockStatements {
  async all(db: Db): Promise<LockDecl[]> {
    const rows = await query<LockRow>(db, ALL);
    return rows.map((r) => ({ name: r.name, capacity: Number(r.capacity), createdAt: Number(r.created_at) }));
  }

  async put(db: Db, d: LockDecl): Promise<void> {
    await query(db, UPSERT, [d.name, d.capacity, d.createdAt]);
  }

  async delete(db: Db, name: string): Promise<boolean> {
    return (await query(db, DELETE, [name])).length > 0;
  }
}
