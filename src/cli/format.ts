/** Terminal formatting: status marks and colours (off without a TTY or with NO_COLOR), tables. */
import { formatDuration } from '../core/duration.js';

export interface Style {
  color: boolean;
}

const CODES = { red: 31, green: 32, yellow: 33, blue: 34, magenta: 35, cyan: 36, gray: 90, bold: 1 } as const;
export type Color = keyof typeof CODES;

export function paint(style: Style, color: Color, text: string): string {
  return style.color ? `\x1b[${CODES[color]}m${text}\x1b[0m` : text;
}

const MARKS: Record<string, [string, Color]> = {
  queued: ['·', 'gray'],
  running: ['▶', 'blue'],
  stopping: ['■', 'yellow'],
  ready: ['◉', 'cyan'],
  succeeded: ['✓', 'green'],
  failed: ['✗', 'red'],
  stopped: ['■', 'yellow'],
  skipped: ['–', 'gray'],
  lost: ['?', 'magenta'],
  idle: ['○', 'green'],
  busy: ['●', 'blue'],
  draining: ['◌', 'yellow'],
  down: ['✗', 'red'],
  left: ['–', 'gray'],
};

export function mark(style: Style, status: string): string {
  const [m, c] = MARKS[status] ?? ['?', 'gray'];
  return paint(style, c, m);
}

export function statusText(style: Style, status: string): string {
  const [, c] = MARKS[status] ?? ['?', 'gray'];
  return paint(style, c, status);
}

export function elapsed(start: number | null, end: number | null, now: number): string {
  if (start === null) return '';
  return formatDuration((end ?? now) - start);
}

export function time(ms: number | null): string {
  if (ms === null) return '';
  const d = new Date(ms);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function clock(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** Visible width, ignoring colour codes. */
export function visibleLength(s: string): number {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes are what we strip
  return s.replace(/\x1b\[[0-9;]*m/g, '').length;
}

/** Cuts a line to `width` visible characters, keeping colour codes balanced. */
export function truncate(s: string, width: number): string {
  if (visibleLength(s) <= width) return s;
  let out = '';
  let seen = 0;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes are kept whole
  for (const part of s.split(/(\x1b\[[0-9;]*m)/)) {
    if (part.startsWith('\x1b[')) {
      out += part;
      continue;
    }
    const room = width - 1 - seen;
    if (room <= 0) continue;
    out += part.slice(0, room);
    seen += Math.min(part.length, room);
  }
  return `${out}…\x1b[0m`;
}

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => visibleLength(r[i] ?? ''))));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat((widths[i] ?? 0) - visibleLength(c))))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}
