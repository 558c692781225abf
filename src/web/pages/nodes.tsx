/**
 * Nodes: each node's info (seed 001: id, host, addresses, start and boot time, role, labels,
 * provider, capacity), its state, what it runs now, its history; drain and undrain for admins.
 */
import { useEffect, useState } from 'preact/hooks';
import { ErrorAlert } from '../components/error-alert.js';
import { LabelChips } from '../components/label-chips.js';
import { Status } from '../components/status.js';
import { labelText, when } from '../format.js';
import { useGet, useStream, useThrottled } from '../hooks.js';
import { Link } from '../router.js';
import { isServerAdmin, useSession } from '../session-context.js';
import type { EventView, JobDetail, JobList, NodeView } from '../types.js';

export function NodesPage() {
  const nodes = useGet<{ results: NodeView[] }>('/api/v1/nodes');
  const reload = useThrottled(nodes.reload, 500);
  useStream('/api/v1/events?follow=true&tail=true&type=node.', reload);
  return (
    <section>
      <h1>Nodes</h1>
      {nodes.error && <p class="error">{nodes.error}</p>}
      {nodes.data?.results.length === 0 && <p class="empty">No node has registered yet.</p>}
      <div class="cards">
        {nodes.data?.results.map((n) => (
          <article class="card" key={n.id} data-node={n.id}>
            <h2>
              <Link href={`/nodes/${encodeURIComponent(n.id)}`}>{n.name}</Link> <Status status={n.state} />
            </h2>
            <p class="muted small">
              {n.host} · {n.addr.ip} · role {n.role} · {n.connected ? 'connected' : 'not connected'}
            </p>
            <p>
              {n.capacity.cpus} CPUs · {Math.round(n.capacity.memoryMb)} MiB ·{' '}
              {n.capacity.slots === 0 ? 'no slot limit' : `${n.capacity.slots} slots`}
            </p>
            <p>
              <LabelChips labels={n.labels} />
            </p>
          </article>
        ))}
      </div>
    </section>
  );
}

interface RunningTask {
  jobId: number;
  job: string;
  label: string;
  status: string;
}

/** The tasks of running jobs placed on this node (from the running jobs' status trees). */
function useRunningOn(nodeId: string): RunningTask[] {
  const { api } = useSession();
  const [tasks, setTasks] = useState<RunningTask[]>([]);
  useEffect(() => {
    let live = true;
    void (async () => {
      const list = await api.get<JobList>('/api/v1/jobs?status=running,stopping&limit=50');
      const out: RunningTask[] = [];
      for (const j of list.results) {
        const d = await api.get<JobDetail>(`/api/v1/jobs/${j.id}`);
        for (const s of d.stages)
          for (const n of s.nodes)
            if (n.nodeId === nodeId)
              for (const t of n.tasks)
                if (t.status === 'running' || t.status === 'ready')
                  out.push({
                    jobId: d.id,
                    job: d.name,
                    label: `${s.name}/${n.name}/${t.name}`,
                    status: t.status,
                  });
      }
      if (live) setTasks(out);
    })().catch(() => {});
    return () => {
      live = false;
    };
  }, [api, nodeId]);
  return tasks;
}

export function NodePage({ id }: { id: string }) {
  const { api, me } = useSession();
  const node = useGet<NodeView>(`/api/v1/nodes/${encodeURIComponent(id)}`);
  const history = useGet<{ events: EventView[] }>(`/api/v1/nodes/${encodeURIComponent(id)}/events?limit=200`);
  const running = useRunningOn(id);
  const [error, setError] = useState<string | undefined>();
  const n = node.data;
  if (node.error) return <p class="error">{node.error}</p>;
  if (!n) return <p class="loading">Loading node…</p>;
  const drain = async (on: boolean) => {
    try {
      if (on) await api.post(`/api/v1/nodes/${encodeURIComponent(id)}/drain`);
      else await api.delete(`/api/v1/nodes/${encodeURIComponent(id)}/drain`);
      node.reload();
      history.reload();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  return (
    <section>
      <div class="page-head">
        <h1>
          Node {n.name} <Status status={n.state} />
        </h1>
        {isServerAdmin(me) && me.token.scope === 'full' && (
          <div class="actions">
            {n.state === 'draining' ? (
              <button type="button" onClick={() => void drain(false)}>
                Undrain
              </button>
            ) : (
              <button type="button" onClick={() => void drain(true)}>
                Drain
              </button>
            )}
          </div>
        )}
      </div>
      <ErrorAlert message={error} />
      <dl class="facts">
        <dt>Id</dt>
        <dd>
          <code>{n.id}</code>
        </dd>
        <dt>Host</dt>
        <dd>{n.host}</dd>
        <dt>Addresses</dt>
        <dd>
          ip {n.addr.ip} · binds {n.addr.bindAddr} · seen from {n.addr.remoteAddr}
        </dd>
        <dt>Role</dt>
        <dd>{n.role}</dd>
        <dt>Provider</dt>
        <dd>{n.provider}</dd>
        <dt>Capacity</dt>
        <dd>
          {n.capacity.cpus} CPUs, {Math.round(n.capacity.memoryMb)} MiB,{' '}
          {n.capacity.slots === 0 ? 'no slot limit' : `${n.capacity.slots} slots`}
        </dd>
        <dt>Capabilities</dt>
        <dd>{n.capabilities.join(', ') || '—'}</dd>
        <dt>Labels</dt>
        <dd>{labelText(n.labels).join(', ') || '—'}</dd>
        <dt>Process started</dt>
        <dd>{when(n.startTime)}</dd>
        <dt>Machine booted</dt>
        <dd>{when(n.bootTime)}</dd>
        <dt>Registered</dt>
        <dd>{when(n.registeredAt)}</dd>
        <dt>Last seen</dt>
        <dd>
          {when(n.lastSeenAt)} ({n.connected ? 'connected' : 'not connected'})
        </dd>
      </dl>
      <h2>Runs now</h2>
      {running.length === 0 ? (
        <p class="muted">Nothing that you may see.</p>
      ) : (
        <ul>
          {running.map((t) => (
            <li key={`${t.jobId}-${t.label}`}>
              <Link href={`/jobs/${t.jobId}`}>
                #{t.jobId} {t.job}
              </Link>{' '}
              {t.label} <Status status={t.status} />
            </li>
          ))}
        </ul>
      )}
      <h2>History</h2>
      <ol class="timeline">
        {history.data?.events.map((e) => (
          <li key={e.seq}>
            <time dateTime={e.ts}>{when(e.ts)}</time> <strong>{e.type}</strong>{' '}
            {e.from !== undefined || e.to !== undefined ? `${e.from ?? '∅'} → ${e.to ?? '∅'}` : ''}
          </li>
        ))}
      </ol>
    </section>
  );
}
