/**
 * Migration 3: the report inbox. With several server replicas, whichever replica an agent is
 * connected to stores its status reports here; the replica that holds the scheduling lease applies
 * them in order and removes them.
 */

export const VERSION = 3;
export const NAME = 'inbox';

export const SQL = `
CREATE TABLE report_inbox (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  node_id     TEXT    NOT NULL,
  seq         INTEGER,
  body_json   TEXT    NOT NULL,
  created_at  INTEGER NOT NULL,
  UNIQUE (node_id, seq)
) STRICT;
`;
