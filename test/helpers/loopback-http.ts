/**
 * The part every fake HTTP service of the tests shares (fake-jenkins.ts, fake-webhook.ts): a server
 * on 127.0.0.1 that reads each request's body before its handler sees it, answers 500 with the
 * error when the handler throws, and closes with its open connections.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export abstract class LoopbackHttp {
  private server: Server | undefined;
  private port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Listens on `port` (default 0: any free one). */
  async start(port = 0): Promise<this> {
    this.server = createServer((req, res) => {
      readBody(req)
        .then((body) => this.handle(req, res, body))
        .catch((err: unknown) => {
          res.statusCode = 500;
          res.end(String(err));
        });
    });
    this.server.listen(port, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
    this.server = undefined;
  }

  /** Answers one request; `body` is its whole body as text. */
  protected abstract handle(req: IncomingMessage, res: ServerResponse, body: string): Promise<void> | void;
}

async function readBody(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) body += String(chunk);
  return body;
}

/** Answers `value` as JSON with `status`. */
export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}
