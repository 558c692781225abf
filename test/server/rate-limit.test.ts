/**
 * Rate limiting per API token: the bucket itself (on a fake clock), then the real HTTP app: a token
 * over its rate gets 429 with Retry-After while another token is served, bad tokens are limited by
 * address, and the CLI's client waits out a 429 instead of failing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/cli/client.js';
import { RateLimiter } from '../../src/server/rate-limit.js';
import { ADMIN, type ApiHarness, apiHarness } from '../helpers/api.js';

describe('RateLimiter', () => {
  it('lets a burst through, then one request per 1/rate, per key', () => {
    let now = 0;
    const limiter = new RateLimiter({ perSecond: 2, burst: 3, now: () => now });
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([0, 0, 0]);
    expect(limiter.take('a')).toBe(500); // empty: the next token comes in 500 ms
    expect(limiter.take('b')).toBe(0); // another key has its own bucket
    now += 500;
    expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBe(500);
    now += 10_000; // refills up to the burst, not beyond
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([
      0, 0, 0, 500,
    ]);
  });

  it('is off at 0', () => {
    const limiter = new RateLimiter({ perSecond: 0 });
    for (let i = 0; i < 1000; i++) expect(limiter.take('a')).toBe(0);
  });
});

describe('the API under a rate limit', () => {
  let a: ApiHarness;
  afterEach(async () => {
    await a?.dispose();
  });

  it('answers 429 with Retry-After to a token over its rate, and serves other tokens', async () => {
    a = await apiHarness({ rateLimit: 1 }); // burst 2
    const made = (await (
      await a.api('/api/v1/tokens', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"name":"second"}',
      })
    ).json()) as { token: string };
    expect((await a.api('/api/v1/whoami')).status).toBe(200);
    const limited = await a.api('/api/v1/whoami');
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await limited.json()).toMatchObject({ code: 'rate_limited' });
    const other = await a.api('/api/v1/whoami', { headers: { 'x-api-token': made.token } });
    expect(other.status).toBe(200);
  });

  it('limits requests with unknown tokens by address', async () => {
    a = await apiHarness({ rateLimit: 1 });
    const bad = () => a.api('/api/v1/jobs', { headers: { 'x-api-token': 'guess' } });
    const statuses = [(await bad()).status, (await bad()).status, (await bad()).status];
    expect(statuses).toEqual([401, 401, 429]);
  });

  it("the CLI's client waits out a 429 and goes on", async () => {
    a = await apiHarness({ rateLimit: 1 });
    const client = new ApiClient({ server: a.base, token: ADMIN });
    const seen: number[] = [];
    const fetchSpy: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      seen.push(res.status);
      return res;
    };
    const spied = new ApiClient({ server: a.base, token: ADMIN, fetch: fetchSpy });
    await client.request('GET', '/api/v1/whoami');
    await client.request('GET', '/api/v1/whoami');
    await expect(spied.request('GET', '/api/v1/whoami')).resolves.toBeDefined();
    expect(seen[0]).toBe(429);
    expect(seen.at(-1)).toBe(200);
  });
});
