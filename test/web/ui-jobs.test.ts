/**
 * The web UI's job pages in a real browser (Debian's chromium) against a real `jobhub server` and
 * three real agents (ui-cluster.ts): sign in (keyboard only), submit the example benchmark by
 * pasting it and watch it succeed live, read a task's log (ANSI colours, paging back, search), stop
 * a long job with the button, see a spec error at its line, never see another org's job, see runs
 * made through the seeds' APIs, filter by creation date, fit a phone's width, and never ask another
 * host for anything. Screenshots of the main pages go to test-results/screenshots/. Nodes and
 * templates: ui-nodes.test.ts.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tarBuffer } from '../helpers/archives.js';
import { ADMIN, eventually } from '../helpers/cluster.js';
import { foreignHosts, noBrowser, screenshot } from './browser.js';
import { headingStatus, uiCluster } from './ui-cluster.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const skip = noBrowser();
if (skip) console.log(`skipping the web UI browser tests: ${skip}`);

describe.skipIf(skip !== undefined)('the web UI in a browser: jobs', () => {
  const web = uiCluster();

  it('signs in with the keyboard alone, and refuses a wrong token', async () => {
    const { page } = web.ui;
    await page.goto(`${web.server.url}/`);
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
    await page.keyboard.type(web.tokens.mia);
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    expect(await page.locator('.who').textContent()).toContain('mia');
    await screenshot(page, 'jobs-empty');
  });

  it('submits the example benchmark pasted in (by keyboard) and shows it reach succeeded live', async () => {
    const { page } = web.ui;
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
    const api = await web.call<{ status: string }>(web.tokens.mia, 'GET', `/api/v1/jobs/${id}`);
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
    const { page } = web.ui;
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
    const id = await web.submitAs(web.tokens.mia, spec);
    await eventually(async () => {
      const j = await web.call<{ status: string }>(web.tokens.mia, 'GET', `/api/v1/jobs/${id}`);
      return j.status === 'succeeded' ? true : undefined;
    });
    await page.goto(`${web.server.url}/jobs/${id}`);
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
    const { page } = web.ui;
    const spec = `name: long-one
owner: {name: bench-team, type: org}
locks: [env-1]
stages:
  - name: sleep
    tasks:
      - {name: nap, shell: {command: "echo napping; sleep 300"}}
`;
    const id = await web.submitAs(web.tokens.mia, spec);
    await page.goto(`${web.server.url}/jobs/${id}`);
    await expect.poll(() => headingStatus(page).textContent(), { timeout: 20_000 }).toBe('running');
    await page.getByRole('link', { name: 'Locks' }).click();
    await page
      .locator('[data-lock="env-1"]')
      .getByRole('link', { name: `job #${id}` })
      .waitFor();
    await screenshot(page, 'locks');

    // vera only views bench-team's jobs: the page shows no Stop button.
    const viewer = await web.open();
    await web.signIn(viewer.page, web.tokens.vera);
    await viewer.page.goto(`${web.server.url}/jobs/${id}`);
    await expect.poll(() => headingStatus(viewer.page).textContent()).toBe('running');
    expect(await viewer.page.getByRole('button', { name: 'Stop' }).count()).toBe(0);

    // A second job wanting the same lock waits, and its page says for what and behind whom.
    const waiting = await web.submitAs(
      web.tokens.mia,
      spec.replace('long-one', 'lock-waiter').replace('sleep 300', 'true'),
    );
    await page.goto(`${web.server.url}/jobs/${waiting}`);
    const why = page.locator('.waiting');
    await why.waitFor();
    await expect.poll(() => why.textContent()).toContain('Lock env-1');
    expect(await why.getByRole('link', { name: `#${id}` }).count()).toBe(1);
    await screenshot(page, 'job-waiting');

    await page.goto(`${web.server.url}/jobs/${id}`);
    await page.getByRole('button', { name: 'Stop' }).click();
    await expect.poll(() => headingStatus(page).textContent(), { timeout: 20_000 }).toBe('stopped');
    // The lock is free again: the waiting job runs to the end.
    await eventually(async () => {
      const j = await web.call<{ status: string }>(web.tokens.mia, 'GET', `/api/v1/jobs/${waiting}`);
      return j.status === 'succeeded' ? true : undefined;
    });
    await expect.poll(() => page.locator('.timeline').textContent()).toContain('job.status');
    expect(await page.getByRole('button', { name: 'Retry' }).count()).toBe(1);
  }, 60_000);

  it('shows a spec error next to its line', async () => {
    const { page } = web.ui;
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
    const { page } = web.ui;
    const ottoSpec =
      'name: otto-secret\nowner: {name: other-lab, type: org}\nstages:\n  - name: s\n    tasks:\n      - {name: t, shell: {command: "echo hidden"}}\n';
    const miaSpec =
      'name: mia-visible\nowner: {name: bench-team, type: org}\nstages:\n  - name: s\n    tasks:\n      - {name: t, shell: {command: "echo shown"}}\n';
    const secret = await web.submitAs(web.tokens.otto, ottoSpec);
    const mine = await web.submitAs(web.tokens.mia, miaSpec);
    await page.goto(`${web.server.url}/jobs`);
    // While the list is open, otto submits again: the live list takes mia's new job, never otto's.
    const later = await web.submitAs(web.tokens.otto, ottoSpec);
    const mineLater = await web.submitAs(web.tokens.mia, miaSpec);
    await page.locator(`tr[data-job="${mineLater}"]`).waitFor();
    expect(await page.locator(`tr[data-job="${mine}"]`).count()).toBe(1);
    for (const id of [secret, later]) expect(await page.locator(`tr[data-job="${id}"]`).count()).toBe(0);
    expect(await page.locator('main').textContent()).not.toContain('otto-secret');
    // By search.
    await page.getByLabel('Name (exact)').fill('otto-secret');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByText('No jobs match.').waitFor();
    // By its URL: the API says it does not exist, and nothing of it shows.
    await page.goto(`${web.server.url}/jobs/${secret}`);
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).toContain(`job ${secret}`);
    expect(await page.locator('main').textContent()).not.toContain('otto-secret');
    // otto, in his own browser, does see it (the test could fail the other way).
    const other = await web.open();
    await web.signIn(other.page, web.tokens.otto);
    await other.page.locator(`tr[data-job="${secret}"]`).waitFor();
    expect(await other.page.locator(`tr[data-job="${mine}"]`).count()).toBe(0);
  }, 60_000);

  it("lists runs submitted through the seeds' APIs (ASCOB POST /api/runs, o2r POST /api/v1/job)", async () => {
    const { page } = web.ui;
    const spec =
      'name: portal-run\nstages:\n  - name: s\n    tasks:\n      - {name: t, shell: {command: "echo portal"}}\n';
    const ascob = await web.call<{ runId: number }>(
      web.tokens.mia,
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
    const ws = await web.call<{ id: string }>(
      web.tokens.mia,
      'POST',
      '/api/v1/workspaces?name=comp-ui',
      archive,
      'application/octet-stream',
    );
    const o2r = await web.call<{ job_id: string }>(
      web.tokens.mia,
      'POST',
      '/api/v1/job',
      `compendium_id=${ws.id}`,
      'application/x-www-form-urlencoded',
    );
    await page.goto(`${web.server.url}/jobs`);
    await page.locator(`tr[data-job="${ascob.runId}"]`).waitFor();
    await page.locator(`tr[data-job="${o2r.job_id}"]`).waitFor();
    expect(await page.locator(`tr[data-job="${o2r.job_id}"]`).textContent()).toContain('compendium-run');
  });

  it('fits a phone screen (390×844) without sideways scrolling', async () => {
    const phone = await web.open({ width: 390, height: 844 });
    await web.signIn(phone.page, web.tokens.mia);
    const jobs = await web.call<{ results: Array<{ id: number; name: string }> }>(
      web.tokens.mia,
      'GET',
      '/api/v1/jobs?name=pingpong-bench',
    );
    const bench = jobs.results[0]?.id;
    for (const route of ['/jobs', `/jobs/${bench}`, '/submit', '/nodes', '/locks', '/templates']) {
      await phone.page.goto(`${web.server.url}${route}`);
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

  it('filters the job list by creation date', async () => {
    const admin = await web.open();
    await web.signIn(admin.page, ADMIN);
    // Created before the start of today: nothing; from today on: the jobs.
    const today = new Date().toISOString().slice(0, 10);
    await admin.page.goto(`${web.server.url}/jobs?createdBefore=${today}`);
    await admin.page.getByText('No jobs match.').waitFor();
    expect(await admin.page.getByLabel('Created before').inputValue()).toBe(today);
    await admin.page.goto(`${web.server.url}/jobs?createdAfter=${today}`);
    await expect.poll(() => admin.page.locator('tr[data-job]').count()).toBeGreaterThan(3);
  });

  it('asked no host but the server for anything', () => {
    const all = web.pages.flatMap((p) => p.requests);
    expect(all.length).toBeGreaterThan(20);
    expect(foreignHosts(all)).toEqual([]);
  });
});
