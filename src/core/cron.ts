/**
 * Cron expressions with a time zone: the five fields `minute hour day-of-month month day-of-week`
 * (or six, with `second` first, for schedules finer than a minute)
 * (`*`, lists `1,15`, ranges `1-5`, steps `*\/10` and `8-18/2`, month and day names `jan`, `mon`),
 * or `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`. As in Vixie cron, when both day fields
 * are restricted a day matches if either does. Times are wall-clock times in the zone: a time that
 * a DST change skips does not fire that day; one it repeats fires at the first of its two instants.
 */
import { JobhubError } from './errors.js';

export interface Cron {
  /** As written. */
  text: string;
  zone: string;
  /** Seconds it fires at within a minute (`0` for five fields). */
  seconds: ReadonlySet<number>;
  minutes: ReadonlySet<number>;
  hours: ReadonlySet<number>;
  days: ReadonlySet<number>;
  months: ReadonlySet<number>;
  weekdays: ReadonlySet<number>;
  /** Whether day-of-month / day-of-week were restricted (not `*`). */
  dayRestricted: boolean;
  weekdayRestricted: boolean;
}

const MACROS: Record<string, string> = {
  '@hourly': '0 * * * *',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@weekly': '0 0 * * 0',
  '@monthly': '0 0 1 * *',
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
};
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

interface FieldDef {
  what: string;
  min: number;
  max: number;
  names?: string[];
  /** The first name's value (months start at 1). */
  nameBase?: number;
}
const SECOND: FieldDef = { what: 'second', min: 0, max: 59 };
const FIELDS: FieldDef[] = [
  { what: 'minute', min: 0, max: 59 },
  { what: 'hour', min: 0, max: 23 },
  { what: 'day of month', min: 1, max: 31 },
  { what: 'month', min: 1, max: 12, names: MONTHS, nameBase: 1 },
  { what: 'day of week', min: 0, max: 7, names: DAYS, nameBase: 0 },
];

const bad = (text: string, why: string) =>
  new JobhubError('bad_request', `cron "${text}": ${why}`, [{ path: 'cron', message: why }]);

function value(token: string, f: FieldDef, text: string): number {
  const name = f.names?.indexOf(token.toLowerCase()) ?? -1;
  const n = name >= 0 ? name + (f.nameBase ?? 0) : /^\d+$/.test(token) ? Number(token) : Number.NaN;
  if (!Number.isInteger(n) || n < f.min || n > f.max) {
    throw bad(text, `"${token}" is not a ${f.what} (${f.min}-${f.max}${f.names ? ` or a name` : ''})`);
  }
  return n;
}

function field(part: string, f: FieldDef, text: string): Set<number> {
  const out = new Set<number>();
  for (const item of part.split(',')) {
    const [range = '', stepText] = item.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1)
      throw bad(text, `"${item}": the step must be a whole number of at least 1`);
    let lo: number;
    let hi: number;
    if (range === '*') {
      lo = f.min;
      hi = f.max === 7 ? 6 : f.max;
    } else if (range.includes('-')) {
      const [a = '', b = ''] = range.split('-');
      lo = value(a, f, text);
      hi = value(b, f, text);
      if (hi < lo) throw bad(text, `"${range}": the range runs backwards`);
    } else {
      lo = value(range, f, text);
      hi = stepText === undefined ? lo : f.max === 7 ? 6 : f.max;
    }
    for (let v = lo; v <= hi; v += step) out.add(f.max === 7 && v === 7 ? 0 : v); // 7 is Sunday too
  }
  return out;
}

/** Parses a cron expression for a time zone (IANA name, e.g. `Europe/Rome`; default UTC). */
export function parseCron(text: string, zone = 'UTC'): Cron {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
  } catch {
    throw new JobhubError(
      'bad_request',
      `"${zone}" is not a time zone: use an IANA name such as Europe/Rome`,
      [{ path: 'timezone', message: 'is not a time zone' }],
    );
  }
  const expanded = MACROS[text.trim().toLowerCase()] ?? text.trim();
  const all = expanded.split(/\s+/);
  if (all.length !== 5 && all.length !== 6) {
    throw bad(text, `needs 5 fields (minute hour day-of-month month day-of-week), found ${all.length}`);
  }
  const seconds = all.length === 6 ? field(all[0] ?? '', SECOND, text) : new Set([0]);
  const parts = all.slice(all.length - 5);
  const [m, h, dom, mon, dow] = parts.map((p, i) => field(p, FIELDS[i] as FieldDef, text));
  return {
    text,
    zone,
    seconds,
    minutes: m as Set<number>,
    hours: h as Set<number>,
    days: dom as Set<number>,
    months: mon as Set<number>,
    weekdays: dow as Set<number>,
    dayRestricted: parts[2] !== '*',
    weekdayRestricted: parts[4] !== '*',
  };
}

interface Wall {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  weekday: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function wallClock(ms: number, zone: string): Wall {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      weekday: 'short',
    });
    formatters.set(zone, f);
  }
  const p: Record<string, string> = {};
  for (const part of f.formatToParts(ms)) p[part.type] = part.value;
  return {
    year: Number(p.year),
    month: Number(p.month),
    day: Number(p.day),
    hour: Number(p.hour),
    minute: Number(p.minute),
    weekday: DAYS.indexOf((p.weekday ?? '').toLowerCase().slice(0, 3)),
  };
}

function dayMatches(c: Cron, w: Wall): boolean {
  if (!c.months.has(w.month)) return false;
  const dom = c.days.has(w.day);
  const dow = c.weekdays.has(w.weekday);
  if (c.dayRestricted && c.weekdayRestricted) return dom || dow;
  return dom && dow;
}

const MINUTE = 60_000;

/** Whether the minute starting at `t` is one the expression fires in (DST repeats excluded). */
function minuteMatches(c: Cron, t: number): boolean {
  const w = wallClock(t, c.zone);
  if (!dayMatches(c, w) || !c.hours.has(w.hour) || !c.minutes.has(w.minute)) return false;
  const before = wallClock(t - 60 * MINUTE, c.zone);
  return before.day !== w.day || before.hour !== w.hour || before.minute !== w.minute;
}

/** The first time strictly after `afterMs` that the expression fires (ms, on a whole second). */
export function nextFire(c: Cron, afterMs: number): number {
  // Later in the current minute, if that minute matches.
  const minuteStart = Math.floor(afterMs / MINUTE) * MINUTE;
  const inMinute = [...c.seconds].sort((a, b) => a - b).find((s) => minuteStart + s * 1000 > afterMs);
  if (inMinute !== undefined && minuteMatches(c, minuteStart)) return minuteStart + inMinute * 1000;
  const first = Math.min(...c.seconds) * 1000;
  let t = minuteStart + MINUTE;
  // Jumps a day or an hour at a time where nothing can match; 5 years covers any valid expression.
  const limit = afterMs + 5 * 366 * 24 * 60 * MINUTE;
  while (t <= limit) {
    const w = wallClock(t, c.zone);
    if (!dayMatches(c, w)) {
      t += ((23 - w.hour) * 60 + (60 - w.minute)) * MINUTE;
      continue;
    }
    if (!c.hours.has(w.hour)) {
      t += (60 - w.minute) * MINUTE;
      continue;
    }
    if (c.minutes.has(w.minute)) {
      // The second pass over a wall-clock hour that a DST change went back over: fired already.
      const before = wallClock(t - 60 * MINUTE, c.zone);
      if (before.day !== w.day || before.hour !== w.hour || before.minute !== w.minute) return t + first;
    }
    t += MINUTE;
  }
  throw bad(c.text, 'never fires (no such date)');
}
