/**
 * The web UI in a real browser (Debian's chromium) against a real `jobhub server` and three real
 * agents: sign in (keyboard only), submit the example benchmark by pasting it and watch it succeed
 * live, read a task's log (ANSI colours, paging back, search), stop a long job with the button, see
 * a spec error at its line, never see another org's job, see runs made through the seeds' APIs,
 * fit a phone's width, and never ask another host for anything. Screenshots of the main pages go
 * to test-results/screenshots/.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../agent/harness.js';
import { tarBuffer } from '../helpers/archives.js';
import {
  ADMIN,
  AGENT,
  eventually,
  type Proc,
  type ServerProc,
  startAgent,
  startServer,
} from '../helpers/cluster.js';
import { foreignHosts, launch, noBrowser, openPage, type RecordedPage, screenshot } from './browser.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const skip = noBrowser();
if (skip) console.log(`skipping the web UI browser tests: ${skip}`);

let server: ServerProc;
const agents: Proc[] = [];
let browser: Browser;
let ui: RecordedPage;
const pages: RecordedPage[] = [];
const tokens: Record<'mia' | 'vera' | 'otto', string> = { mia: '', vera: '', otto: '' };

async function call<T>(token: string, method: string, route: string, body?: string | Buffer, type?: string) {
  const res = await fetch(`${server.url}${route}`, {
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
}

const submitAs = async (token: string, spec: string) =>
  (await call<{ id: number }>(token, 'POST', '/api/v1/jobs', spec)).id;

/** The status word in a job page's heading. */
const headingStatus = (page: Page) => page.locator('h1 .status').first();

