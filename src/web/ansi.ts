/**
 * ANSI SGR colour codes in log text, turned into styled segments (rendered as text in spans, never
 * as HTML). Other escape sequences are dropped.
 */

export interface Segment {
  text: string;
  /** CSS classes: `fg-1`, `bg-4`, `bold`, `dim`, `italic`, `underline`. */
  classes: string;
  /** An explicit colour (256-colour or truecolour codes). */
  color?: string;
  background?: string;
}

interface Style {
  fg?: string;
  bg?: string;
  color?: string;
  background?: string;
  bold?: boolean;
  dim?: boolean;
  italic?: boolean;
  underline?: boolean;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: the escape character is what we look for
const ESCAPE = /\x1b\[([0-9;]*)([A-Za-z])/g;

const CUBE = [0, 95, 135, 175, 215, 255];

function color256(n: number): string | undefined {
  if (n < 16) return undefined;
  if (n >= 232) {
    const v = 8 + (n - 232) * 10;
    return `rgb(${v},${v},${v})`;
  }
  const i = n - 16;
  return `rgb(${CUBE[Math.floor(i / 36)]},${CUBE[Math.floor(i / 6) % 6]},${CUBE[i % 6]})`;
}

function apply(style: Style, params: number[]): Style {
  const s = { ...style };
  for (let i = 0; i < params.length; i++) {
    const p = params[i] ?? 0;
    if (p === 0) {
      for (const k of Object.keys(s)) delete s[k as keyof Style];
    } else if (p === 1) s.bold = true;
    else if (p === 2) s.dim = true;
    else if (p === 3) s.italic = true;
    else if (p === 4) s.underline = true;
    else if (p === 22) s.bold = s.dim = false;
    else if (p === 23) s.italic = false;
    else if (p === 24) s.underline = false;
    else if ((p >= 30 && p <= 37) || (p >= 90 && p <= 97)) {
      s.fg = String(p >= 90 ? p - 90 + 8 : p - 30);
      delete s.color;
    } else if (p === 39) {
      delete s.fg;
      delete s.color;
    } else if ((p >= 40 && p <= 47) || (p >= 100 && p <= 107)) {
      s.bg = String(p >= 100 ? p - 100 + 8 : p - 40);
      delete s.background;
    } else if (p === 49) {
      delete s.bg;
      delete s.background;
    } else if (p === 38 || p === 48) {
      const mode = params[i + 1];
      let value: string | undefined;
      let named: string | undefined;
      if (mode === 5) {
        const n = params[i + 2] ?? 0;
        value = color256(n);
        if (value === undefined) named = String(n);
        i += 2;
      } else if (mode === 2) {
        value = `rgb(${params[i + 2] ?? 0},${params[i + 3] ?? 0},${params[i + 4] ?? 0})`;
        i += 4;
      }
      if (p === 38) {
        s.color = value;
        s.fg = named;
      } else {
        s.background = value;
        s.bg = named;
      }
    }
  }
  return s;
}

function segment(text: string, s: Style): Segment {
  const classes = [
    s.fg !== undefined ? `fg-${s.fg}` : '',
    s.bg !== undefined ? `bg-${s.bg}` : '',
    s.bold ? 'bold' : '',
    s.dim ? 'dim' : '',
    s.italic ? 'italic' : '',
    s.underline ? 'underline' : '',
  ]
    .filter((c) => c !== '')
    .join(' ');
  return {
    text,
    classes,
    ...(s.color !== undefined ? { color: s.color } : {}),
    ...(s.background !== undefined ? { background: s.background } : {}),
  };
}

/** Splits a line into segments by its SGR codes; other control sequences are removed. */
export function parseAnsi(line: string): Segment[] {
  const out: Segment[] = [];
  let style: Style = {};
  let last = 0;
  ESCAPE.lastIndex = 0;
  for (let m = ESCAPE.exec(line); m !== null; m = ESCAPE.exec(line)) {
    if (m.index > last) out.push(segment(line.slice(last, m.index), style));
    if (m[2] === 'm') {
      const params = (m[1] ?? '') === '' ? [0] : (m[1] ?? '').split(';').map((n) => Number(n) || 0);
      style = apply(style, params);
    }
    last = m.index + m[0].length;
  }
  if (last < line.length) out.push(segment(line.slice(last), style));
  return out;
}

/** The text without escape sequences (for search). */
export function stripAnsi(line: string): string {
  return line.replace(ESCAPE, '');
}
