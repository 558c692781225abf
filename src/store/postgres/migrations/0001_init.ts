/**
 * Migration 1: the initial schema (the same tables as SQLite's migration 1). Append-only: never edit a
 * released migration; add 0002_... instead.
 *
 * Ids and sequence numbers are BIGINT (BIGSERIAL where generated), times are unix epoch milliseconds
 * (BIGINT), booleans are BOOLEAN, structured values are JSONB in the `*_json` columns (the column
 * names are SQLite's, so the two schemas read side by side and `store copy` maps them one to one).
 */

export const VERSION = 1;
export const NAME = 'init';

export const SQL = `
CREATE TABLE jobs (
  id             BIGSERIAL PRIMARY KEY,
  name           TEXT    NOT NULL,
  status         TEXT    NOT NULL,
  owner_json     JSONB,
  labels_json    JSONB   NOT NULL,
  raw_spec       TEXT    NOT NULL,
  spec_json      JSONB   NOT NULL,
  placement_json JSONB,
  created_at     BIGINT  NOT NULL,
  started_at     BIGINT,
  ended_at       BIGINT,
  reason         TEXT,
  waiting_for    TEXT,
  stop_requested BOOLEAN NOT NULL DEFAULT false,
  retry_of       BIGINT  REFERENCES jobs (id) ON DELETE SET NULL
);
CREATE INDEX jobs_status_id ON jobs (status, id);
CREATE INDEX jobs_name_id ON jobs (name, id);
CREATE INDEX jobs_created_at_id ON jobs (created_at, id);
-- listJobs' label filter: labels_json @> '{"env":"prod"}'.
CREATE INDEX jobs_labels ON jobs USING GIN (labels_json jsonb_path_ops);

CREATE TABLE stages (
  job_id     BIGINT  NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  name       TEXT    NOT NULL,
  idx        INTEGER NOT NULL,
  status     TEXT    NOT NULL,
  started_at BIGINT,
  ready_at   BIGINT,
  ended_at   BIGINT,
  PRIMARY KEY (job_id, name)
);

CREATE TABLE tasks (
  job_id       BIGINT  NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  id           INTEGER NOT NULL,
  stage        TEXT    NOT NULL,
  node         TEXT    NOT NULL,
  name         TEXT    NOT NULL,
  idx          INTEGER NOT NULL,
  long_running BOOLEAN NOT NULL,
  status       TEXT    NOT NULL,
  attempt      INTEGER NOT NULL DEFAULT 0,
  node_id      TEXT,
  started_at   BIGINT,
  ready_at     BIGINT,
  ended_at     BIGINT,
  exit_code    INTEGER,
  text         TEXT,
  PRIMARY KEY (job_id, id),
  FOREIGN KEY (job_id, stage) REFERENCES stages (job_id, name) ON DELETE CASCADE
);
CREATE INDEX tasks_job_stage ON tasks (job_id, stage);

CREATE TABLE events (
  seq        BIGSERIAL PRIMARY KEY,
  ts         BIGINT  NOT NULL,
  type       TEXT    NOT NULL,
  job_id     BIGINT,
  node_id    TEXT,
  stage      TEXT,
  task_id    INTEGER,
  from_state TEXT,
  to_state   TEXT,
  data_json  JSONB
);
CREATE INDEX events_job_id ON events (job_id, seq) WHERE job_id IS NOT NULL;
CREATE INDEX events_node_id ON events (node_id, seq) WHERE node_id IS NOT NULL;

CREATE TABLE logs (
  id      BIGSERIAL PRIMARY KEY,
  job_id  BIGINT  NOT NULL,
  task_id INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  seq     BIGINT  NOT NULL,
  ts      BIGINT  NOT NULL,
  stream  TEXT    NOT NULL,
  text    TEXT    NOT NULL,
  UNIQUE (job_id, task_id, attempt, seq)
);
CREATE INDEX logs_job_id ON logs (job_id, id);
CREATE INDEX logs_job_task_id ON logs (job_id, task_id, id);

CREATE TABLE nodes (
  id            TEXT   PRIMARY KEY,
  name          TEXT   NOT NULL,
  state         TEXT   NOT NULL,
  info_json     JSONB  NOT NULL,
  registered_at BIGINT NOT NULL,
  last_seen_at  BIGINT NOT NULL
);
`;
