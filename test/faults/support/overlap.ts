/**
 * "A task never runs twice at once", measured by the tasks themselves: a ticking task appends
 * `<JOBHUB_TASK_TAG> <ms since epoch>` to a file every few tens of milliseconds while it runs (the
 * tag is `<nodeId>/<jobId>/<taskId>/<attempt>`, see src/agent/reaper.ts). Each attempt's run is the
 * span from its first to its last tick; two attempts of one task whose spans meet ran at once.
 */
import { existsSync, readFileSync } from 'node:fs';
import { type CheckResult, emptyResult } from './invariants.js';

/**
 * A shell command that prints `line 1`..`line <lines>` (for checkLogsExactlyOnce) and ticks into
 * `file` between lines, `everyS` seconds apart.
 */
export function tickingCommand(file: string, lines: number, everyS = 0.05): string {
  return `for i in $(seq 1 ${lines}); do echo line $i; echo "$JOBHUB_TASK_TAG $(date +%s%3N)" >> ${file}; sleep ${everyS}; done`;
}

export interface AttemptSpan {
  /** `<nodeId>/<attempt>` */
  run: string;
  first: number;
  last: number;
  ticks: number;
}

/** Each task's attempts (by `<jobId>/<taskId>`) with the span they ticked over. */
export function readSpans(file: string): Map<string, AttemptSpan[]> {
  const byRun = new Map<string, { task: string; span: AttemptSpan }>();
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  for (const line of text.split('\n')) {
    const m = /^([^/\s]+)\/(\d+)\/(\d+)\/(\d+) (\d+)$/.exec(line.trim());
    if (!m) continue;
    const [, node, job, task, attempt, ms] = m;
    const key = `${node}/${job}/${task}/${attempt}`;
    const at = Number(ms);
    const seen = byRun.get(key);
    if (seen) {
      seen.span.first = Math.min(seen.span.first, at);
      seen.span.last = Math.max(seen.span.last, at);
      seen.span.ticks++;
    } else
      byRun.set(key, {
        task: `${job}/${task}`,
        span: { run: `${node}/${attempt}`, first: at, last: at, ticks: 1 },
      });
  }
  const out = new Map<string, AttemptSpan[]>();
  for (const { task, span } of byRun.values()) out.set(task, [...(out.get(task) ?? []), span]);
  return out;
}

/** Attempts of one task whose spans overlap count as doubled; `checked` is the attempts seen. */
export function checkNoOverlap(file: string): CheckResult & { attempts: number } {
  const r = emptyResult();
  let attempts = 0;
  for (const [task, spans] of readSpans(file)) {
    attempts += spans.length;
    const sorted = [...spans].sort((a, b) => a.first - b.first);
    for (let i = 1; i < sorted.length; i++) {
      const before = sorted[i - 1];
      const after = sorted[i];
      if (before && after && after.first <= before.last) {
        r.doubled++;
        r.problems.push(
          `task ${task}: attempt ${after.run} started at ${after.first} while ${before.run} still ran (last tick ${before.last})`,
        );
      }
    }
  }
  r.checked = attempts;
  return { ...r, attempts };
}
