/** The report inbox and node heartbeats (see migration 3). */
import type { Millis } from '../../core/types.js';
import type { InboxItem } from '../store.js';
import { type Db, query, statement } from './connection.js';
import { toJson } from './rows.js';

/** Announces new inbox items (empty payload) to the replica that applies them. */
export const INBOX_CHANNEL = 'jobhub_inbox';

// In order (WITH ORDINALITY), skipping items at or below their node's watermark and (node, seq) pairs
// already there or earlier in the batch; NULL seqs always go in. One statement, atomic on its own,
// that also notifies when anything went in: one round trip per report instead of four.
const INSERT = statement(
  'inbox_insert_notify',
  `WITH added AS (
     INSERT INTO report_inbox (node_id, seq, body_json, created_at)
     SELECT i.node_id, i.seq, i.body, $4
     FROM unnest($1::text[], $2::bigint[], $3::jsonb[]) WITH ORDINALITY AS i(node_id, seq, body, ord)
     LEFT JOIN nodes n ON n.id = i.node_id
     WHERE i.seq IS NULL OR i.seq > COALESCE(n.report_seq, 0)
     ORDER BY i.ord
     ON CONFLICT (node_id, seq) DO NOTHING
     RETURNING id),
   n AS (SELECT count(*)::int AS n FROM added)
   SELECT n.n FROM n LEFT JOIN LATERAL (SELECT pg_notify('${INBOX_CHANNEL}', '') WHERE n.n > 0) AS x ON true`,
);
const TAKE = statement(
  'inbox_take',
  'SELECT id, node_id, seq, body_json FROM report_inbox WHERE id > $1 ORDER BY id LIMIT $2',
);
const DELETE = statement('inbox_delete', 'DELETE FROM report_inbox WHERE id = ANY($1::bigint[])');
// The highest mark per node first: UPDATE … FROM uses only one joined row per target row.
const RAISE = statement(
  'inbox_raise',
  `UPDATE nodes SET report_seq = GREATEST(nodes.report_seq, w.seq)
   FROM (SELECT node_id, MAX(seq) AS seq FROM unnest($1::text[], $2::bigint[]) AS u(node_id, seq) GROUP BY node_id) AS w
   WHERE nodes.id = w.node_id`,
);
const HIGH = statement(
  'inbox_high',
  `SELECT GREATEST(COALESCE((SELECT report_seq FROM nodes WHERE id = $1), 0),
                   COALESCE((SELECT MAX(seq) FROM report_inbox WHERE node_id = $1), 0)) AS high`,
);
// Rows locked in id order first, so two batches of heartbeats cannot deadlock on each other.
const LOCK_NODES = statement(
  'nodes_lock',
  'SELECT id FROM nodes WHERE id = ANY($1::text[]) ORDER BY id COLLATE "C" FOR NO KEY UPDATE',
);
const TOUCH = statement(
  'nodes_touch',
  'UPDATE nodes SET last_seen_at = GREATEST(last_seen_at, $2) WHERE id = ANY($1::text[])',
);

interface InboxRow {
  id: number;
  node_id: string;
  seq: number | null;
  body_json: unknown;
}

export class InboxStatements {
  /** One statement (no transaction needed); notifies `jobhub_inbox` when anything went in. */
  async enqueue(db: Db, items: Array<Omit<InboxItem, 'id'>>, now: Millis): Promise<number> {
    if (items.length === 0) return 0;
    const [row] = await query<{ n: number }>(db, INSERT, [
      items.map((i) => i.nodeId),
      items.map((i) => i.seq),
      items.map((i) => toJson(i.body)),
      now,
    ]);
    return row?.n ?? 0;
  }

  async take(db: Db, afterId: number, limit: number): Promise<InboxItem[]> {
    return (await query<InboxRow>(db, TAKE, [afterId, limit])).map((r) => ({
      id: r.id,
      nodeId: r.node_id,
      seq: r.seq,
      body: r.body_json,
    }));
  }

  /** Inside a transaction. */
  async finish(c: Db, ids: number[], watermarks: Array<{ nodeId: string; seq: number }>): Promise<void> {
    if (ids.length > 0) await query(c, DELETE, [ids]);
    if (watermarks.length > 0) {
      await query(c, RAISE, [watermarks.map((w) => w.nodeId), watermarks.map((w) => w.seq)]);
    }
  }

  async high(db: Db, nodeId: string): Promise<number> {
    return (await query<{ high: number }>(db, HIGH, [nodeId]))[0]?.high ?? 0;
  }

  /** Inside a transaction. */
  async touch(c: Db, ids: string[], now: Millis): Promise<void> {
    await query(c, LOCK_NODES, [ids]);
    await query(c, TOUCH, [ids, now]);
  }
}
