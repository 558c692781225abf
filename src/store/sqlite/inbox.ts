/** The report inbox and node heartbeats (see migration 3). */
import type { Millis } from '../../core/types.js';
import type { InboxItem } from '../store.js';
import type { StatementCache } from './connection.js';

const INSERT = `
INSERT INTO report_inbox (node_id, seq, body_json, created_at)
SELECT @nodeId, @seq, @body, @now
WHERE @seq IS NULL OR @seq > COALESCE((SELECT report_seq FROM nodes WHERE id = @nodeId), 0)
ON CONFLICT (node_id, seq) DO NOTHING`;
const TAKE = 'SELECT id, node_id, seq, body_json FROM report_inbox WHERE id > ? ORDER BY id LIMIT ?';
const DELETE = 'DELETE FROM report_inbox WHERE id = ?';
const RAISE = 'UPDATE nodes SET report_seq = MAX(report_seq, ?) WHERE id = ?';
const HIGH = `
SELECT MAX(COALESCE((SELECT report_seq FROM nodes WHERE id = @nodeId), 0),
           COALESCE((SELECT MAX(seq) FROM report_inbox WHERE node_id = @nodeId), 0)) AS high`;
const TOUCH = 'UPDATE nodes SET last_seen_at = MAX(last_seen_at, ?) WHERE id = ?';

interface InboxRow {
  id: number;
  node_id: string;
  seq: number | null;
  body_json: string;
}

export class InboxStatements {
  constructor(private readonly st: StatementCache) {}

  enqueue(items: Array<Omit<InboxItem, 'id'>>, now: Millis): void {
    const stmt = this.st.get<[{ nodeId: string; seq: number | null; body: string; now: number }]>(INSERT);
    for (const i of items) stmt.run({ nodeId: i.nodeId, seq: i.seq, body: JSON.stringify(i.body), now });
  }

  take(afterId: number, limit: number): InboxItem[] {
    return this.st
      .get<[number, number], InboxRow>(TAKE)
      .all(afterId, limit)
      .map((r) => ({ id: r.id, nodeId: r.node_id, seq: r.seq, body: JSON.parse(r.body_json) as unknown }));
  }

  finish(ids: number[], watermarks: Array<{ nodeId: string; seq: number }>): void {
    const del = this.st.get<[number]>(DELETE);
    for (const id of ids) del.run(id);
    const raise = this.st.get<[number, string]>(RAISE);
    for (const w of watermarks) raise.run(w.seq, w.nodeId);
  }

  high(nodeId: string): number {
    return this.st.get<[{ nodeId: string }], { high: number }>(HIGH).get({ nodeId })?.high ?? 0;
  }

  touch(ids: string[], now: Millis): void {
    const stmt = this.st.get<[number, string]>(TOUCH);
    for (const id of ids) stmt.run(now, id);
  }
}
