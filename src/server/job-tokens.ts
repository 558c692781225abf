/**
 * Job-scoped tokens: what an agent shows (header `x-job-token`) to fetch a job's inputs and
 * workspace and to upload its outputs. HMAC-SHA256 over `job:<id>` with a key derived from the
 * server key (server-key.ts), so any replica sharing that key checks any token without a lookup,
 * and a token opens one job's files only.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { ServerKey } from './server-key.js';

export const JOB_TOKEN_HEADER = 'x-job-token';

export class JobTokens {
  private readonly key: Buffer;

  constructor(serverKey: ServerKey) {
    // Its own key, apart from the one that encrypts secrets.
    this.key = serverKey.derive('jobhub job tokens v1');
  }

  sign(jobId: number): string {
    return createHmac('sha256', this.key).update(`job:${jobId}`).digest('base64url');
  }

  verify(jobId: number, token: string | undefined): boolean {
    if (!token) return false;
    const want = Buffer.from(this.sign(jobId));
    const got = Buffer.from(token);
    return want.length === got.length && timingSafeEqual(want, got);
  }
}
