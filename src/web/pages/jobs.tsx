/**
 * The job list: status, owner, template, labels, created, duration; the API's filters; live (each
 * job event reloads the page of jobs shown, at most a few times a second).
 */
import { useState } from 'preact/hooks';
import { ColumnHeads } from '../components/column-heads.js';
import { ErrorAlert } from '../components/error-alert.js';
import { LabelChips } from '../components/label-chips.js';
import { Status } from '../components/status.js';
import { span, when } from '../format.js';
import { useGet, useNow, useStream, useThrottled } from '../hooks.js';
import { Link, navigate } from '../router.js';
import type { JobList, JobStatus } from '../types.js';

const STATUSES: JobStatus[] = ['queued', 'running', 'stopping', 'succeeded', 'failed', 'stopped'];
/** Filters the list takes from the URL, as the API names them. */
const FIELDS = ['name', 'owner', 'label', 'template', 'submitter', 'createdAfter', 'createdBefore'] as const;
/** The filters behind "More filters", with their labels. */
const MORE: Array<[(typeof FIELDS)[number], string, 'text' | 'date']> = [
  ['owner', 'Owner', 'text'],
  ['label', 'Label (key=value)', 'text'],
  ['template', 'Template', 'text'],
  ['submitter', 'Submitter', 'text'],
  ['createdAfter', 'Created from', 'date'],
  ['createdBefore', 'Created before', 'date'],
];

function listPath(query: URLSearchParams): string {
  const q = new URLSearchParams();
  q.set('limit', '50');
  for (const s of query.getAll('status')) q.append('status', s);
  for (const f of FIELDS) {
    const v = query.get(f);
    if (v) q.set(f, v);
  }
  const cursor = query.get('cursor');
  if (cursor) q.set('cursor', cursor);
  return `/api/v1/jobs?${q.toString()}`;
}

/** The columns of the job list. */
const JOB_COLUMNS = ['Job', 'Status', 'Owner', 'Template', 'Labels', 'Created', 'Duration'];

export function JobsPage({ query }: { query: URLSearchParams }) {
  const path = listPath(query);
  const list = useGet<JobList>(path);
  const reload = useThrottled(list.reload, 300);
  useStream('/api/v1/events?follow=true&tail=true&type=job.', reload);
  const running = list.data?.results.some((j) => j.status === 'running' || j.status === 'stopping') ?? false;
  const now = useNow(1000, running);
  return (
    <section>
      <div class="page-head">
        <h1>Jobs</h1>
        <Link class="button" href="/submit">
          Submit a job
        </Link>
      </div>
      <Filters key={query.toString()} query={query} />
      <ErrorAlert message={list.error} />
      {list.data && list.data.results.length === 0 && <p class="empty">No jobs match.</p>}
      {list.data && list.data.results.length > 0 && (
        <div class="table-wrap">
          <table class="jobs">
            <caption class="sr-only">Jobs, newest first (updates live)</caption>
            <ColumnHeads names={JOB_COLUMNS} />
            <tbody>
              {list.data.results.map((j) => (
                <tr key={j.id} data-job={j.id}>
                  <td data-label="Job">
                    <Link href={`/jobs/${j.id}`}>
                      #{j.id} {j.name}
                    </Link>
                    {j.status === 'queued' && j.waitingFor && (
                      <div class="muted small">waits: {j.waitingFor}</div>
                    )}
                  </td>
                  <td data-label="Status">
                    <Status status={j.status} />
                  </td>
                  <td data-label="Owner">{j.owner?.name ?? '—'}</td>
                  <td data-label="Template">
                    {j.template ? `${j.template.name}@${j.template.version}` : ''}
                  </td>
                  <td data-label="Labels">
                    <LabelChips labels={j.labels} />
                  </td>
                  <td data-label="Created">
                    <time dateTime={j.createdAt}>{when(j.createdAt)}</time>
                  </td>
                  <td data-label="Duration">{span(j.startedAt, j.endedAt, now)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {list.data?.cursor && (
        <p>
          <Link href={`/jobs?${withParam(query, 'cursor', list.data.cursor)}`}>Older jobs</Link>
        </p>
      )}
      {query.get('cursor') && (
        <p>
          <Link href={`/jobs?${withParam(query, 'cursor', null)}`}>Newest jobs</Link>
        </p>
      )}
    </section>
  );
}

function withParam(query: URLSearchParams, key: string, value: string | null): string {
  const q = new URLSearchParams(query);
  if (value === null) q.delete(key);
  else q.set(key, value);
  return q.toString();
}

function Filters({ query }: { query: URLSearchParams }) {
  const [open, setOpen] = useState(FIELDS.some((f) => f !== 'name' && query.get(f)));
  const apply = (e: Event) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    const q = new URLSearchParams();
    for (const s of form.getAll('status')) q.append('status', String(s));
    for (const f of FIELDS) {
      const v = String(form.get(f) ?? '').trim();
      if (v) q.set(f, v);
    }
    navigate(`/jobs${q.size > 0 ? `?${q.toString()}` : ''}`);
  };
  const chosen = new Set(query.getAll('status'));
  return (
    <form class="filters" onSubmit={apply} aria-label="Filter jobs">
      <div class="row">
        <label for="f-name">Name (exact)</label>
        <input id="f-name" name="name" type="search" defaultValue={query.get('name') ?? ''} />
        <button type="submit">Search</button>
        <button type="button" class="link" aria-expanded={open} onClick={() => setOpen(!open)}>
          {open ? 'Fewer filters' : 'More filters'}
        </button>
      </div>
      <fieldset class="statuses">
        <legend>Status</legend>
        {STATUSES.map((s) => (
          <label key={s} class="check">
            <input type="checkbox" name="status" value={s} defaultChecked={chosen.has(s)} /> {s}
          </label>
        ))}
      </fieldset>
      {open && (
        <div class="grid">
          {MORE.map(([f, label, type]) => (
            <div key={f}>
              <label for={`f-${f}`}>{label}</label>
              {type === 'date' ? (
                <input id={`f-${f}`} name={f} type="date" defaultValue={query.get(f) ?? ''} />
              ) : (
                <input id={`f-${f}`} name={f} type="text" defaultValue={query.get(f) ?? ''} />
              )}
            </div>
          ))}
        </div>
      )}
    </form>
  );
}
