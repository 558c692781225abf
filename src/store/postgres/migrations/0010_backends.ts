/**
 * Migration 10: external backends. Their configs (credentials sealed with the server key), and per
 * attempt of a backend job the backend's identification keys and how much of its output was read,
 * so a restarted server resumes polling instead of triggering a second build, without doubled lines.
 */

export const VERSION = 10;
export const NAME = 'backends';

export const SQL = `
CREATE TABLE backends (
  id            TEXT    PRIMARY KEY,
  kind          TEXT    NOT NULL,
  config_json   JSONB   NOT NULL,
  sealed_token  TEXT,
  source        TEXT    NOT NULL CHECK (source IN ('file', 'api')),
  updated_at    BIGINT  NOT NULL
);
CREATE TABLE backend_runs (
  job_id         BIGINT  NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  task_id        INTEGER NOT NULL,
  attempt        INTEGER NOT NULL,
  backend_id     TEXT    NOT NULL,
  keys_json      JSONB   NOT NULL,
  output_offset  BIGINT  NOT NULL DEFAULT 0,
  log_seq        INTEGER NOT NULL DEFAULT 0,
  report_json    JSONB,
  updated_at     BIGINT  NOT NULL,
  PRIMARY KEY (job_id, task_id, attempt)
);
`;
