/** Schedules (migration 9). */
import type { Owner } from '../../core/types.js';
import type { ScheduleRecord } from '../store.js';
import { type Db, query, statement } from './connection.js';

interface ScheduleRow {
  template: string;
  template_version: number | null;
  cron: string;
  timezone: string;
  params_json: Record<string, string>;
  owner_json: Owner | null;
  submitter: string | null;
  paused: boolean;
  next_at: string | number;
  last_at: string | number | null;
  last_job_id: string | number | null;
  last_error: string | null;
  created_at: string | number;
}

const COLUMNS =
  'template, template_version, cron, timezone, params_json, owner_json, submitter, paused, next_at, last_at, last_job_id, last_error, created_at';
const UPSERT = statement(
  'schedules_upsert',
  `INSERT INTO schedules (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (template) DO UPDATE SET template_version = excluded.template_version, cron = excluded.cron,
  timezone = excluded.timezone, params_json = excluded.params_json, owner_json = excluded.owner_json,
  submitter = excluded.submitter, paused = excluded.paused, next_at = excluded.next_at`,
);
const ONE = statement('schedules_one', `SELECT ${COLUMNS} FROM schedules WHERE template = $1`);
const ALL = statement('schedules_all', `SELECT ${COLUMNS} FROM schedules ORDER BY template COLLATE "C"`);
const DUE = statement(
  'schedules_due',
  `SELECT ${COLUMNS} FROM schedules WHERE NOT paused AND next_at <= $1 ORDER BY next_at, template COLLATE "C"`,
);
const DELETE = statement('schedules_delete', 'DELETE FROM schedules WHERE template = $1 RETURNING template');
const PAUSE = statement(
  'schedules_pause',
  'UPDATE schedules SET paused = $1, next_at = $2 WHERE template = $3 RETURNING template',
);
const CLAIM = statement(
  'schedules_claim',
  'UPDATE schedules SET next_at = $1, last_at = $2 WHERE template = $3 AND next_at = $4 AND NOT paused RETURNING template',
);
const RECORD = statement(
  'schedules_record',
  'UPDATE schedules SET last_job_id = $1, last_error = $2 WHERE template = $3',
);

const num = (v: string | number | null): number | null => (v === null ? null : Number(v));

function fromRow(r: ScheduleRow): ScheduleRecord {
  return {
    template: r.template,
    templateVersion: r.template_version,
    cron: r.cron,
    timezone: r.timezone,
    params: r.params_json,
    owner: r.owner_json,
    submitter: r.submitter,
    paused: r.paused,
    nextAt: Number(r.next_at),
    lastAt: num(r.last_at),
    lastJobId: num(r.last_job_id),
    lastError: r.last_error,
    createdAt: Number(r.created_at),
  };
}

export class ScheduleStatements {
  async put(db: Db, s: ScheduleRecord): Promise<void> {
    await query(db, UPSERT, [
      s.template,
      s.templateVersion,
      s.cron,
      s.timezone,
      s.params,
      s.owner,
      s.submitter,
      s.paused,
      s.nextAt,
      s.lastAt,
      s.lastJobId,
      s.lastError,
      s.createdAt,
    ]);
  }

  async one(db: Db, template: string): Promise<ScheduleRecord | undefined> {
    const [r] = await query<ScheduleRow>(db, ONE, [template]);
    return r === undefined ? undefined : fromRow(r);
  }

  async all(db: Db): Promise<ScheduleRecord[]> {
    return (await query<ScheduleRow>(db, ALL)).map(fromRow);
  }

  async due(db: Db, now: number): Promise<ScheduleRecord[]> {
    return (await query<ScheduleRow>(db, DUE, [now])).map(fromRow);
  }

  async delete(db: Db, template: string): Promise<boolean> {
    return (await query(db, DELETE, [template])).length > 0;
  }

  async pause(db: Db, template: string, paused: boolean, nextAt: number): Promise<boolean> {
    return (await query(db, PAUSE, [paused, nextAt, template])).length > 0;
  }

  async claim(db: Db, template: string, expect: number, next: number, now: number): Promise<boolean> {
    return (await query(db, CLAIM, [next, now, template, expect])).length === 1;
  }

  async record(db: Db, template: string, jobId: number | null, error: string | null): Promise<void> {
    await query(db, RECORD, [jobId, error, template]);
  }
}
