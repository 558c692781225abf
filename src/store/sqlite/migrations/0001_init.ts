/**
 * Migration 1: the initial schema. Append-only: never edit a released migration; add 0002_... instead.
 *
 * Booleans are INTEGER 0/1, times are unix epoch milliseconds (INTEGER), structured values are JSON text
 * in `*_json` columns. Tables are STRICT so a wrong type fails loudly instead of being stored.
 */

export const VERSION = 1;
export const NAME = 'init';

export const SQL = `
CREATE TABLE jobs (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  name           TEXT    NOT NULL,
  status         TEXT    NOT NULL,
  owner_json     TEXT,
  labels_json    TEXT    NOT NULL,
  raw_spec       TEXT    NOT NULL,
  spec_json      TEXT    NOT NULL,
  placement_json TEXT,
  created_at     INTEGER NOT NULL,
  started_at     INTEGER,
  ended_at       INTEGER,
  reason         TEXT,
  waiting_for    TEXT,
  stop_requested INTEGER NOT NULL DEFAULT 0 CHECK (stop_requested IN (0, 1)),
  retry_of       INTEGER REFERENCES jobs (id) ON DELETE SET NULL
) STRICT;
CREATE INDEX jobs_status_id ON jobs (status, id);
CREATE INDEX jobs_name_id ON jobs (name, id);
CREATE INDEX jobs_created_at_id ON jobs (created_at, id);

CREATE TABLE stages (
  job_id     INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  name       TEXT    NOT NULL,
  idx        INTEGER NOT NULL,
  status     TEXT    NOT NULL,
  started_at INTEGER,
  ready_at   INTEGER,
  ended_at   INTEGER,
  PRIMARY KEY (job_id, name)
) STRICT;

CREATE TABLE tasks (
  job_id       INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  id           INTEGER NOT NULL,
  stage        TEXT    NOT NULL,
  node         TEXT    NOT NULL,
  name         TEXT    NOT NULL,
  idx          INTEGER NOT NULL,
  long_running INTEGER NOT NULL CHECK (long_running IN (0, 1)),
  status       TEXT    NOT NULL,
  attempt      INTEGER NOT NULL DEFAULT 0,
  node_id      TEXT,
  started_at   INTEGER,
  ready_at     INTEGER,
  ended_at     INTEGER,
  exit_code    INTEGER,
  text         TEXT,
  PRIMARY KEY (job_id, id),
  FOREIGN KEY (job_id, stage) REFERENCES stages (job_id, name) ON DELETE CASCADE
) STRICT;
CREATE INDEX tasks_job_stage ON tasks (job_id, stage);

CREATE TABLE events (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  ts         INTEGER NOT NULL,
  type       TEXT    NOT NULL,
  job_id     INTEGER,
  node_id    TEXT,
  stage      TEXT,
  task_id    INTEGER,
  from_state TEXT,
  to_state   TEXT,
  data_json  TEXT
) STRICT;
CREATE INDEX events_job_id ON events (job_id, seq) WHERE job_id IS NOT NULL;
CREATE INDEX events_node_id ON events (node_id, seq) WHERE node_id IS NOT NULL;

CREATE TABLE logs (
  id      INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id  INTEGER NOT NULL,
  task_id INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  seq     INTEGER NOT NULL,
  ts      INTEGER NOT NULL,
  stream  TEXT    NOT NULL,
  text    TEXT    NOT NULL,
  UNIQUE (job_id, task_id, attempt, seq)
) STRICT;
CREATE INDEX logs_job_id ON logs (job_id, id);
CREATE INDEX logs_job_task_id ON logs (job_id, task_id, id);

CREATE TABLE nodes (
  id            TEXT    PRIMARY KEY,
  name          TEXT    NOT NULL,
  state         TEXT    NOT NULL,
  info_json     TEXT    NOT NULL,
  registered_at INTEGER NOT NULL,
  last_seen_at  INTEGER NOT NULL
) STRICT;
`;
