/**
 * The web UI's files (built by `npm run build` into dist/web): `index.html` at `/` and at every UI
 * path (the app routes in the browser), hashed assets under `/assets/` cached for a year. A strict
 * Content-Security-Policy: everything from this origin, nothing inline, nothing from another host.
 * The routes are hidden from the OpenAPI document: they are not part of the API.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** Paths the browser app routes itself (each answers index.html). */
export const UI_PATHS: readonly string[] = [
  '/',
  '/jobs',
  '/jobs/:id',
  '/jobs/:id/tasks/:task',
  '/nodes',
  '/nodes/:id',
  '/locks',
  '/templates',
  '/templates/:name',
  '/submit',
  '/signin',
];

export const UI_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
};

/**
 * Where the built UI is: dist/web next to the compiled server (dist/server → dist/web), or, when the
 * server runs from the sources (tests with tsx), the repository's dist/web. Undefined when not built.
 */
export function findWebRoot(): string | undefined {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.join(here, '../web'), path.join(here, '../../dist/web')];
  return candidates.find((dir) => existsSync(path.join(dir, 'index.html')));
}

function secure(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', UI_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY');
}

/** The built assets by file name, read once: the files do not change while the server runs. */
function readAssets(dir: string | undefined): Map<string, { type: string; body: Buffer }> {
  const out = new Map<string, { type: string; body: Buffer }>();
  if (!dir || !existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const type = TYPES[path.extname(name)];
    if (type) out.set(name, { type, body: readFileSync(path.join(dir, name)) });
  }
  return out;
}

/** Registers the UI's routes; with no built UI, `/` says how to build it (and the API works). */
export function webUiRoutes(app: FastifyInstance, root: string | undefined = findWebRoot()): void {
  const hide = { schema: { hide: true } };
  const index = root ? readFileSync(path.join(root, 'index.html')) : undefined;
  const assets = readAssets(root ? path.join(root, 'assets') : undefined);
  for (const url of UI_PATHS) {
    app.get(url, hide, async (_req, reply) => {
      if (!index) {
        return reply
          .code(404)
          .type('text/plain; charset=utf-8')
          .send('the web UI is not built: run `npm run build`\n');
      }
      return secure(reply).header('cache-control', 'no-cache').type('text/html; charset=utf-8').send(index);
    });
  }
  app.get<{ Params: { file: string } }>('/assets/:file', hide, async (req, reply) => {
    // Only the files of the build, by exact name: no path from the request reaches the file system.
    const asset = assets.get(req.params.file);
    if (!asset) return reply.callNotFound();
    return secure(reply)
      .header('cache-control', 'public, max-age=31536000, immutable')
      .type(asset.type)
      .send(asset.body);
  });
}
