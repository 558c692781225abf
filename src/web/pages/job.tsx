/**
 * One job: summary and actions (stop, retry: shown when the token may), why it waits, its stage
 * graph, its tasks, a task's live log, its events, files and plan. Live: each event of the job
 * reloads its detail.
 */
import { useEffect, useState } from 'preact/hooks';
import { ApiError } from '../api.js';
import { ColumnHeads } from '../components/column-heads.js';
import { ErrorAlert } from '../components/error-alert.js';
import { Files } from '../components/files.js';
import { StageGraph } from '../components/graph.js';
import { LabelChips } from '../components/label-chips.js';
import { LogView } from '../components/log-view.js';
import { Status } from '../components/status.js';
import { Timeline } from '../components/timeline.js';
import { span, when } from '../format.js';
import { useGet, useNow, useThrottled } from '../hooks.js';
import { Link, navigate } from '../router.js';
import { mayChange, useSession } from '../session-context.js';
import type { FileView, JobDetail, LockView, PlanView, TaskView } from '../types.js';

const FINAL = new Set(['succeeded', 'failed', 'stopped']);

/** The columns of the task table. */
const TASK_COLUMNS = ['Stage', 'Node', 'Task', 'Status', 'Time', 'Exit', 'Log'];

export function JobPage({ id, task }: { id: number; task?: string | undefined }) {
  const { api, me } = useSession();
  const detail = useGet<JobDetail>(`/api/v1/jobs/${id}`);
  const files = useGet<{ files: FileView[] }>(`/api/v1/jobs/${id}/files`);
  const reload = useThrottled(() => {
    detail.reload();
    files.reload();
  }, 250);
  const [actionError, setActionError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const job = detail.data;
  const live = job ? !FINAL.has(job.status) : true;
  const now = useNow(1000, live);
  const shown = job !== undefined;
  // Opening a task's log (from the graph or the table) brings the log into view.
  useEffect(() => {
    if (task !== undefined && shown) document.getElementById('log')?.scrollIntoView({ block: 'start' });
  }, [task, shown]);

  if (detail.error && !job) {
    return (
      <section>
        <h1>Job {id}</h1>
        <ErrorAlert message={detail.error} />
        <p>
          <Link href="/jobs">Back to the jobs</Link>
        </p>
      </section>
    );
  }
  if (!job) return <p class="loading">Loading job {id}…</p>;

  const act = async (what: 'stop' | 'retry') => {
    setBusy(true);
    setActionError(undefined);
    try {
      if (what === 'stop') {
        await api.post(`/api/v1/jobs/${id}/stop`);
        detail.reload();
      } else {
        const made = await api.post<{ id: number }>(`/api/v1/jobs/${id}/retry`);
        navigate(`/jobs/${made.id}`);
      }
    } catch (err) {
      setActionError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  const canChange = mayChange(me, job);
  const tasks: Array<TaskView & { stage: string; node: string }> = job.stages.flatMap((s) =>
    s.nodes.flatMap((n) => n.tasks.map((t) => ({ ...t, stage: s.name, node: n.name }))),
  );
  const selected = task !== undefined ? tasks.find((t) => String(t.id) === task) : undefined;

  return (
    <section class="job">
      <div class="page-head">
        <h1>
          Job #{job.id} {job.name} <Status status={job.status} />
        </h1>
        <div class="actions">
          {canChange && live && (
            <button
              type="button"
              class="danger"
              disabled={busy || job.status === 'stopping'}
              onClick={() => void act('stop')}
            >
              Stop
            </button>
          )}
          {canChange && !live && (
            <button type="button" disabled={busy} onClick={() => void act('retry')}>
              Retry
            </button>
          )}
        </div>
      </div>
      <ErrorAlert message={actionError} />
      <dl class="facts">
        <dt>Owner</dt>
        <dd>{job.owner?.name ?? '—'}</dd>
        <dt>Submitter</dt>
        <dd>{job.submitter ?? '—'}</dd>
        {job.template && (
          <>
            <dt>Template</dt>
            <dd>
              <Link href={`/templates/${encodeURIComponent(job.template.name)}`}>
                {job.template.name}@{job.template.version}
              </Link>
            </dd>
          </>
        )}
        <dt>Created</dt>
        <dd>{when(job.createdAt)}</dd>
        <dt>Duration</dt>
        <dd>{span(job.startedAt, job.endedAt, now) || '—'}</dd>
        {Object.keys(job.labels).length > 0 && (
          <>
            <dt>Labels</dt>
            <dd>
              <LabelChips labels={job.labels} />
            </dd>
          </>
        )}
        {job.retryOf !== null && (
          <>
            <dt>Retry of</dt>
            <dd>
              <Link href={`/jobs/${job.retryOf}`}>#{job.retryOf}</Link>
            </dd>
          </>
        )}
        {job.reason && (
          <>
            <dt>Reason</dt>
            <dd>{job.reason}</dd>
          </>
        )}
      </dl>
      {job.status === 'queued' && <Waiting jobId={job.id} waitingFor={job.waitingFor} held={job.held} />}

      <h2>Graph</h2>
      <StageGraph jobId={job.id} stages={job.stages} now={now} />

      {selected && (
        <>
          <h2 id="log">
            Log: {selected.stage}/{selected.node}/{selected.name}
          </h2>
          <LogView key={selected.id} jobId={job.id} taskId={selected.id} live={live} />
        </>
      )}

      <h2>Tasks</h2>
      <div class="table-wrap">
        <table class="tasks">
          <ColumnHeads names={TASK_COLUMNS} />
          <tbody>
            {tasks.map((t) => (
              <tr key={t.id} data-task={t.id} aria-current={selected?.id === t.id ? 'true' : undefined}>
                <td data-label="Stage">{t.stage}</td>
                <td data-label="Node">{t.node}</td>
                <td data-label="Task">
                  {t.name}
                  {t.longRunning ? ' (long-running)' : ''}
                </td>
                <td data-label="Status">
                  <Status status={t.status} />
                  {t.attempt > 1 ? ` attempt ${t.attempt}` : ''}
                </td>
                <td data-label="Time">
                  {span(t.startedAt, t.endedAt, now)}
                  {t.longRunning && t.readyAt ? ` (ready after ${span(t.startedAt, t.readyAt)})` : ''}
                </td>
                <td data-label="Exit">{t.exitCode ?? ''}</td>
                <td data-label="Log">
                  <Link href={`/jobs/${job.id}/tasks/${t.id}`}>Log of {t.name}</Link>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>

      <h2>Events</h2>
      <Timeline jobId={job.id} onEvent={reload} />

      <h2>Files</h2>
      {files.data ? (
        <Files jobId={job.id} files={files.data.files} />
      ) : (
        <p class="muted">{files.error ?? 'Loading…'}</p>
      )}

      <Plan jobId={job.id} />
    </section>
  );
}

/** Why a queued job waits: what the scheduler says, and the locks it is queued for with their holders. */
function Waiting({ jobId, waitingFor, held }: { jobId: number; waitingFor: string | null; held: boolean }) {
  const locks = useGet<{ results: LockView[] }>('/api/v1/locks');
  const mine = (locks.data?.results ?? []).filter((l) => l.queue.some((q) => q.jobId === jobId));
  return (
    <div class="waiting" role="status">
      <h2>Why it waits</h2>
      <p>
        {held
          ? 'Held: submitted with hold=true, waiting for its inputs to be released.'
          : (waitingFor ?? 'Waiting to be placed.')}
      </p>
      {mine.length > 0 && (
        <ul>
          {mine.map((l) => (
            <li key={l.name}>
              Lock <strong>{l.name}</strong> ({l.state}) held by{' '}
              {l.holders.length === 0
                ? 'nobody'
                : l.holders.map((h, i) => (
                    <span key={i}>
                      {h.jobId === null ? (
                        "another owner's job"
                      ) : (
                        <Link href={`/jobs/${h.jobId}`}>#{h.jobId}</Link>
                      )}{' '}
                    </span>
                  ))}
              ; {l.queue.findIndex((q) => q.jobId === jobId) + 1} in its queue of {l.queue.length}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function Plan({ jobId }: { jobId: number }) {
  const [open, setOpen] = useState(false);
  const plan = useGet<PlanView>(open ? `/api/v1/jobs/${jobId}/plan` : null);
  return (
    <details class="plan" onToggle={(e) => setOpen((e.currentTarget as HTMLDetailsElement).open)}>
      <summary>
        <h2>Plan</h2>
      </summary>
      {plan.error && <p class="error">{plan.error}</p>}
      {plan.data && (
        <ol>
          {plan.data.pipelines.map((p) => (
            <li key={p.name}>
              pipeline <strong>{p.name}</strong>
              <ul>
                {p.stages.map((s) => (
                  <li key={s.name}>
                    stage <strong>{s.name}</strong> ({s.type}) on{' '}
                    {s.nodes.map((n) => `${n.name} [${n.role}]`).join(', ') || '—'}
                    {s.needs.length > 0 && <> · needs {s.needs.join(', ')}</>}
                    <ul>
                      {s.pipelines.map((tp) => (
                        <li key={tp.name}>
                          {tp.tasks.map((t) => (
                            <div key={t.name}>
                              <code>{t.name}</code> {t.driver}
                              {t.longRunning ? ' (long-running)' : ''}: <code>{t.run}</code>
                            </div>
                          ))}
                        </li>
                      ))}
                    </ul>
                  </li>
                ))}
              </ul>
            </li>
          ))}
        </ol>
      )}
    </details>
  );
}
