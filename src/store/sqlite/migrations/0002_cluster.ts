/**
 * Migration 2: what a cluster needs. Agents' report watermark and process instance on nodes, the
 * agent instance a task was dispatched to, and API/agent tokens (stored as SHA-256 hashes only).
 */

export const VERSION = 2;
export const NAME = 'cluster';

export const SQL = `
ALTER TABLE nodes ADD COLUMN report_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN instance TEXT;
ALTER TABLE tasks ADD COLUMN node_instance TEXT;

CREATE TABLE tokens (
  id          TEXT    PRIMARY KEY,
  kind        TEXT    NOT NULL CHECK (kind IN ('admin', 'agent')),
  name        TEXT    NOT NULL,
  hash        TEXT    NOT NULL UNIQUE,
  created_at  INTEGER NOT NULL,
  revoked_at  INTEGER
) STRICT;

CREATE INDEX jobs_owner ON jobs (json_extract(owner_json, '$.name'), id);
`;
