/**
 * Tokens: made at first start (or taken from the environment), stored only as SHA-256 hashes, shown
 * once. `check` answers who a token belongs to; answers are cached briefly, since every request asks.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Store, TokenKind } from '../store/store.js';
import type { Authenticator, Principal } from './context.js';

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function newToken(kind: TokenKind): string {
  return `jh${kind === 'admin' ? 'a' : 'g'}_${randomBytes(24).toString('base64url')}`;
}

export interface BootstrapResult {
  /** Tokens made now: to be printed once, never again. */
  created: Partial<Record<TokenKind, string>>;
}

/**
 * Makes sure an admin and an agent token exist: the ones given (JOBHUB_ADMIN_TOKEN,
 * JOBHUB_AGENT_TOKEN) are registered if new; without them, new ones are made when none exists yet.
 */
export async function bootstrapTokens(
  store: Store,
  given: Partial<Record<TokenKind, string>>,
  now: number,
): Promise<BootstrapResult> {
  const existing = await store.listTokens();
  const created: BootstrapResult['created'] = {};
  for (const kind of ['admin', 'agent'] as const) {
    const token = given[kind];
    if (token !== undefined) {
      if (!(await store.findToken(hashToken(token)))) {
        await store.createToken({
          id: randomUUID(),
          kind,
          name: `${kind} (from environment)`,
          hash: hashToken(token),
          createdAt: now,
        });
      }
    } else if (!existing.some((t) => t.kind === kind && t.revokedAt === null)) {
      const made = newToken(kind);
      await store.createToken({
        id: randomUUID(),
        kind,
        name: `first ${kind} token`,
        hash: hashToken(made),
        createdAt: now,
      });
      created[kind] = made;
    }
  }
  return { created };
}

export class StoreAuthenticator implements Authenticator {
  private readonly cache = new Map<string, { principal: Principal | undefined; until: number }>();

  constructor(
    private readonly store: Store,
    private readonly ttlMs = 5000,
  ) {}

  async check(token: string): Promise<Principal | undefined> {
    const hash = hashToken(token);
    const now = Date.now();
    const hit = this.cache.get(hash);
    if (hit && hit.until > now) return hit.principal;
    const record = await this.store.findToken(hash);
    const principal =
      record && record.revokedAt === null
        ? { tokenId: record.id, kind: record.kind, name: record.name }
        : undefined;
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(hash, { principal, until: now + this.ttlMs });
    return principal;
  }
}
