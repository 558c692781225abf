/**
 * Migration 5: files. Held jobs (created queued and not placed until released, so their inputs can
 * be uploaded first); each job's files (inputs, outputs, kept working directories, the workspace it
 * ran from), whose content is a blob named by its SHA-256 in the blob store; workspaces (archives
 * stored once, run many times). Retention looks jobs up by their end.
 */

export const VERSION = 5;
export const NAME = 'files';

export const SQL = `
ALTER TABLE jobs ADD COLUMN held INTEGER NOT NULL DEFAULT 0 CHECK (held IN (0, 1));
CREATE INDEX jobs_ended_at ON jobs (ended_at) WHERE ended_at IS NOT NULL;

CREATE TABLE files (
  job_id      INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  path        TEXT    NOT NULL,
  size        INTEGER NOT NULL,
  sha256      TEXT    NOT NULL,
  kind        TEXT    NOT NULL CHECK (kind IN ('input', 'output', 'workdir', 'workspace')),
  task_id     INTEGER,
  node_id     TEXT,
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (job_id, path)
) STRICT;
CREATE INDEX files_sha256 ON files (sha256);

CREATE TABLE workspaces (
  id          TEXT    PRIMARY KEY,
  name        TEXT    NOT NULL,
  sha256      TEXT    NOT NULL,
  size        INTEGER NOT NULL,
  format      TEXT    NOT NULL,
  owner_json  TEXT,
  created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX workspaces_name ON workspaces (name, created_at);
CREATE INDEX workspaces_sha256 ON workspaces (sha256);
`;
