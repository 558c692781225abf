/**
 * Migration 3: the report inbox. With several server replicas, whichever replica an agent is
 * connected to stores its status reports here; the replica that holds the scheduling lease applies
 * them in order and removes them. (NULL seqs are distinct in the UNIQUE constraint, so server-made
 * records, which have none, always go in.)
 */

export const VERSION = 3;
export const NAME = 'inbox';

export const SQL = `
CREATE TABLE report_inbox (
  id          BIGSERIAL PRIMARY KEY,
  node_id     TEXT   NOT NULL,
  seq         BIGINT,
  body_json   JSONB  NOT NULL,
  created_at  BIGINT NOT NULL,
  UNIQUE (node_id, seq)
);
`;
