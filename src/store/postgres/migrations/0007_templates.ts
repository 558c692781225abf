/**
 * Migration 7: templates (the same tables as SQLite's migration 7): named job specs, each change
 * pushed as a new version, old versions kept runnable; jobs record their parameter values and the
 * template version they came from.
 */

export const VERSION = 7;
export const NAME = 'templates';

export const SQL = `
ALTER TABLE jobs ADD COLUMN params_json JSONB;
ALTER TABLE jobs ADD COLUMN template_name TEXT;
ALTER TABLE jobs ADD COLUMN template_version INTEGER;
CREATE INDEX jobs_template ON jobs (template_name, id) WHERE template_name IS NOT NULL;

CREATE TABLE templates (
  name         TEXT    NOT NULL,
  version      INTEGER NOT NULL CHECK (version >= 1),
  sha256       TEXT    NOT NULL,
  raw_spec     TEXT    NOT NULL,
  description  TEXT,
  owner_json   JSONB,
  pushed_by    TEXT,
  created_at   BIGINT  NOT NULL,
  PRIMARY KEY (name, version)
);
`;
