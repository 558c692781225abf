/** Tables as Markdown (for latest.md and the README) and as plain text (for the terminal). */
import type { Ratio, Table, Target } from './scenario.js';
import { fmt } from './stats.js';

function esc(cell: string): string {
  return cell.replace(/\|/g, '\\|');
}

export function markdownTable(t: Table): string {
  const lines = [
    `**${t.title}**`,
    '',
    `| ${t.head.map(esc).join(' | ')} |`,
    `|${t.head.map(() => ' --- ').join('|')}|`,
  ];
  for (const r of t.rows) lines.push(`| ${r.map(esc).join(' | ')} |`);
  return lines.join('\n');
}

export function textTable(t: Table): string {
  const widths = t.head.map((h, i) => Math.max(h.length, ...t.rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [t.title, line(t.head), widths.map((w) => '-'.repeat(w)).join('  '), ...t.rows.map(line)].join('\n');
}

export function ratioTable(ratios: Ratio[]): Table {
  return {
    title: 'Ratios (jobhub / baseline, on medians; min–max of the per-repetition ratios)',
    head: ['comparison', 'ratio', 'min–max', 'reading'],
    rows: ratios.map((r) => [
      r.what,
      `${fmt(r.value)}×`,
      Number.isFinite(r.min) ? `${fmt(r.min)}–${fmt(r.max)}` : '–',
      r.better === 'higher' ? 'higher is better for jobhub' : 'lower is better for jobhub',
    ]),
  };
}

export function targetTable(targets: Target[]): Table {
  return {
    title: 'Targets (measured in this run)',
    head: ['target', 'goal', 'measured', 'result'],
    rows: targets.map((t) => [
      t.what,
      t.goal,
      t.measured,
      t.met === null ? 'not measured' : t.met ? 'met' : 'MISSED',
    ]),
  };
}
