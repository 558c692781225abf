/**
 * `jobhub schedule set TEMPLATE --cron ... [--timezone Z] [--param k=v] [--version N]`, `schedule
 * list`, `schedule show|pause|resume|rm TEMPLATE`: templates' cron schedules on a server.
 */

import type { ScheduleList, ScheduleResponse, ScheduleView } from '../../server/schedule-schemas.js';
import { parseParamArgs } from '../../spec/params.js';
import { paint, table } from '../format.js';
import { type CliIO, println, styleOf } from '../io.js';
import { type RemoteFlags, requireRemote } from '../remote.js';

export interface ScheduleFlags extends RemoteFlags {
  json?: boolean;
}

export interface ScheduleSetFlags extends ScheduleFlags {
  cron?: string;
  timezone?: string;
  param?: string[];
  pinVersion?: string;
}

const seg = (s: string) => encodeURIComponent(s);
const when = (iso: string | null) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-');

function describe(s: ScheduleView): string {
  const version = s.version === null ? 'newest version' : `version ${s.version}`;
  const state = s.paused ? 'paused' : `next ${when(s.nextAt)}`;
  return `template ${s.template} (${version}): "${s.cron}" in ${s.timezone}, ${state}`;
}

export async function scheduleSetCommand(
  template: string,
  flags: ScheduleSetFlags,
  io: CliIO,
): Promise<number> {
  const body: Record<string, unknown> = { cron: flags.cron };
  if (flags.timezone) body.timezone = flags.timezone;
  const params = parseParamArgs(flags.param);
  if (Object.keys(params).length > 0) body.params = params;
  if (flags.pinVersion !== undefined) body.version = Number(flags.pinVersion);
  const r = await requireRemote(flags, io, 'schedule set').request<ScheduleResponse>(
    'PUT',
    `/api/v1/templates/${seg(template)}/schedule`,
    { body: JSON.stringify(body), contentType: 'application/json' },
  );
  if (flags.json) println(io.stdout, JSON.stringify(r.schedule, null, 2));
  else println(io.stdout, `scheduled ${describe(r.schedule)}`);
  return 0;
}

export async function scheduleListCommand(flags: ScheduleFlags, io: CliIO): Promise<number> {
  const { results } = await requireRemote(flags, io, 'schedule list').request<ScheduleList>(
    'GET',
    '/api/v1/schedules',
  );
  if (flags.json) {
    println(io.stdout, JSON.stringify(results, null, 2));
    return 0;
  }
  if (results.length === 0) {
    println(io.stdout, paint(styleOf(io), 'gray', 'no schedules'));
    return 0;
  }
  const rows = results.map((s) => [
    s.template,
    s.version === null ? 'newest' : String(s.version),
    s.cron,
    s.timezone,
    s.paused ? 'paused' : when(s.nextAt),
    s.lastJobId !== null
      ? `job ${s.lastJobId} at ${when(s.lastAt)}`
      : s.lastError
        ? `error: ${s.lastError}`
        : '-',
  ]);
  println(io.stdout, table(['TEMPLATE', 'VERSION', 'CRON', 'TIMEZONE', 'NEXT', 'LAST'], rows));
  return 0;
}

export async function scheduleShowCommand(
  template: string,
  flags: ScheduleFlags,
  io: CliIO,
): Promise<number> {
  const r = await requireRemote(flags, io, 'schedule show').request<ScheduleResponse>(
    'GET',
    `/api/v1/templates/${seg(template)}/schedule`,
  );
  println(io.stdout, flags.json ? JSON.stringify(r.schedule, null, 2) : describe(r.schedule));
  return 0;
}

export async function schedulePauseCommand(
  template: string,
  paused: boolean,
  flags: ScheduleFlags,
  io: CliIO,
): Promise<number> {
  const r = await requireRemote(
    flags,
    io,
    paused ? 'schedule pause' : 'schedule resume',
  ).request<ScheduleResponse>(
    'POST',
    `/api/v1/templates/${seg(template)}/schedule/${paused ? 'pause' : 'resume'}`,
  );
  println(io.stdout, describe(r.schedule));
  return 0;
}

export async function scheduleRemoveCommand(
  template: string,
  flags: RemoteFlags,
  io: CliIO,
): Promise<number> {
  await requireRemote(flags, io, 'schedule rm').request(
    'DELETE',
    `/api/v1/templates/${seg(template)}/schedule`,
  );
  println(io.stdout, `removed the schedule of template ${template}`);
  return 0;
}
