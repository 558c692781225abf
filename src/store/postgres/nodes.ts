/** Nodes: registered by their agents, updated by applyChanges. */
import type { Millis, NodeInfo, NodeState } from '../../core/types.js';
import type { NodeRecord } from '../store.js';
import { type Db, query, statement } from './connection.js';
import { type NodeRow, nodeFromRow, toJson } from './rows.js';

const NODE_COLUMNS = 'id, name, state, info_json, registered_at, last_seen_at, report_seq, instance';

/**
 * A re-registration replaces everything, including `registered_at`: it is the latest registration.
 * The report watermark and the instance stay (the agent gateway and applyChanges own them).
 */
const UPSERT_NODE = statement(
  'nodes_upsert',
  `INSERT INTO nodes (id, name, state, info_json, registered_at, last_seen_at)
   VALUES ($1, $2, $3, $4::jsonb, $5, $5)
   ON CONFLICT (id) DO UPDATE SET
     name = excluded.name,
     state = excluded.state,
     info_json = excluded.info_json,
     registered_at = excluded.registered_at,
     last_seen_at = excluded.last_seen_at
   RETURNING ${NODE_COLUMNS}`,
);
const SELECT_NODE = statement('nodes_get', `SELECT ${NODE_COLUMNS} FROM nodes WHERE id = $1`);
// Byte order (COLLATE "C"), as SQLite sorts text.
const SELECT_NODES = statement(
  'nodes_list',
  `SELECT ${NODE_COLUMNS} FROM nodes ORDER BY name COLLATE "C", id COLLATE "C"`,
);

export class NodeStatements {
  async upsert(c: Db, info: NodeInfo, state: NodeState, now: Millis): Promise<NodeRecord> {
    const [row] = await query<NodeRow>(c, UPSERT_NODE, [info.id, info.name, state, toJson(info), now]);
    if (row === undefined) throw new Error(`node ${info.id} vanished after its upsert`);
    return nodeFromRow(row);
  }

  async get(db: Db, id: string): Promise<NodeRecord | undefined> {
    const [row] = await query<NodeRow>(db, SELECT_NODE, [id]);
    return row === undefined ? undefined : nodeFromRow(row);
  }

  /** By name, then id. */
  async list(db: Db): Promise<NodeRecord[]> {
    return (await query<NodeRow>(db, SELECT_NODES)).map(nodeFromRow);
  }
}
