/** Locks (seed 002): state, capacity, holders and the queue of jobs waiting, first come first served. */
import { Status } from '../components/status.js';
import { when } from '../format.js';
import { useGet, useStream, useThrottled } from '../hooks.js';
import { Link } from '../router.js';
import type { LockEntry, LockView } from '../types.js';

function Entry({ e }: { e: LockEntry }) {
  return (
    <li>
      {e.jobId === null ? "another owner's job" : <Link href={`/jobs/${e.jobId}`}>job #{e.jobId}</Link>} (
      {e.mode}
      {e.since ? `, since ${when(e.since)}` : ''})
    </li>
  );
}

export function LocksPage() {
  const locks = useGet<{ results: LockView[] }>('/api/v1/locks');
  const reload = useThrottled(locks.reload, 500);
  useStream('/api/v1/events?follow=true&tail=true&type=lock.,job.status', reload);
  return (
    <section>
      <h1>Locks</h1>
      {locks.error && <p class="error">{locks.error}</p>}
      {locks.data?.results.length === 0 && <p class="empty">No lock is declared, held or wanted.</p>}
      <div class="cards">
        {locks.data?.results.map((l) => (
          <article class="card" key={l.name} data-lock={l.name}>
            <h2>
              {l.name} <Status status={l.state} />
            </h2>
            <p class="muted small">
              {l.capacity === null ? 'capacity not declared' : `capacity ${l.capacity}`}
            </p>
            <h3>Holders</h3>
            {l.holders.length === 0 ? (
              <p class="muted">none</p>
            ) : (
              <ul>
                {l.holders.map((e, i) => (
                  <Entry key={i} e={e} />
                ))}
              </ul>
            )}
            <h3>Queue</h3>
            {l.queue.length === 0 ? (
              <p class="muted">empty</p>
            ) : (
              <ol>
                {l.queue.map((e, i) => (
                  <Entry key={i} e={e} />
                ))}
              </ol>
            )}
          </article>
        ))}
      </div>
    </section>
  );
}
