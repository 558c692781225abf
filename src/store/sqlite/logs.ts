/** Task output lines. Agents may replay lines; (job, task, attempt, seq) identifies a line. */
import type { LogQuery, NewLogLine, StoredLogLine } from '../store.js';
import type { StatementCache } from './connection.js';
import { type LogRow, limitOf, logFromRow } from './rows.js';

export const DEFAULT_LOG_LIMIT = 10_000;

const LOG_COLUMNS = 'id, job_id, task_id, attempt, seq, ts, stream, text';

const INSERT_LOG = `
INSERT OR IGNORE INTO logs (job_id, task_id, attempt, seq, ts, stream, text)
VALUES (@job_id, @task_id, @attempt, @seq, @ts, @stream, @text)`;

interface LogListParams {
  job_id: number;
  task_id: number | null;
  after_id: number;
  limit: number;
}

export class LogStatements {
  constructor(private readonly st: StatementCache) {}

  /** Inserts the lines, skipping those already stored; returns how many were new. */
  append(lines: readonly NewLogLine[]): number {
    const stmt = this.st.get<[Omit<LogRow, 'id'>]>(INSERT_LOG);
    let added = 0;
    for (const l of lines) {
      added += stmt.run({
        job_id: l.jobId,
        task_id: l.taskId,
        attempt: l.attempt,
        seq: l.seq,
        ts: l.ts,
        stream: l.stream,
        text: l.text,
      }).changes;
    }
    return added;
  }

  /** Ascending id, within one job; optionally one task's lines only. */
  read(query: LogQuery): StoredLogLine[] {
    const byTask = query.taskId !== undefined;
    const stmt = this.st.getBuilt<[LogListParams], LogRow>(`logs.read:${byTask}`, () => {
      const where = ['job_id = @job_id', 'id > @after_id'];
      if (byTask) where.push('task_id = @task_id');
      return `SELECT ${LOG_COLUMNS} FROM logs WHERE ${where.join(' AND ')} ORDER BY id LIMIT @limit`;
    });
    return stmt
      .all({
        job_id: query.jobId,
        task_id: query.taskId ?? null,
        after_id: query.afterId ?? 0,
        limit: limitOf(query.limit, DEFAULT_LOG_LIMIT),
      })
      .map(logFromRow);
  }
}
