/** The event log: appended in the same transaction as the change it records, read by seq. */
import type { EventQuery, EventRecord, NewEvent } from '../store.js';
import type { StatementCache } from './connection.js';
import { type EventRow, eventFromRow, eventToRow, limitOf } from './rows.js';

export const DEFAULT_EVENT_LIMIT = 1000;

const EVENT_COLUMNS = 'seq, ts, type, job_id, node_id, stage, task_id, from_state, to_state, data_json';

const INSERT_EVENT = `
INSERT INTO events (ts, type, job_id, node_id, stage, task_id, from_state, to_state, data_json)
VALUES (@ts, @type, @job_id, @node_id, @stage, @task_id, @from_state, @to_state, @data_json)`;

interface EventListParams {
  job_id: number | null;
  node_id: string | null;
  types: string | null;
  after_seq: number;
  limit: number;
}

export class EventStatements {
  constructor(private readonly st: StatementCache) {}

  /** Appends one event; returns it as `listEvents` would (with its seq, without absent fields). */
  insert(event: NewEvent): EventRecord {
    const row = eventToRow(event);
    const res = this.st.get<[Omit<EventRow, 'seq'>]>(INSERT_EVENT).run(row);
    return eventFromRow({ ...row, seq: Number(res.lastInsertRowid) });
  }

  lastSeq(): number {
    return this.st.get<[], { seq: number | null }>('SELECT MAX(seq) AS seq FROM events').get()?.seq ?? 0;
  }

  insertAll(events: readonly NewEvent[]): EventRecord[] {
    return events.map((e) => this.insert(e));
  }

  /** Ascending seq. One statement per combination of the job/node filters, so each uses its index. */
  list(query: EventQuery): EventRecord[] {
    const byJob = query.jobId !== undefined;
    const byNode = query.nodeId !== undefined;
    const byType = query.types !== undefined && query.types.length > 0;
    const stmt = this.st.getBuilt<[EventListParams], EventRow>(
      `events.list:${byJob}:${byNode}:${byType}`,
      () => {
        const where = ['seq > @after_seq'];
        if (byJob) where.push('job_id = @job_id');
        if (byNode) where.push('node_id = @node_id');
        // Prefixes: `task.` matches every task event; `job.status` that type only.
        if (byType)
          where.push(
            'EXISTS (SELECT 1 FROM json_each(@types) AS t WHERE substr(events.type, 1, length(t.value)) = t.value)',
          );
        return `SELECT ${EVENT_COLUMNS} FROM events WHERE ${where.join(' AND ')} ORDER BY seq LIMIT @limit`;
      },
    );
    return stmt
      .all({
        job_id: query.jobId ?? null,
        node_id: query.nodeId ?? null,
        types: byType ? JSON.stringify(query.types) : null,
        after_seq: query.afterSeq ?? 0,
        limit: limitOf(query.limit, DEFAULT_EVENT_LIMIT),
      })
      .map(eventFromRow);
  }
}
