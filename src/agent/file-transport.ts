/**
 * How an agent moves a job's files: fetch inputs and the workspace, upload what tasks leave. Over
 * HTTP to the server it is connected to (every request carries the job's token in `x-job-token`),
 * or, in embedded mode, straight into the blob store (src/files/local-transport.ts).
 *
 * Everything streams: a file is never held in memory whole.
 */
import { createReadStream } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface UploadMeta {
  taskId: number;
  /** output: matched by the task's `outputs`; workdir: its kept working directory. */
  kind: 'output' | 'workdir';
  /** Relative to the task's working directory. */
  path: string;
}

export interface FileTransport {
  /** A file of the job (its path in the job's tree: `inputs/data.csv`), as a stream. */
  openFile(jobId: number, token: string, name: string, signal: AbortSignal): Promise<Readable>;
  /** The job's workspace archive, as a stream. */
  openWorkspace(jobId: number, token: string, signal: AbortSignal): Promise<Readable>;
  /** Uploads a file a task left; resolves once it is stored. */
  upload(
    jobId: number,
    token: string,
    meta: UploadMeta,
    file: string,
    size: number,
    signal: AbortSignal,
  ): Promise<void>;
}

/** A refusal from the server (4xx): trying again would not help. */
export class TransferRefused extends Error {}

export interface HttpFileTransportOptions {
  /** The base URL of the server the agent is connected to now (undefined while it is not). */
  base: () => string | undefined;
  /** A CA to trust for https servers. */
  ca?: string | Buffer;
  /** Tries of a request that fails on the way (network, 5xx). Default 6. */
  tries?: number;
  /** First pause between tries, doubled each time. Default 250 ms. */
  retryDelayMs?: number;
}

export class HttpFileTransport implements FileTransport {
  constructor(private readonly opts: HttpFileTransportOptions) {}

  openFile(jobId: number, token: string, name: string, signal: AbortSignal): Promise<Readable> {
    const p = name.split('/').map(encodeURIComponent).join('/');
    return this.retry(signal, () => this.get(`/api/v1/agent/jobs/${jobId}/files/${p}`, token, signal));
  }

  openWorkspace(jobId: number, token: string, signal: AbortSignal): Promise<Readable> {
    return this.retry(signal, () => this.get(`/api/v1/agent/jobs/${jobId}/workspace`, token, signal));
  }

  upload(
    jobId: number,
    token: string,
    meta: UploadMeta,
    file: string,
    size: number,
    signal: AbortSignal,
  ): Promise<void> {
    const q = new URLSearchParams({ task: String(meta.taskId), kind: meta.kind, path: meta.path });
    return this.retry(signal, async () => {
      const res = await this.request(
        'POST',
        `/api/v1/agent/jobs/${jobId}/outputs?${q.toString()}`,
        token,
        signal,
        { 'content-type': 'application/octet-stream', 'content-length': String(size) },
        createReadStream(file),
      );
      await check(res);
      res.resume();
    });
  }

  private async get(route: string, token: string, signal: AbortSignal): Promise<Readable> {
    const res = await this.request('GET', route, token, signal, {});
    await check(res);
    return res;
  }

  private request(
    method: string,
    route: string,
    token: string,
    signal: AbortSignal,
    headers: Record<string, string>,
    body?: Readable,
  ): Promise<http.IncomingMessage> {
    const base = this.opts.base();
    if (!base) return Promise.reject(new Error('not connected to a server'));
    const url = new URL(route, base.endsWith('/') ? base : `${base}/`);
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = lib.request(
        url,
        {
          method,
          headers: { ...headers, 'x-job-token': token },
          signal,
          ...(url.protocol === 'https:' && this.opts.ca ? { ca: this.opts.ca } : {}),
        },
        resolve,
      );
      req.on('error', reject);
      if (body) {
        // The answer may come before the body is all sent (a refusal): that is not an error here.
        pipeline(body, req).catch((err: unknown) => {
          req.destroy(err instanceof Error ? err : new Error(String(err)));
        });
      } else req.end();
    });
  }

  private async retry<T>(signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    const tries = this.opts.tries ?? 6;
    let delay = this.opts.retryDelayMs ?? 250;
    for (let i = 1; ; i++) {
      try {
        return await fn();
      } catch (err) {
        if (err instanceof TransferRefused || signal.aborted || i >= tries) throw err;
      }
      await new Promise((r) => setTimeout(r, delay));
      delay *= 2;
    }
  }
}

/** 2xx passes; 4xx is a refusal (with the server's message); anything else may pass on a retry. */
async function check(res: http.IncomingMessage): Promise<void> {
  const status = res.statusCode ?? 0;
  if (status >= 200 && status < 300) return;
  let text = '';
  for await (const chunk of res) {
    if (text.length < 4096) text += String(chunk);
  }
  let message = text.trim();
  try {
    const body = JSON.parse(text) as { error?: unknown };
    if (typeof body.error === 'string') message = body.error;
  } catch {
    // not JSON
  }
  const what = `the server answered ${status}${message ? `: ${message}` : ''}`;
  if (status >= 400 && status < 500) throw new TransferRefused(what);
  throw new Error(what);
}
