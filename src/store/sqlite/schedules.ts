/** Schedules (migration 9). */
import type { Owner } from '../../core/types.js';
import type { ScheduleRecord } from '../store.js';
import type { StatementCache } from './connection.js';

interface ScheduleRow {
  template: string;
  template_version: number | null;
  cron: string;
  timezone: string;
  params_json: string;
  owner_json: string | null;
  submitter: string | null;
  paused: number;
  next_at: number;
  last_at: number | null;
  last_job_id: number | null;
  last_error: string | null;
  created_at: number;
}

const COLUMNS =
  'template, template_version, cron, timezone, params_json, owner_json, submitter, paused, next_at, last_at, last_job_id, last_error, created_at';
const UPSERT = `INSERT INTO schedules (${COLUMNS}) VALUES (@template, @template_version, @cron, @timezone, @params_json,
  @owner_json, @submitter, @paused, @next_at, @last_at, @last_job_id, @last_error, @created_at)
ON CONFLICT (template) DO UPDATE SET template_version = excluded.template_version, cron = excluded.cron,
  timezone = excluded.timezone, params_json = excluded.params_json, owner_json = excluded.owner_json,
  submitter = excluded.submitter, paused = excluded.paused, next_at = excluded.next_at`;
const ONE = `SELECT ${COLUMNS} FROM schedules WHERE template = ?`;
const ALL = `SELECT ${COLUMNS} FROM schedules ORDER BY template`;
const DUE = `SELECT ${COLUMNS} FROM schedules WHERE paused = 0 AND next_at <= ? ORDER BY next_at, template`;
const DELETE = 'DELETE FROM schedules WHERE template = ?';
const PAUSE = 'UPDATE schedules SET paused = ?, next_at = ? WHERE template = ?';
const CLAIM =
  'UPDATE schedules SET next_at = ?, last_at = ? WHERE template = ? AND next_at = ? AND paused = 0';
const RECORD = 'UPDATE schedules SET last_job_id = ?, last_error = ? WHERE template = ?';

function fromRow(r: ScheduleRow): ScheduleRecord {
  return {
    template: r.template,
    templateVersion: r.template_version,
    cron: r.cron,
    timezone: r.timezone,
    params: JSON.parse(r.params_json) as Record<string, string>,
    owner: r.owner_json === null ? null : (JSON.parse(r.owner_json) as Owner),
    submitter: r.submitter,
    paused: r.paused === 1,
    nextAt: r.next_at,
    lastAt: r.last_at,
    lastJobId: r.last_job_id,
    lastError: r.last_error,
    createdAt: r.created_at,
  };
}

export class ScheduleStatements {
  constructor(private readonly st: StatementCache) {}

  put(s: ScheduleRecord): void {
    this.st.get<[ScheduleRow]>(UPSERT).run({
      template: s.template,
      template_version: s.templateVersion,
      cron: s.cron,
      timezone: s.timezone,
      params_json: JSON.stringify(s.params),
      owner_json: s.owner === null ? null : JSON.stringify(s.owner),
      submitter: s.submitter,
      paused: s.paused ? 1 : 0,
      next_at: s.nextAt,
      last_at: s.lastAt,
      last_job_id: s.lastJobId,
      last_error: s.lastError,
      created_at: s.createdAt,
    });
  }

  one(template: string): ScheduleRecord | undefined {
    const r = this.st.get<[string], ScheduleRow>(ONE).get(template);
    return r === undefined ? undefined : fromRow(r);
  }

  all(): ScheduleRecord[] {
    return this.st.get<[], ScheduleRow>(ALL).all().map(fromRow);
  }

  due(now: number): ScheduleRecord[] {
    return this.st.get<[number], ScheduleRow>(DUE).all(now).map(fromRow);
  }

  delete(template: string): boolean {
    return this.st.get<[string]>(DELETE).run(template).changes > 0;
  }

  pause(template: string, paused: boolean, nextAt: number): boolean {
    return this.st.get<[number, number, string]>(PAUSE).run(paused ? 1 : 0, nextAt, template).changes > 0;
  }

  claim(template: string, expect: number, next: number, now: number): boolean {
    return (
      this.st.get<[number, number, string, number]>(CLAIM).run(next, now, template, expect).changes === 1
    );
  }

  record(template: string, jobId: number | null, error: string | null): void {
    this.st.get<[number | null, string | null, string]>(RECORD).run(jobId, error, template);
  }
}
