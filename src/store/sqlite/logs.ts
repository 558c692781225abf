/** Task output lines. Agents may replay lines; (job, task, attempt, seq) identifies a line. */
import type { LogQuery, NewLogLine, StoredLogLine } from '../store.js';
import type { StatementCache } from './connection.js';
import { type LogRow, limitOf, logFromRow } from './rows.js';

export const DEFAULT_LOG_LIMIT = 10_000;

const LOG_COLUMNS = 'id, job_id, task_id, attempt, seq, ts, stream, text';

const LOG_VALUES = '(?, ?, ?, ?, ?, ?, ?)';
const INSERT_LOG = 'INSERT OR IGNORE INTO logs (job_id, task_id, attempt, seq, ts, stream, text) VALUES ';

/**
 * Lines per INSERT statement. One row per statement spends most of its time crossing from JS into
 * SQLite and binding; many rows per statement with positional parameters store about twice as many
 * lines a second (7 × 64 parameters stays far below SQLite's limit of 32,766).
 */
const ROWS_PER_INSERT = 64;

interface LogListParams {
  job_id: number;
  task_id: number | null;
  after_id: number;
  before_id: number | null;
  limit: number;
}

export class LogStatements {
  constructor(private readonly st: StatementCache) {}

  /** Inserts the lines, skipping those already stored; returns how many were new. */
  append(lines: readonly NewLogLine[]): number {
    let added = 0;
    for (let at = 0; at < lines.length; at += ROWS_PER_INSERT) {
      const n = Math.min(ROWS_PER_INSERT, lines.length - at);
      const stmt = this.st.getBuilt<unknown[]>(
        `logs.insert:${n}`,
        () =>
          // Rows go in the order given, so ids increase along the batch.
          `${INSERT_LOG}${new Array<string>(n).fill(LOG_VALUES).join(', ')}`,
      );
      const values: Array<number | string> = new Array(n * 7);
      for (let i = 0; i < n; i++) {
        const l = lines[at + i] as NewLogLine;
        const o = i * 7;
        values[o] = l.jobId;
        values[o + 1] = l.taskId;
        values[o + 2] = l.attempt;
        values[o + 3] = l.seq;
        values[o + 4] = l.ts;
        values[o + 5] = l.stream;
        values[o + 6] = l.text;
      }
      added += stmt.run(values).changes;
    }
    return added;
  }

  /** Ascending id, within one job; optionally one task's lines only; `beforeId` pages backwards. */
  read(query: LogQuery): StoredLogLine[] {
    const byTask = query.taskId !== undefined;
    const back = query.beforeId !== undefined;
    const stmt = this.st.getBuilt<[LogListParams], LogRow>(`logs.read:${byTask}:${back}`, () => {
      const where = ['job_id = @job_id', 'id > @after_id'];
      if (byTask) where.push('task_id = @task_id');
      if (back) where.push('id < @before_id');
      return `SELECT ${LOG_COLUMNS} FROM logs WHERE ${where.join(' AND ')} ORDER BY id ${back ? 'DESC' : ''} LIMIT @limit`;
    });
    const rows = stmt.all({
      job_id: query.jobId,
      task_id: query.taskId ?? null,
      after_id: query.afterId ?? 0,
      before_id: query.beforeId ?? null,
      limit: limitOf(query.limit, DEFAULT_LOG_LIMIT),
    });
    if (back) rows.reverse();
    return rows.map(logFromRow);
  }
}
