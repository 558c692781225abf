/**
 * Migration 7: templates (seed 004's registered steps): named job specs, each change pushed as a
 * new version, old versions kept runnable. A job records the parameter values it was submitted
 * with and the template version it came from; the job list filters by template.
 */

export const VERSION = 7;
export const NAME = 'templates';

export const SQL = `
ALTER TABLE jobs ADD COLUMN params_json TEXT;
ALTER TABLE jobs ADD COLUMN template_name TEXT;
ALTER TABLE jobs ADD COLUMN template_version INTEGER;
CREATE INDEX jobs_template ON jobs (template_name, id) WHERE template_name IS NOT NULL;

CREATE TABLE templates (
  name         TEXT    NOT NULL,
  version      INTEGER NOT NULL CHECK (version >= 1),
  sha256       TEXT    NOT NULL,
  raw_spec     TEXT    NOT NULL,
  description  TEXT,
  owner_json   TEXT,
  pushed_by    TEXT,
  created_at   INTEGER NOT NULL,
  PRIMARY KEY (name, version)
) STRICT;
`;
