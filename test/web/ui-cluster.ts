/**
 * The setup the browser tests of the web UI share (ui-jobs.test.ts, ui-nodes.test.ts): a real
 * `jobhub server`, two orgs and their users (mia member and vera viewer of bench-team, otto member
 * of other-lab) with API tokens, three real agents (a `database` and two `loader`s, as the example
 * benchmark wants) and a browser with one page open. Every page opened is recorded, for the check
 * that nothing went to another host.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { freePort } from '../agent/harness.js';
import {
  ADMIN,
  eventually,
  type Proc,
  type ServerProc,
  startAgent,
  startServer,
} from '../helpers/cluster.js';
import { launch, openPage, type RecordedPage } from './browser.js';

export type UiUser = 'mia' | 'vera' | 'otto';

export interface UiCluster {
  server: ServerProc;
  browser: Browser;
  /** The page the tests share (not signed in at first). */
  ui: RecordedPage;
  /** Every page opened (ui first); closed at the end. */
  pages: RecordedPage[];
  tokens: Record<UiUser, string>;
  /** An API call with `token`; throws on an answer that is not 2xx. */
  call<T>(token: string, method: string, route: string, body?: string | Buffer, type?: string): Promise<T>;
  /** Submits a YAML spec as `token`'s user; the job's id. */
  submitAs(token: string, spec: string): Promise<number>;
  /** Signs `page` in with `token` through the sign-in form. */
  signIn(page: Page, token: string): Promise<void>;
  /** A new page (recorded; closed at the end). */
  open(viewport?: { width: number; height: number }): Promise<RecordedPage>;
}

/** The status word in a job's or node's page heading. */
export const headingStatus = (page: Page) => page.locator('h1 .status').first();

/**
 * Registers the setup (beforeAll, 60 s at most) and its end (afterAll) in the calling test file or
 * describe block; the cluster's fields are there once the setup has run.
 */
export function uiCluster(): UiCluster {
  const agents: Proc[] = [];
  const c = { pages: [] as RecordedPage[], tokens: { mia: '', vera: '', otto: '' } } as UiCluster;
  c.call = async <T>(token: string, method: string, route: string, body?: string | Buffer, type?: string) => {
    const res = await fetch(`${c.server.url}${route}`, {
      method,
      headers: {
        'x-api-token': token,
        ...(body !== undefined ? { 'content-type': type ?? 'application/yaml' } : {}),
      },
      ...(body !== undefined ? { body } : {}),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  };
  c.submitAs = async (token, spec) => (await c.call<{ id: number }>(token, 'POST', '/api/v1/jobs', spec)).id;
  c.signIn = async (page, token) => {
    await page.goto(`${c.server.url}/jobs`);
    await page.getByLabel('API token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
  };
  c.open = async (viewport) => {
    const p = await openPage(c.browser, viewport);
    c.pages.push(p);
    return p;
  };

  beforeAll(async () => {
    c.server = await startServer();
    const admin = (method: string, route: string, body?: unknown) =>
      c.call(ADMIN, method, route, body === undefined ? undefined : JSON.stringify(body), 'application/json');
    // Two orgs: the benchmark's own (mia member, vera viewer) and another (otto).
    await admin('POST', '/api/v1/orgs', { name: 'bench-team' });
    await admin('POST', '/api/v1/orgs', { name: 'other-lab' });
    for (const name of ['mia', 'vera', 'otto']) await admin('POST', '/api/v1/users', { name });
    await admin('PUT', '/api/v1/orgs/bench-team/members/mia', { role: 'member' });
    await admin('PUT', '/api/v1/orgs/bench-team/members/vera', { role: 'viewer' });
    await admin('PUT', '/api/v1/orgs/other-lab/members/otto', { role: 'member' });
    for (const name of ['mia', 'vera', 'otto'] as const) {
      c.tokens[name] = (
        (await admin('POST', '/api/v1/tokens', { name, user: name })) as { token: string }
      ).token;
    }
    const port = String(await freePort());
    for (const [i, role] of ['database', 'loader', 'loader'].entries()) {
      agents.push(
        startAgent({ server: c.server.url, role, name: `${role}-${i}`, env: { BENCH_PORT: port } }),
      );
    }
    await eventually(async () => {
      const r = await c.call<{ results: Array<{ connected: boolean }> }>(ADMIN, 'GET', '/api/v1/nodes');
      return r.results.filter((n) => n.connected).length >= 3 ? true : undefined;
    });
    c.browser = await launch();
    c.ui = await c.open();
  }, 60_000);

  afterAll(async () => {
    for (const p of c.pages) await p.context.close().catch(() => {});
    await c.browser?.close().catch(() => {});
    for (const a of agents) await a.kill();
    await c.server?.kill();
  });
  return c;
}
