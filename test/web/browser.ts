/**
 * A real browser for the UI tests: Debian's chromium through playwright-core (headless; no sandbox
 * as root, where Chromium refuses to start with one). Every request a page makes is recorded, so a
 * test can check that nothing went to another host.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

export const CHROMIUM = process.env.JOBHUB_CHROMIUM ?? '/usr/bin/chromium';
export const SCREENSHOTS = path.resolve(import.meta.dirname, '../../test-results/screenshots');

/** Why the browser tests cannot run here, or undefined when they can. */
export function noBrowser(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `no browser at ${CHROMIUM} (.ci/run installs Debian's chromium)`;
}

export async function launch(): Promise<Browser> {
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...(root ? ['--no-sandbox'] : []), '--disable-gpu', '--disable-dev-shm-usage'],
  });
}

export interface RecordedPage {
  context: BrowserContext;
  page: Page;
  /** Every URL requested by the page so far. */
  requests: string[];
}

export async function openPage(
  browser: Browser,
  viewport: { width: number; height: number } = { width: 1366, height: 768 },
): Promise<RecordedPage> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const requests: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  return { context, page, requests };
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Hosts other than loopback that any of these URLs went to (data: and blob: have none). */
export function foreignHosts(urls: readonly string[]): string[] {
  const out = new Set<string>();
  for (const u of urls) {
    const url = new URL(u);
    if (url.protocol === 'data:' || url.protocol === 'blob:') continue;
    if (url.hostname !== '127.0.0.1' && url.hostname !== 'localhost' && url.hostname !== '[::1]') out.add(u);
  }
  return [...out];
}
