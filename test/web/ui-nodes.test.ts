/**
 * The web UI's node and template pages in a real browser against a real `jobhub server` and three
 * real agents (ui-cluster.ts): nodes listed (drain only for server admins), a node's history, a
 * template's form that submits a job, a server admin draining and undraining a node, and nothing
 * asked of another host. Screenshots go to test-results/screenshots/.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ADMIN } from '../helpers/cluster.js';
import { foreignHosts, noBrowser, screenshot } from './browser.js';
import { headingStatus, uiCluster } from './ui-cluster.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const skip = noBrowser();
if (skip) console.log(`skipping the web UI browser tests: ${skip}`);

describe.skipIf(skip !== undefined)('the web UI in a browser: nodes and templates', () => {
  const web = uiCluster();

  it('shows nodes (with drain for admins) and templates with a form that submits one', async () => {
    const { page } = web.ui;
    await web.signIn(page, web.tokens.mia);
    await web.call(
      web.tokens.mia,
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

  it('lets a server admin drain and undrain a node', async () => {
    const admin = await web.open();
    await web.signIn(admin.page, ADMIN);
    await admin.page.getByRole('link', { name: 'Nodes' }).click();
    await admin.page.locator('[data-node] h2 a', { hasText: 'database-0' }).click();
    await admin.page.getByRole('button', { name: 'Drain' }).click();
    await expect.poll(() => headingStatus(admin.page).textContent()).toBe('draining');
    await admin.page.getByRole('button', { name: 'Undrain' }).click();
    await expect.poll(() => headingStatus(admin.page).textContent()).not.toBe('draining');
    await expect.poll(() => admin.page.locator('.timeline').textContent()).toContain('draining');
  });

  it('asked no host but the server for anything', () => {
    const all = web.pages.flatMap((p) => p.requests);
    expect(all.length).toBeGreaterThan(20);
    expect(foreignHosts(all)).toEqual([]);
  });
});
