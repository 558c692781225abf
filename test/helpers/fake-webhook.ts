/**
 * A fake webhook backend on loopback: it takes jobs (`POST /run`, answers `{"id": "ext-N"}`),
 * remembers each job as jobhub sent it (with its hook URL and token), serves `GET /status/:id` from
 * a state the test sets (seed 002's asynchronous polling), and records stops (`POST /stop/:id`).
 * The test plays the backend's side of the hook protocol itself with `hook()`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LoopbackHttp, sendJson } from './loopback-http.js';

export interface ReceivedJob {
  action: string;
  jobId: number;
  name: string;
  params: Record<string, string>;
  labels: Record<string, string>;
  hook: { url: string; token: string };
  inputs: Array<{ path: string; size: number; sha256: string; url: string }>;
  /** The Authorization header jobhub sent. */
  authorization: string | undefined;
}

export class FakeWebhook extends LoopbackHttp {
  private next = 1;
  readonly jobs = new Map<string, ReceivedJob>();
  readonly stops: Array<{ id: string; force: boolean }> = [];
  /** What `GET /status/:id` answers, by external id (absent: running). */
  readonly states = new Map<string, { state: string; text?: string; output?: string }>();
  private waiters: Array<() => void> = [];

  protected async handle(req: IncomingMessage, res: ServerResponse, body: string): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const json = (status: number, v: unknown) => sendJson(res, status, v);
    if (req.method === 'POST' && url.pathname === '/run') {
      const job = JSON.parse(body) as ReceivedJob;
      if (job.action === 'stop') {
        this.stops.push({ id: String((job as unknown as { id: string }).id), force: false });
        return json(200, {});
      }
      const id = `ext-${this.next++}`;
      this.jobs.set(id, { ...job, authorization: req.headers.authorization });
      for (const w of this.waiters.splice(0)) w();
      return json(200, { id });
    }
    let m = /^\/status\/(.+)$/.exec(url.pathname);
    if (req.method === 'GET' && m?.[1]) return json(200, this.states.get(m[1]) ?? { state: 'running' });
    m = /^\/stop\/(.+)$/.exec(url.pathname);
    if (req.method === 'POST' && m?.[1]) {
      const b = JSON.parse(body || '{}') as { force?: boolean };
      this.stops.push({ id: m[1], force: b.force === true });
      return json(200, {});
    }
    json(404, { error: 'not found' });
  }

  /** The job jobhub sent for this job id, once it came. */
  async received(jobId: number, timeoutMs = 15_000): Promise<[string, ReceivedJob]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = [...this.jobs].find(([, j]) => j.jobId === jobId);
      if (hit) return hit;
      if (Date.now() > deadline) throw new Error(`job ${jobId} never reached the webhook`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 200);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}

/** Calls one of a job's hooks as the backend would. */
export async function hook(
  job: Pick<ReceivedJob, 'hook'>,
  method: 'GET' | 'POST',
  sub: string,
  body?: unknown,
  token = job.hook.token,
): Promise<{ status: number; body: unknown; text: string }> {
  const res = await fetch(`${job.hook.url}${sub}`, {
    method,
    headers: { 'x-hook-token': token, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // a file
  }
  return { status: res.status, body: parsed, text };
}
