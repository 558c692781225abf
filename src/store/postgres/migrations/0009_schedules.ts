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
  params_json       JSONB   NOT NULL,
  owner_json        JSONB,
  submitter         TEXT,
  paused            BOOLEAN NOT NULL DEFAULT false,
  next_at           BIGINT  NOT NULL,
  last_at           BIGINT,
  last_job_id       BIGINT,
  last_error        TEXT,
  created_at        BIGINT  NOT NULL
);
CREATE INDEX schedules_due ON schedules (next_at) WHERE NOT paused;
`;
