/**
 * Migration 5: files (the same tables as SQLite's migration 5). Held jobs; each job's files (inputs,
 * outputs, kept working directories, the workspace it ran from), whose content is a blob named by
 * its SHA-256 in the blob store; workspaces (archives stored once, run many times).
 */

export const VERSION = 5;
export const NAME = 'files';

export const SQL = `
ALTER TABLE jobs ADD COLUMN held BOOLEAN NOT NULL DEFAULT false;
CREATE INDEX jobs_ended_at ON jobs (ended_at) WHERE ended_at IS NOT NULL;

CREATE TABLE files (
  job_id      BIGINT  NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  path        TEXT    NOT NULL,
  size        BIGINT  NOT NULL,
  sha256      TEXT    NOT NULL,
  kind        TEXT    NOT NULL CHECK (kind IN ('input', 'output', 'workdir', 'workspace')),
  task_id     INTEGER,
  node_id     TEXT,
  created_at  BIGINT  NOT NULL,
  PRIMARY KEY (job_id, path)
);
CREATE INDEX files_sha256 ON files (sha256);

CREATE TABLE workspaces (
  id          TEXT    PRIMARY KEY,
  name        TEXT    NOT NULL,
  sha256      TEXT    NOT NULL,
  size        BIGINT  NOT NULL,
  format      TEXT    NOT NULL,
  owner_json  JSONB,
  created_at  BIGINT  NOT NULL
);
CREATE INDEX workspaces_name ON workspaces (name, created_at);
CREATE INDEX workspaces_sha256 ON workspaces (sha256);
`;
