/**
 * Task output lines. Agents may replay lines; (job, task, attempt, seq) identifies a line.
 *
 * A job's log is read on with `afterId`, so, as for events, ids must become visible in order within a
 * job: appending takes a transaction-scoped advisory lock per job (in ascending job order, the only
 * locks these transactions take) before drawing ids. Appends for different jobs do not wait on each
 * other. New lines are announced on `jobhub_logs`, one notification per job: `{"jobId":1,"taskIds":[1,2]}`.
 */
import type { LogQuery, NewLogLine, StoredLogLine } from '../store.js';
import { type Db, query, StatementCache, statement } from './connection.js';
import { type LogRow, limitOf, logFromRow } from './rows.js';

export const DEFAULT_LOG_LIMIT = 10_000;

export const LOGS_CHANNEL = 'jobhub_logs';

/** Advisory lock class (first key of the two-int form) of the per-job log locks ('jh' 0002). */
export const LOGS_LOCK_CLASS = 0x6a680002;

/** Task ids per notification: ids are small integers, so a payload stays far below 8000 bytes. */
const NOTIFY_TASKS_MAX = 500;

const LOG_COLUMNS = 'id, job_id, task_id, attempt, seq, ts, stream, text';

const LOCK = statement(
  'logs_lock',
  `SELECT pg_advisory_xact_lock($1::int, hashtext(current_schema() || '/' || j::text))
   FROM unnest($2::bigint[]) WITH ORDINALITY AS u(j, ord) ORDER BY ord`,
);
// Duplicates, stored or within the batch, are skipped (the first one of a batch wins); the order of the
// batch is kept, so ids increase along it.
const INSERT = statement(
  'logs_insert',
  `INSERT INTO logs (job_id, task_id, attempt, seq, ts, stream, text)
   SELECT job_id, task_id, attempt, seq, ts, stream, text
   FROM unnest($1::bigint[], $2::int[], $3::int[], $4::bigint[], $5::bigint[], $6::text[], $7::text[])
        WITH ORDINALITY AS l(job_id, task_id, attempt, seq, ts, stream, text, ord)
   ORDER BY ord
   ON CONFLICT (job_id, task_id, attempt, seq) DO NOTHING
   RETURNING job_id, task_id`,
);
const NOTIFY = statement(
  'logs_notify',
  `SELECT pg_notify('${LOGS_CHANNEL}', p) FROM unnest($1::text[]) AS n(p)`,
);

export class LogStatements {
  private readonly built = new StatementCache();

  /** Inserts the lines, skipping those already stored; returns how many were new. Inside a transaction. */
  async append(c: Db, lines: readonly NewLogLine[]): Promise<number> {
    if (lines.length === 0) return 0;
    const jobIds = [...new Set(lines.map((l) => l.jobId))].sort((a, b) => a - b);
    await query(c, LOCK, [LOGS_LOCK_CLASS, jobIds]);
    const added = await query<{ job_id: number; task_id: number }>(c, INSERT, [
      lines.map((l) => l.jobId),
      lines.map((l) => l.taskId),
      lines.map((l) => l.attempt),
      lines.map((l) => l.seq),
      lines.map((l) => l.ts),
      lines.map((l) => l.stream),
      lines.map((l) => l.text),
    ]);
    if (added.length > 0) {
      const tasks = new Map<number, Set<number>>();
      for (const r of added) {
        const set = tasks.get(r.job_id) ?? new Set<number>();
        set.add(r.task_id);
        tasks.set(r.job_id, set);
      }
      // NOTIFY payloads must stay under 8000 bytes: a job with very many tasks gets several.
      const payloads: string[] = [];
      for (const [jobId, ids] of tasks) {
        const sorted = [...ids].sort((a, b) => a - b);
        for (let i = 0; i < sorted.length; i += NOTIFY_TASKS_MAX) {
          payloads.push(JSON.stringify({ jobId, taskIds: sorted.slice(i, i + NOTIFY_TASKS_MAX) }));
        }
      }
      await query(c, NOTIFY, [payloads]);
    }
    return added.length;
  }

  /** Ascending id, within one job; optionally one task's lines only; `beforeId` pages backwards. */
  async read(db: Db, q: LogQuery): Promise<StoredLogLine[]> {
    const byTask = q.taskId !== undefined;
    const back = q.beforeId !== undefined;
    const values: unknown[] = [q.jobId, q.afterId ?? 0, limitOf(q.limit, DEFAULT_LOG_LIMIT)];
    if (byTask) values.push(q.taskId);
    if (back) values.push(q.beforeId);
    const st = this.built.get(`logs_read_${byTask ? 't' : ''}${back ? 'b' : ''}`, () => {
      const where = ['job_id = $1', 'id > $2'];
      if (byTask) where.push('task_id = $4');
      if (back) where.push(`id < $${byTask ? 5 : 4}`);
      return `SELECT ${LOG_COLUMNS} FROM logs WHERE ${where.join(' AND ')} ORDER BY id ${back ? 'DESC' : ''} LIMIT $3`;
    });
    const rows = await query<LogRow>(db, st, values);
    if (back) rows.reverse();
    return rows.map(logFromRow);
  }
}
