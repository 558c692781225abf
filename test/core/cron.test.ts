import { describe, expect, it } from 'vitest';
import { nextFire, parseCron } from '../../src/core/cron.js';
import { JobhubError } from '../../src/core/errors.js';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();

/** The next n fire times after `from`. */
function fires(expr: string, zone: string, from: string, n: number): string[] {
  const c = parseCron(expr, zone);
  const out: string[] = [];
  let t = at(from);
  for (let i = 0; i < n; i++) {
    t = nextFire(c, t);
    out.push(iso(t));
  }
  return out;
}

describe('cron', () => {
  it('fires on the minutes, hours and weekdays it names, strictly after the given time', () => {
    expect(fires('*/15 9-10 * * mon-fri', 'UTC', '2026-11-27T10:40:00Z', 4)).toEqual([
      '2026-11-27T10:45:00.000Z', // Friday
      '2026-11-30T09:00:00.000Z', // Monday
      '2026-11-30T09:15:00.000Z',
      '2026-11-30T09:30:00.000Z',
    ]);
    expect(fires('0 0 * * *', 'UTC', '2026-11-24T00:00:00Z', 1)).toEqual(['2026-11-25T00:00:00.000Z']);
    expect(fires('@monthly', 'UTC', '2026-11-24T00:00:00Z', 2)).toEqual([
      '2026-12-01T00:00:00.000Z',
      '2027-01-01T00:00:00.000Z',
    ]);
  });

  it('matches either day field when both are restricted (Vixie cron), and takes 7 as Sunday', () => {
    // The 1st of the month, or any Sunday.
    expect(fires('0 12 1 * 7', 'UTC', '2026-11-24T00:00:00Z', 3)).toEqual([
      '2026-11-29T12:00:00.000Z',
      '2026-12-01T12:00:00.000Z',
      '2026-12-06T12:00:00.000Z',
    ]);
  });

  it('reads wall-clock time in the zone, across DST changes, firing a repeated time once', () => {
    expect(fires('30 9 * * *', 'Europe/Rome', '2026-11-24T00:00:00Z', 1)).toEqual([
      '2026-11-24T08:30:00.000Z',
    ]);
    // 2026-03-29: 02:00 -> 03:00 in Rome; 02:30 does not exist that day.
    expect(fires('30 2 * * *', 'Europe/Rome', '2026-03-28T12:00:00Z', 2)).toEqual([
      '2026-03-30T00:30:00.000Z',
      '2026-03-31T00:30:00.000Z',
    ]);
    // 2026-10-25: 03:00 -> 02:00; 02:30 happens twice, fires at the first.
    expect(fires('30 2 * * *', 'Europe/Rome', '2026-10-24T12:00:00Z', 2)).toEqual([
      '2026-10-25T00:30:00.000Z',
      '2026-10-26T01:30:00.000Z',
    ]);
  });

  it('takes a sixth field of seconds, first', () => {
    expect(fires('*/20 * * * * *', 'UTC', '2026-11-24T10:00:05Z', 4)).toEqual([
      '2026-11-24T10:00:20.000Z',
      '2026-11-24T10:00:40.000Z',
      '2026-11-24T10:01:00.000Z',
      '2026-11-24T10:01:20.000Z',
    ]);
    expect(fires('30 0 12 * * *', 'UTC', '2026-11-24T12:00:30Z', 1)).toEqual(['2026-11-25T12:00:30.000Z']);
  });

  it('refuses bad expressions and zones, saying what is wrong', () => {
    const message = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(JobhubError);
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(message(() => parseCron('* * *'))).toBe(
      'cron "* * *": needs 5 fields (minute hour day-of-month month day-of-week), found 3',
    );
    expect(message(() => parseCron('61 * * * *'))).toMatch(/"61" is not a minute \(0-59\)/);
    expect(message(() => parseCron('0 0 * foo *'))).toMatch(/"foo" is not a month/);
    expect(message(() => parseCron('*/0 * * * *'))).toMatch(/step must be/);
    expect(message(() => parseCron('0 0 * * *', 'Mars/Olympus'))).toMatch(
      /"Mars\/Olympus" is not a time zone/,
    );
    expect(message(() => nextFire(parseCron('0 0 31 2 *'), 0))).toMatch(/never fires/);
  });
});
