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
  server_admin  BOOLEAN NOT NULL,
  created_at    BIGINT  NOT NULL
);
INSERT INTO users (id, name, server_admin, created_at)
SELECT 'admin', 'admin', true, COALESCE(MIN(created_at), 0) FROM tokens WHERE kind = 'admin' HAVING COUNT(*) > 0;

CREATE TABLE orgs (
  id          TEXT   PRIMARY KEY,
  name        TEXT   NOT NULL UNIQUE,
  created_at  BIGINT NOT NULL
);

CREATE TABLE memberships (
  org_id   TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
  user_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role     TEXT NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
  PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

ALTER TABLE tokens DROP CONSTRAINT IF EXISTS tokens_kind_check;
UPDATE tokens SET kind = 'user' WHERE kind = 'admin';
ALTER TABLE tokens ADD CONSTRAINT tokens_kind_check CHECK (kind IN ('user', 'agent'));
ALTER TABLE tokens ADD COLUMN user_id TEXT REFERENCES users (id) ON DELETE CASCADE;
ALTER TABLE tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'full' CHECK (scope IN ('full', 'read', 'submit'));
ALTER TABLE tokens ADD COLUMN act_for BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE tokens ADD COLUMN expires_at BIGINT;
UPDATE tokens SET user_id = 'admin', act_for = true WHERE kind = 'user';
CREATE INDEX tokens_user ON tokens (user_id);

CREATE TABLE secrets (
  org_id      TEXT   NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
  name        TEXT   NOT NULL,
  ciphertext  TEXT   NOT NULL,
  created_at  BIGINT NOT NULL,
  updated_at  BIGINT NOT NULL,
  PRIMARY KEY (org_id, name)
);

ALTER TABLE jobs ADD COLUMN submitter TEXT;
CREATE INDEX jobs_submitter ON jobs (submitter, id);
`;
