/** Nodes: registered by their agents, updated by applyChanges. */
import type { Millis, NodeInfo, NodeState } from '../../core/types.js';
import type { NodeRecord } from '../store.js';
import type { StatementCache } from './connection.js';
import { type NodeRow, nodeFromRow } from './rows.js';

const NODE_COLUMNS = 'id, name, state, info_json, registered_at, last_seen_at, report_seq, instance';

/** A re-registration replaces everything, including `registered_at`: it is the latest registration. */
const UPSERT_NODE = `
INSERT INTO nodes (id, name, state, info_json, registered_at, last_seen_at)
VALUES (@id, @name, @state, @info_json, @now, @now)
ON CONFLICT (id) DO UPDATE SET
  name = excluded.name,
  state = excluded.state,
  info_json = excluded.info_json,
  registered_at = excluded.registered_at,
  last_seen_at = excluded.last_seen_at`;
const SELECT_NODE = `SELECT ${NODE_COLUMNS} FROM nodes WHERE id = ?`;
const SELECT_NODES = `SELECT ${NODE_COLUMNS} FROM nodes ORDER BY name, id`;

interface UpsertParams {
  id: string;
  name: string;
  state: string;
  info_json: string;
  now: number;
}

export class NodeStatements {
  constructor(private readonly st: StatementCache) {}

  upsert(info: NodeInfo, state: NodeState, now: Millis): NodeRecord {
    this.st.get<[UpsertParams]>(UPSERT_NODE).run({
      id: info.id,
      name: info.name,
      state,
      info_json: JSON.stringify(info),
      now,
    });
    const node = this.get(info.id);
    if (node === undefined) throw new Error(`node ${info.id} vanished after its upsert`);
    return node;
  }

  get(id: string): NodeRecord | undefined {
    const row = this.st.get<[string], NodeRow>(SELECT_NODE).get(id);
    return row === undefined ? undefined : nodeFromRow(row);
  }

  /** By name, then id. */
  list(): NodeRecord[] {
    return this.st.get<[], NodeRow>(SELECT_NODES).all().map(nodeFromRow);
  }
}
