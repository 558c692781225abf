/**
 * The event log: appended in the same transaction as the change it records, read by seq.
 *
 * Readers follow the log with `afterSeq` (other replicas do, woken by `jobhub_events`), so an event
 * must never become visible after one with a larger seq. A BIGSERIAL alone does not ensure that: two
 * transactions take seqs 9 and 10, the one with 10 commits first, a reader moves past 10 and never sees
 * 9. So appending takes a transaction-scoped advisory lock (one per schema) just before it draws seqs,
 * held until COMMIT: seqs are drawn in commit order. It is the last lock a writing transaction takes
 * (the events are written after every row change), so it cannot be part of a deadlock; it only
 * serializes the last round trips of the writes that append events.
 */
import type { EventQuery, EventRecord, NewEvent } from '../store.js';
import { type Db, query, StatementCache, statement } from './connection.js';
import { type EventRow, eventFromRow, eventToRow, limitOf } from './rows.js';

export const DEFAULT_EVENT_LIMIT = 1000;

/** The notification channel: payload is the largest seq the transaction appended, as text. */
export const EVENTS_CHANNEL = 'jobhub_events';

/** Advisory lock class (first key of the two-int form) of the event log lock ('jh' 0001). */
export const EVENTS_LOCK_CLASS = 0x6a680001;

const EVENT_COLUMNS = 'seq, ts, type, job_id, node_id, stage, task_id, from_state, to_state, data_json';

const LOCK = statement('events_lock', 'SELECT pg_advisory_xact_lock($1::int, hashtext(current_schema()))');
// One statement for any number of events; WITH ORDINALITY ... ORDER BY keeps the given order, so the
// seqs (drawn as rows are inserted) increase along the list. The notification (delivered at COMMIT)
// goes in the same statement, one round trip less per write; `note` is referenced so that it runs.
const INSERT = statement(
  'events_insert_notify',
  `WITH ins AS (
     INSERT INTO events (ts, type, job_id, node_id, stage, task_id, from_state, to_state, data_json)
     SELECT ts, type, job_id, node_id, stage, task_id, from_state, to_state, data_json
     FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::int[], $7::text[],
                 $8::text[], $9::jsonb[])
          WITH ORDINALITY AS e(ts, type, job_id, node_id, stage, task_id, from_state, to_state, data_json, ord)
     ORDER BY ord
     RETURNING seq),
   note AS (SELECT pg_notify('${EVENTS_CHANNEL}', max(seq)::text) FROM ins HAVING count(*) > 0)
   SELECT seq FROM ins, (SELECT count(*) FROM note) AS noted`,
);
const LAST_SEQ = statement('events_last', 'SELECT COALESCE(MAX(seq), 0) AS seq FROM events');

export class EventStatements {
  private readonly built = new StatementCache();

  /**
   * Appends the events in order and notifies `jobhub_events` (delivered at COMMIT); returns them as
   * `listEvents` would (with their seq, without absent fields). Must run inside a transaction.
   */
  async append(c: Db, events: readonly NewEvent[]): Promise<EventRecord[]> {
    if (events.length === 0) return [];
    const rows = events.map(eventToRow);
    await query(c, LOCK, [EVENTS_LOCK_CLASS]);
    const inserted = await query<{ seq: number }>(c, INSERT, [
      rows.map((r) => r.ts),
      rows.map((r) => r.type),
      rows.map((r) => r.job_id),
      rows.map((r) => r.node_id),
      rows.map((r) => r.stage),
      rows.map((r) => r.task_id),
      rows.map((r) => r.from_state),
      rows.map((r) => r.to_state),
      rows.map((r) => r.data_json),
    ]);
    // Drawn in insertion order, so ascending seqs pair with the events in order.
    const seqs = inserted.map((r) => r.seq).sort((a, b) => a - b);
    const last = seqs[seqs.length - 1];
    if (seqs.length !== rows.length || last === undefined) {
      throw new Error(`inserted ${seqs.length} of ${rows.length} events`);
    }
    return rows.map((r, i) =>
      eventFromRow({
        ...r,
        seq: seqs[i] as number,
        data_json: r.data_json === null ? null : (JSON.parse(r.data_json) as unknown),
      }),
    );
  }

  async lastSeq(db: Db): Promise<number> {
    return (await query<{ seq: number }>(db, LAST_SEQ))[0]?.seq ?? 0;
  }

  /** Ascending seq. One statement per combination of the filters, so each uses its index. */
  async list(db: Db, q: EventQuery): Promise<EventRecord[]> {
    const byJob = q.jobId !== undefined;
    const byNode = q.nodeId !== undefined;
    const byType = q.types !== undefined && q.types.length > 0;
    const values: unknown[] = [q.afterSeq ?? 0, limitOf(q.limit, DEFAULT_EVENT_LIMIT)];
    if (byJob) values.push(q.jobId);
    if (byNode) values.push(q.nodeId);
    if (byType) values.push(q.types);
    const st = this.built.get(
      `events_list_${byJob ? 'j' : ''}${byNode ? 'n' : ''}${byType ? 't' : ''}`,
      () => {
        const where = ['seq > $1'];
        let n = 2;
        if (byJob) where.push(`job_id = $${++n}`);
        if (byNode) where.push(`node_id = $${++n}`);
        // Prefixes: `task.` matches every task event; `job.status` that type only.
        if (byType)
          where.push(
            `EXISTS (SELECT 1 FROM unnest($${++n}::text[]) AS p(prefix) WHERE starts_with(type, prefix))`,
          );
        return `SELECT ${EVENT_COLUMNS} FROM events WHERE ${where.join(' AND ')} ORDER BY seq LIMIT $2`;
      },
    );
    return (await query<EventRow>(db, st, values)).map(eventFromRow);
  }
}
