/**
 * Migration 2: what a cluster needs. Agents' report watermark and process instance on nodes, the
 * agent instance a task was dispatched to, and API/agent tokens (stored as SHA-256 hashes only).
 */

export const VERSION = 2;
export const NAME = 'cluster';

export const SQL = `
ALTER TABLE nodes ADD COLUMN report_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN instance TEXT;
ALTER TABLE tasks ADD COLUMN node_instance TEXT;

CREATE TABLE tokens (
  id          TEXT   PRIMARY KEY,
  kind        TEXT   NOT NULL CHECK (kind IN ('admin', 'agent')),
  name        TEXT   NOT NULL,
  hash        TEXT   NOT NULL UNIQUE,
  created_at  BIGINT NOT NULL,
  revoked_at  BIGINT
);

-- listJobs' owner filter matches the owner's name or id: one index each, so the OR is a BitmapOr.
CREATE INDEX jobs_owner ON jobs ((owner_json ->> 'name'), id);
CREATE INDEX jobs_owner_id ON jobs ((owner_json ->> 'id'), id);
`;
