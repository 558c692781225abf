/**
 * What the backend tests (jenkins.test.ts, webhook.test.ts) share: jobs submitted, awaited and read
 * through the plain API.
 */
import { api, eventually } from '../helpers/cluster.js';

export interface BackendJob {
  id: number;
  status: string;
  reason: string | null;
}

export interface LogLine {
  text: string;
  stream: string;
}

export async function submit(server: string, text: string): Promise<number> {
  return (await api<{ id: number }>(server, 'POST', '/api/v1/jobs', text)).id;
}

/** Waits (20 s at most) until the job has a final status. */
export function final(server: string, id: number): Promise<BackendJob> {
  return eventually(async () => {
    const j = await api<BackendJob>(server, 'GET', `/api/v1/jobs/${id}`);
    return ['succeeded', 'failed', 'stopped'].includes(j.status) ? j : undefined;
  }, 20_000);
}

export async function lines(server: string, id: number): Promise<LogLine[]> {
  return (await api<{ lines: LogLine[] }>(server, 'GET', `/api/v1/jobs/${id}/logs`)).lines;
}

/** Waits until the job has a log line with exactly this text. */
export async function lineSeen(server: string, id: number, text: string, timeoutMs: number): Promise<void> {
  await eventually(
    async () => ((await lines(server, id)).some((l) => l.text === text) ? true : undefined),
    timeoutMs,
  );
}

/** Who holds lock `name` now (none: []). */
export async function lockHolders(server: string, name: string): Promise<unknown[]> {
  const locks = await api<{ results: Array<{ name: string; holders: unknown[] }> }>(
    server,
    'GET',
    '/api/v1/locks',
  );
  return locks.results.find((l) => l.name === name)?.holders ?? [];
}
