/** A job's events as a timeline, newest last, followed live until the job ends. */
import { useState } from 'preact/hooks';
import { when } from '../format.js';
import { useStream } from '../hooks.js';
import type { EventView } from '../types.js';

function describe(e: EventView): string {
  const what = [e.stage, e.taskId !== undefined ? `task ${e.taskId}` : undefined, e.nodeId]
    .filter((x) => x !== undefined)
    .join(' · ');
  const change = e.from !== undefined || e.to !== undefined ? `${e.from ?? '∅'} → ${e.to ?? '∅'}` : '';
  const reason = typeof e.data?.reason === 'string' ? e.data.reason : '';
  return [what, change, reason].filter((x) => x !== '').join('  ');
}

export function Timeline({ jobId, onEvent }: { jobId: number; onEvent(e: EventView): void }) {
  const [events, setEvents] = useState<EventView[]>([]);
  useStream(`/api/v1/jobs/${jobId}/events?follow=true`, (msg) => {
    if (msg.event === 'end') {
      onEvent({ seq: 0, type: 'job.status', ts: new Date().toISOString() });
      return;
    }
    const e = JSON.parse(msg.data) as EventView;
    setEvents((es) => ((es[es.length - 1]?.seq ?? 0) >= e.seq ? es : [...es, e]));
    onEvent(e);
  });
  return (
    <ol class="timeline" aria-label="Events">
      {events.map((e) => (
        <li key={e.seq} class={`ev ev-${e.type.replace(/\W/g, '-')}`}>
          <time dateTime={e.ts}>{when(e.ts)}</time> <strong>{e.type}</strong> <span>{describe(e)}</span>
        </li>
      ))}
      {events.length === 0 && <li class="muted">No events yet.</li>}
    </ol>
  );
}
