/**
 * Once per vitest run: gives the fault suite a report file and prints its summary table at the end
 * (test/faults/support/fault-report.ts). Prints nothing when no fault test ran.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FaultRow } from './faults/support/fault-report.js';

const NUMBERS = ['injected', 'jobs', 'linesChecked', 'lost', 'doubled', 'leaked', 'serverErrors'] as const;
const HEADINGS = ['fault', 'injected', 'jobs', 'lines checked', 'lost', 'doubled', 'leaked', '5xx'];

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'jobhub-faults-'));
  const file = join(dir, 'report.jsonl');
  process.env.JOBHUB_FAULT_REPORT = file;
  return () => {
    try {
      if (existsSync(file)) console.log(faultTable(readRows(file)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

function readRows(file: string): FaultRow[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as FaultRow);
}

/** Rows summed per kind, then a total line. */
export function faultTable(rows: FaultRow[]): string {
  const byKind = new Map<string, FaultRow>();
  for (const row of rows) {
    const sum = byKind.get(row.kind);
    if (!sum) byKind.set(row.kind, { ...row });
    else for (const k of NUMBERS) sum[k] += row[k];
  }
  const total: FaultRow = {
    kind: 'total',
    injected: 0,
    jobs: 0,
    linesChecked: 0,
    lost: 0,
    doubled: 0,
    leaked: 0,
    serverErrors: 0,
  };
  for (const row of byKind.values()) for (const k of NUMBERS) total[k] += row[k];
  const lines = [...byKind.values(), total].map((r) => [r.kind, ...NUMBERS.map((k) => String(r[k]))]);
  const widths = HEADINGS.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  const fmt = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(' | ')} |`;
  return [
    '',
    'Fault suite summary',
    fmt(HEADINGS),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...lines.map(fmt),
    '',
  ].join('\n');
}
