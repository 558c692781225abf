/**
 * Migration 9: schedules. A template carries at most one cron schedule (with its time zone); the
 * lease holder submits it when `next_at` comes, claiming the tick with a conditional update so that
 * it fires once however many replicas look.
 */

export const VERSION = 9;
export const NAME = 'schedules';

export const SQL = `
CREATE TABLE schedules (
  template          TEXT    PRIMARY KEY,
  template_version  INTEGER,
  cron              TEXT    NOT NULL,
  timezone          TEXT    NOT NULL,
  params_json       TEXT    NOT NULL,
  owner_json        TEXT,
  submitter         TEXT,
  paused            INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
  next_at           INTEGER NOT NULL,
  last_at           INTEGER,
  last_job_id       INTEGER,
  last_error        TEXT,
  created_at        INTEGER NOT NULL
) STRICT;
CREATE INDEX schedules_due ON schedules (next_at) WHERE paused = 0;
`;