async function signIn(page: Page, token: string): Promise<void> {
  await page.goto(`${server.url}/jobs`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

describe.skipIf(skip !== undefined)('the web UI in a browser', () => {
  beforeAll(async () => {
    server = await startServer();
    const admin = (method: string, route: string, body?: unknown) =>
      call(ADMIN, method, route, body === undefined ? undefined : JSON.stringify(body), 'application/json');
    // Two orgs: the benchmark's own (mia member, vera viewer) and another (otto).
    await admin('POST', '/api/v1/orgs', { name: 'bench-team' });
    await admin('POST', '/api/v1/orgs', { name: 'other-lab' });
    for (const name of ['mia', 'vera', 'otto']) await admin('POST', '/api/v1/users', { name });
    await admin('PUT', '/api/v1/orgs/bench-team/members/mia', { role: 'member' });
    await admin('PUT', '/api/v1/orgs/bench-team/members/vera', { role: 'viewer' });
    await admin('PUT', '/api/v1/orgs/other-lab/members/otto', { role: 'member' });
    for (const name of ['mia', 'vera', 'otto'] as const) {
      tokens[name] = (
        (await admin('POST', '/api/v1/tokens', { name, user: name })) as { token: string }
      ).token;
    }
    const port = String(await freePort());
    for (const [i, role] of ['database', 'loader', 'loader'].entries()) {
      agents.push(startAgent({ server: server.url, role, name: `${role}-${i}`, env: { BENCH_PORT: port } }));
    }
    await eventually(async () => {
      const r = await call<{ results: Array<{ connected: boolean }> }>(ADMIN, 'GET', '/api/v1/nodes');
      return r.results.filter((n) => n.connected).length >= 3 ? true : undefined;
    });
    browser = await launch();
    ui = await openPage(browser);
    pages.push(ui);
  }, 60_000);

  afterAll(async () => {
    for (const p of pages) await p.context.close().catch(() => {});
    await browser?.close().catch(() => {});
    for (const a of agents) await a.kill();
    await server?.kill();
    void AGENT;
  });

  it('signs in with the keyboard alone, and refuses a wrong token', async () => {
    const { page } = ui;
    await page.goto(`${server.url}/`);
    await page.keyboard.press('Tab');
    await expect
      .poll(() =>
        page.evaluate(
          () =>
            (globalThis as unknown as { document: { activeElement: { id: string } } }).document.activeElement
              .id,
        ),
      )
      .toBe('token');
    await page.keyboard.type('not-a-token');
    await page.keyboard.press('Enter');
    await page.getByRole('alert').filter({ hasText: 'does not know this token' }).waitFor();
    await page.getByLabel('API token').fill('');
    await page.getByLabel('API token').focus();
    await page.keyboard.type(tokens.mia);
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    expect(await page.locator('.who').textContent()).toContain('mia');
    await screenshot(page, 'jobs-empty');
  });

  it('submits the example benchmark pasted in (by keyboard) and shows it reach succeeded live', async () => {
    const { page } = ui;
    await page.getByRole('link', { name: 'Submit', exact: true }).click();
    await page
      .getByLabel('Job spec (YAML or JSON)')
      .fill(readFileSync(path.join(ROOT, 'examples/benchmark.yaml'), 'utf8'));
    // From the textarea, the keyboard reaches Validate, then Submit.
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    await screenshot(page, 'submit');
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/jobs\/\d+$/);
    const id = Number(/\/jobs\/(\d+)$/.exec(page.url())?.[1]);
    // The page stays the same document: a mark put on it now must still be there at the end.
    await page.evaluate(() => {
      (globalThis as Record<string, unknown>).__notReloaded = true;
    });
    const seen: string[] = [];
    await expect
      .poll(
        async () => {
          const s = (await headingStatus(page).textContent()) ?? '';
          if (seen[seen.length - 1] !== s) seen.push(s);
          return s;
        },
        { timeout: 60_000, interval: 100 },
      )
      .toBe('succeeded');
    expect(seen[0]).not.toBe('succeeded'); // it was shown before it ended, then changed in place
    expect(await page.evaluate(() => (globalThis as Record<string, unknown>).__notReloaded)).toBe(true);
    // The graph: every stage drawn, with its status; the load stage runs on both loaders.
    for (const stage of ['write_server', 'load', 'stop_server', 'report']) {
      await expect
        .poll(() => page.locator(`g[data-stage="${stage}"] .g-status`).textContent())
        .toContain('succeeded');
    }
    // The long-running server was ready, then stopped by the stopper stage.
    expect(await page.locator('g[data-stage="start_server"] .g-status').textContent()).toBe(
      'long-running · stopped',
    );
    expect(await page.locator('g[data-stage="start_server"] a.g-task').first().textContent()).toContain(
      'stopped',
    );
    expect(seen).toContain('running');
    const loadNodes = await page.locator('g[data-stage="load"] .g-node').allTextContents();
    expect(loadNodes.map((t) => t.split(' ')[1])).toEqual(['loader1', 'loader2']);
    const api = await call<{ status: string }>(tokens.mia, 'GET', `/api/v1/jobs/${id}`);
    expect(api.status).toBe('succeeded');
    await screenshot(page, 'job-graph');

    // A task's log, from the graph's link to it.
    await page.locator('g[data-stage="report"] a.g-task').first().click();
    await page.waitForURL(/\/tasks\/\d+$/);
    await expect.poll(() => page.locator('.log-line').count()).toBeGreaterThan(0);
    await screenshot(page, 'log');

    await page.getByRole('link', { name: 'Jobs', exact: true }).click();
    await page.locator(`tr[data-job="${id}"]`).waitFor();
    expect(await page.locator(`tr[data-job="${id}"] .status`).textContent()).toBe('succeeded');
    expect(await page.locator(`tr[data-job="${id}"]`).textContent()).toContain('team=bench');
    await screenshot(page, 'jobs');
  }, 90_000);

  it('shows a log with its colours, pages back through a large one, and searches it', async () => {
    const { page } = ui;
    const spec = `name: colours
owner: {name: bench-team, type: org}
stages:
  - name: s
    tasks:
      - name: t
        shell:
          command: |
            printf '\\033[31mred alert\\033[0m and plain\\n'
            echo '<img src=x onerror=alert(1)> stays text'
            for i in $(seq 1 2999); do echo "line number $i"; done
            echo "the needle"
            echo "result 42" > result.txt
        outputs: [result.txt]
`;
    const id = await submitAs(tokens.mia, spec);
    await eventually(async () => {
      const j = await call<{ status: string }>(tokens.mia, 'GET', `/api/v1/jobs/${id}`);
      return j.status === 'succeeded' ? true : undefined;
    });
    await page.goto(`${server.url}/jobs/${id}`);
    await page.getByRole('link', { name: 'Log of t' }).click();
    await page.locator('.log-line').first().waitFor();
    // The tail only: one page of 500 lines loaded, and only the rows in view drawn.
    await expect
      .poll(() => page.locator('.log-count').textContent())
      .toContain('500 lines loaded, older above');
    expect(await page.locator('.log-line').count()).toBeLessThan(150);
    expect(await page.locator('.log-line', { hasText: 'the needle' }).count()).toBe(1);
    // Search finds the last line.
    await page.getByLabel('Search the log').fill('NEEDLE');
    await page.getByLabel('Search the log').press('Enter');
    await expect.poll(() => page.locator('.log-line.current').textContent()).toContain('the needle');
    // Scrolling to the top loads older pages until the first line, with its red span.
    for (let i = 0; i < 10; i++) {
      if ((await page.locator('.fg-1').count()) > 0) break;
      await page.locator('.log-lines').evaluate((el) => {
        (el as unknown as { scrollTop: number }).scrollTop = 0;
      });
      await page.waitForTimeout(150);
    }
    const red = page.locator('.log-line .fg-1');
    await red.waitFor();
    expect(await red.textContent()).toBe('red alert');
    // The escape codes are gone from the text, and nothing was turned into markup.
    expect(await red.locator('xpath=..').textContent()).not.toContain('\u001b');
    expect(await page.locator('.log-count').textContent()).toContain('3003 lines loaded');
    // Log text is text: markup in it is shown, never made into elements.
    expect(await page.locator('.log-line', { hasText: 'stays text' }).textContent()).toContain('<img src=x');
    expect(await page.locator('.log-lines img').count()).toBe(0);

    // Its output file downloads (through fetch with the token header, then saved).
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: /result\.txt$/ }).click(),
    ]);
    expect(download.suggestedFilename()).toBe('result.txt');
    const saved = await download.path();
    expect(readFileSync(saved, 'utf8')).toBe('result 42\n');
    // The plan opens on demand.
    await page.getByText('Plan', { exact: true }).click();
    await expect.poll(() => page.locator('details.plan').textContent()).toContain('pipeline');
  }, 60_000);

  it('stops another (long) job with its Stop button; a viewer gets no button', async () => {
    const { page } = ui;
    const spec = `name: long-one
owner: {name: bench-team, type: org}
locks: [env-1]
stages:
  - name: sleep
    tasks:
      - {name: nap, shell: {command: "echo napping; sleep 300"}}
`;
    const id = await submitAs(tokens.mia, spec);
    await page.goto(`${server.url}/jobs/${id}`);
    await expect.poll(() => headingStatus(page).textContent(), { timeout: 20_000 }).toBe('running');
    await page.getByRole('link', { name: 'Locks' }).click();
    await page
      .locator('[data-lock="env-1"]')
      .getByRole('link', { name: `job #${id}` })
      .waitFor();
    await screenshot(page, 'locks');

    // vera only views bench-team's jobs: the page shows no Stop button.
    const viewer = await openPage(browser);
    pages.push(viewer);
    await signIn(viewer.page, tokens.vera);
    await viewer.page.goto(`${server.url}/jobs/${id}`);
    await expect.poll(() => headingStatus(viewer.page).textContent()).toBe('running');
    expect(await viewer.page.getByRole('button', { name: 'Stop' }).count()).toBe(0);

    // A second job wanting the same lock waits, and its page says for what and behind whom.
    const waiting = await submitAs(
      tokens.mia,
      spec.replace('long-one', 'lock-waiter').replace('sleep 300', 'true'),
    );
    await page.goto(`${server.url}/jobs/${waiting}`);
    const why = page.locator('.waiting');
    await why.waitFor();
    await expect.poll(() => why.textContent()).toContain('Lock env-1');
    expect(await why.getByRole('link', { name: `#${id}` }).count()).toBe(1);
    await screenshot(page, 'job-waiting');

    await page.goto(`${server.url}/jobs/${id}`);
    await page.getByRole('button', { name: 'Stop' }).click();
    await expect.poll(() => headingStatus(page).textContent(), { timeout: 20_000 }).toBe('stopped');
    // The lock is free again: the waiting job runs to the end.
    await eventually(async () => {
      const j = await call<{ status: string }>(tokens.mia, 'GET', `/api/v1/jobs/${waiting}`);
      return j.status === 'succeeded' ? true : undefined;
    });
    await expect.poll(() => page.locator('.timeline').textContent()).toContain('job.status');
    expect(await page.getByRole('button', { name: 'Retry' }).count()).toBe(1);
  }, 60_000);

  it('shows a spec error next to its line', async () => {
    const { page } = ui;
    await page.getByRole('link', { name: 'Submit', exact: true }).click();
    const bad = [
      'name: broken',
      'stages:',
      '  - name: s',
      '    tasks:',
      '      - name: t',
      '        driver: teleport',
      '',
    ];
    await page.getByLabel('Job spec (YAML or JSON)').fill(bad.join('\n'));
    await page.getByRole('button', { name: 'Validate' }).click();
    const problem = page.locator('#spec-problems li').first();
    await problem.waitFor();
    expect(await problem.getAttribute('data-line')).toBe('6');
    expect(await problem.textContent()).toMatch(/line 6:\d+/);
    expect(await page.locator('.gutter [data-line="6"]').getAttribute('class')).toBe('bad');
    // Submitting it answers the same, at the same line.
    await page.getByRole('button', { name: 'Submit', exact: true }).click();
    await expect.poll(() => page.locator('#spec-problems li').first().getAttribute('data-line')).toBe('6');
    await screenshot(page, 'submit-error');
  });

  it("never shows another org's job: not in the list, not by its URL, not by search, not live", async () => {
    const { page } = ui;
    const secret = await submitAs(
      tokens.otto,
      'name: otto-secret\nowner: {name: other-lab, type: org}\nstages:\n  - name: s\n    tasks:\n      - {name: t, shell: {command: "echo hidden"}}\n',
    );
    const mine = await submitAs(
      tokens.mia,
      'name: mia-visible\nowner: {name: bench-team, type: org}\nstages:\n  - name: s\n    tasks:\n      - {name: t, shell: {command: "echo shown"}}\n',
    );
    await page.goto(`${server.url}/jobs`);
    // While the list is open, otto submits again: the live list takes mia's new job, never otto's.
    const later = await submitAs(
      tokens.otto,
      'name: otto-secret\nowner: {name: other-lab, type: org}\nstages:\n  - name: s\n    tasks:\n      - {name: t, shell: {command: "echo hidden"}}\n',
    );
    const mineLater = await submitAs(
      tokens.mia,
      'name: mia-visible\nowner: {name: bench-team, type: org}\nstages:\n  - name: s\n    tasks:\n      - {name: t, shell: {command: "echo shown"}}\n',
    );
    await page.locator(`tr[data-job="${mineLater}"]`).waitFor();
    expect(await page.locator(`tr[data-job="${mine}"]`).count()).toBe(1);
    for (const id of [secret, later]) expect(await page.locator(`tr[data-job="${id}"]`).count()).toBe(0);
    expect(await page.locator('main').textContent()).not.toContain('otto-secret');
    // By search.
    await page.getByLabel('Name (exact)').fill('otto-secret');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByText('No jobs match.').waitFor();
    // By its URL: the API says it does not exist, and nothing of it shows.
    await page.goto(`${server.url}/jobs/${secret}`);
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).toContain(`job ${secret}`);
    expect(await page.locator('main').textContent()).not.toContain('otto-secret');
    // otto, in his own browser, does see it (the test could fail the other way).
    const other = await openPage(browser);
    pages.push(other);
    await signIn(other.page, tokens.otto);
    await other.page.locator(`tr[data-job="${secret}"]`).waitFor();
    expect(await other.page.locator(`tr[data-job="${mine}"]`).count()).toBe(0);
  }, 60_000);

  it("lists runs submitted through the seeds' APIs (ASCOB POST /api/runs, o2r POST /api/v1/job)", async () => {
    const { page } = ui;
    const spec =
      'name: portal-run\nstages:\n  - name: s\n    tasks:\n      - {name: t, shell: {command: "echo portal"}}\n';
    const ascob = await call<{ runId: number }>(
      tokens.mia,
      'POST',
      '/api/runs',
      JSON.stringify({ jobSpec: { description: 'from the portal', jobhub: spec } }),
      'application/json',
    );
    const archive = await tarBuffer([
      {
        name: 'jobhub.yaml',
        content:
          'name: compendium-run\nstages:\n  - name: run\n    tasks:\n      - {name: t, shell: {command: "cat data.txt"}}\n',
      },
      { name: 'data.txt', content: 'from the compendium\n' },
    ]);
    const ws = await call<{ id: string }>(
      tokens.mia,
      'POST',
      '/api/v1/workspaces?name=comp-ui',
      archive,
      'application/octet-stream',
    );
    const o2r = await call<{ job_id: string }>(
      tokens.mia,
      'POST',
      '/api/v1/job',
      `compendium_id=${ws.id}`,
      'application/x-www-form-urlencoded',
    );
    await page.goto(`${server.url}/jobs`);
    await page.locator(`tr[data-job="${ascob.runId}"]`).waitFor();
    await page.locator(`tr[data-job="${o2r.job_id}"]`).waitFor();
    expect(await page.locator(`tr[data-job="${o2r.job_id}"]`).textContent()).toContain('compendium-run');
  });

  it('shows nodes (with drain for admins) and templates with a form that submits one', async () => {
    const { page } = ui;
    await call(
      tokens.mia,
      'POST',
      '/api/v1/templates',
      readFileSync(path.join(ROOT, 'examples/params.yaml'), 'utf8'),
    );
    await page.getByRole('link', { name: 'Nodes' }).click();
    await expect.poll(() => page.locator('[data-node]').count()).toBe(3);
    await screenshot(page, 'nodes');
    await page.locator('[data-node] h2 a').first().click();
    await page.getByRole('heading', { name: 'History' }).waitFor();
    expect(await page.locator('.facts').textContent()).toContain('Machine booted');
    expect(await page.getByRole('button', { name: 'Drain' }).count()).toBe(0); // mia is no server admin

    await page.getByRole('link', { name: 'Templates' }).click();
    await page.getByRole('link', { name: 'greeting' }).click();
    await page.getByLabel('target (required)').fill('moon');
    await page.getByLabel('times').fill('3');
    await screenshot(page, 'templates');
    await page.getByRole('button', { name: 'Submit' }).last().click();
    await page.waitForURL(/\/jobs\/\d+$/);
    await expect.poll(() => headingStatus(page).textContent(), { timeout: 20_000 }).toBe('succeeded');
    expect(await page.locator('.facts').textContent()).toContain('greeting@1');
  }, 60_000);

  it('fits a phone screen (390×844) without sideways scrolling', async () => {
    const phone = await openPage(browser, { width: 390, height: 844 });
    pages.push(phone);
    await signIn(phone.page, tokens.mia);
    const jobs = await call<{ results: Array<{ id: number; name: string }> }>(
      tokens.mia,
      'GET',
      '/api/v1/jobs?name=pingpong-bench',
    );
    const bench = jobs.results[0]?.id;
    for (const route of ['/jobs', `/jobs/${bench}`, '/submit', '/nodes', '/locks', '/templates']) {
      await phone.page.goto(`${server.url}${route}`);
      await phone.page.locator('main h1').first().waitFor();
      const width = await phone.page.evaluate(
        () =>
          (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document
            .documentElement.scrollWidth,
      );
      expect(width, route).toBeLessThanOrEqual(390);
      if (route === `/jobs/${bench}`) await screenshot(phone.page, 'phone-job');
    }
  }, 60_000);

  it('lets a server admin drain and undrain a node; filters by creation date', async () => {
    const admin = await openPage(browser);
    pages.push(admin);
    await signIn(admin.page, ADMIN);
    await admin.page.getByRole('link', { name: 'Nodes' }).click();
    await admin.page.locator('[data-node] h2 a', { hasText: 'database-0' }).click();
    await admin.page.getByRole('button', { name: 'Drain' }).click();
    await expect.poll(() => headingStatus(admin.page).textContent()).toBe('draining');
    await admin.page.getByRole('button', { name: 'Undrain' }).click();
    await expect.poll(() => headingStatus(admin.page).textContent()).not.toBe('draining');
    await expect.poll(() => admin.page.locator('.timeline').textContent()).toContain('draining');

    // Created before the start of today: nothing; from today on: the jobs.
    const today = new Date().toISOString().slice(0, 10);
    await admin.page.goto(`${server.url}/jobs?createdBefore=${today}`);
    await admin.page.getByText('No jobs match.').waitFor();
    expect(await admin.page.getByLabel('Created before').inputValue()).toBe(today);
    await admin.page.goto(`${server.url}/jobs?createdAfter=${today}`);
    await expect.poll(() => admin.page.locator('tr[data-job]').count()).toBeGreaterThan(3);
  });

  it('asked no host but the server for anything', () => {
    const all = pages.flatMap((p) => p.requests);
    expect(all.length).toBeGreaterThan(20);
    expect(foreignHosts(all)).toEqual([]);
  });
});
