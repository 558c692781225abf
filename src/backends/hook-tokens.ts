/**
 * Per-job hook tokens: what a backend shows (header `x-hook-token`, or `Authorization: Bearer`) to
 * report a job's status and output and fetch its inputs. HMAC-SHA256 over `hook:<id>` with a key of
 * its own derived from the server key: any replica checks any token without a lookup, a token opens
 * one job's hooks only, and it is no job token (those open a job's files for agents).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const HOOK_TOKEN_HEADER = 'x-hook-token';

export class HookTokens {
  constructor(private readonly key: Buffer) {}

  sign(jobId: number): string {
    return createHmac('sha256', this.key).update(`hook:${jobId}`).digest('base64url');
  }

  verify(jobId: number, token: string | undefined): boolean {
    if (!token) return false;
    const want = Buffer.from(this.sign(jobId));
    const got = Buffer.from(token);
    return want.length === got.length && timingSafeEqual(want, got);
  }
}

/** The label of the server key's sub-key for hook tokens. */
export const HOOK_KEY_LABEL = 'jobhub backend hook tokens v1';
