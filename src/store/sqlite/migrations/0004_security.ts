/**
 * Migration 4: users, orgs and their members; tokens belong to users and have a scope, an expiry and
 * may act for others; org secrets (stored encrypted by the server); who submitted each job.
 * The first admin token becomes the token of a server-wide `admin` user.
 */

export const VERSION = 4;
export const NAME = 'security';

export const SQL = `
CREATE TABLE users (
  id            TEXT    PRIMARY KEY,
  name          TEXT    NOT NULL UNIQUE,
  server_admin  INTEGER NOT NULL CHECK (server_admin IN (0, 1)),
  created_at    INTEGER NOT NULL
) STRICT;

INSERT INTO users (id, name, server_admin, created_at)
SELECT 'admin', 'admin', 1, COALESCE(MIN(created_at), 0) FROM tokens WHERE kind = 'admin' HAVING COUNT(*) > 0;

CREATE TABLE orgs (
  id          TEXT    PRIMARY KEY,
  name        TEXT    NOT NULL UNIQUE,
  created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE memberships (
  org_id   TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
  user_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role     TEXT NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
  PRIMARY KEY (org_id, user_id)
) STRICT;
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE tokens_new (
  id          TEXT    PRIMARY KEY,
  kind        TEXT    NOT NULL CHECK (kind IN ('user', 'agent')),
  name        TEXT    NOT NULL,
  hash        TEXT    NOT NULL UNIQUE,
  user_id     TEXT    REFERENCES users (id) ON DELETE CASCADE,
  scope       TEXT    NOT NULL DEFAULT 'full' CHECK (scope IN ('full', 'read', 'submit')),
  act_for     INTEGER NOT NULL DEFAULT 0 CHECK (act_for IN (0, 1)),
  created_at  INTEGER NOT NULL,
  expires_at  INTEGER,
  revoked_at  INTEGER
) STRICT;
INSERT INTO tokens_new (id, kind, name, hash, user_id, scope, act_for, created_at, revoked_at)
SELECT id, CASE kind WHEN 'admin' THEN 'user' ELSE kind END, name, hash,
       CASE kind WHEN 'admin' THEN 'admin' END, 'full', CASE kind WHEN 'admin' THEN 1 ELSE 0 END,
       created_at, revoked_at
FROM tokens;
DROP TABLE tokens;
ALTER TABLE tokens_new RENAME TO tokens;
CREATE INDEX tokens_user ON tokens (user_id);

CREATE TABLE secrets (
  org_id      TEXT    NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
  name        TEXT    NOT NULL,
  ciphertext  TEXT    NOT NULL,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  PRIMARY KEY (org_id, name)
) STRICT;

ALTER TABLE jobs ADD COLUMN submitter TEXT;
CREATE INDEX jobs_submitter ON jobs (submitter, id);
CREATE INDEX jobs_owner_id ON jobs (json_extract(owner_json, '$.id'), id);
`;
