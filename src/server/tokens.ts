/**
 * Tokens: made at first start (or taken from the environment), stored only as SHA-256 hashes, shown
 * once. `check` answers who a token belongs to: its user, the user's orgs and roles, the token's
 * scope; expired and revoked tokens are nobody. Answers are cached for a moment, since every request
 * asks; a revocation takes effect within that moment on every replica.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Store, TokenKind, TokenRecord } from '../store/store.js';
import type { Authenticator, Principal } from './context.js';

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function newToken(kind: TokenKind): string {
  return `jh${kind === 'user' ? 'u' : 'g'}_${randomBytes(24).toString('base64url')}`;
}

/** The server-wide admin user, made at first start. */
export const ADMIN_USER = 'admin';

export interface BootstrapResult {
  /** Tokens made now: to be printed once, never again. */
  created: { admin?: string; agent?: string };
}

/**
 * Makes sure the admin user exists, with a token, and an agent token exists: the ones given
 * (JOBHUB_ADMIN_TOKEN, JOBHUB_AGENT_TOKEN) are registered if new; without them, new ones are made
 * when none exists yet.
 */
export async function bootstrapTokens(
  store: Store,
  given: { admin?: string; agent?: string },
  now: number,
): Promise<BootstrapResult> {
  if (!(await store.getUser(ADMIN_USER))) {
    await store.createUser({ id: ADMIN_USER, name: ADMIN_USER, serverAdmin: true, createdAt: now });
  }
  const existing = await store.listTokens();
  const created: BootstrapResult['created'] = {};
  const wanted: Array<['admin' | 'agent', TokenKind]> = [
    ['admin', 'user'],
    ['agent', 'agent'],
  ];
  for (const [which, kind] of wanted) {
    const fields = kind === 'user' ? { userId: ADMIN_USER, actFor: true } : {};
    const token = given[which];
    if (token !== undefined) {
      if (!(await store.findToken(hashToken(token)))) {
        await store.createToken({
          id: randomUUID(),
          kind,
          name: `${which} (from environment)`,
          hash: hashToken(token),
          createdAt: now,
          ...fields,
        });
      }
    } else if (
      !existing.some(
        (t) => t.kind === kind && t.revokedAt === null && (kind === 'agent' || t.userId === ADMIN_USER),
      )
    ) {
      const made = newToken(kind);
      await store.createToken({
        id: randomUUID(),
        kind,
        name: `first ${which} token`,
        hash: hashToken(made),
        createdAt: now,
        ...fields,
      });
      created[which] = made;
    }
  }
  return { created };
}

/** Whether a token may be used at `now`. */
export function tokenLive(t: TokenRecord, now: number): boolean {
  return t.revokedAt === null && (t.expiresAt === null || t.expiresAt > now);
}

export class StoreAuthenticator implements Authenticator {
  private readonly cache = new Map<string, { principal: Principal | undefined; until: number }>();

  constructor(
    private readonly store: Store,
    private readonly ttlMs = 2000,
  ) {}

  /** Forgets cached answers (after a revocation here). */
  forget(): void {
    this.cache.clear();
  }

  async check(token: string): Promise<Principal | undefined> {
    const hash = hashToken(token);
    const now = Date.now();
    const hit = this.cache.get(hash);
    if (hit && hit.until > now) return hit.principal;
    const record = await this.store.findToken(hash);
    const principal = record && tokenLive(record, now) ? await this.principalOf(record) : undefined;
    if (this.cache.size > 10_000) this.cache.clear();
    // An expiring token is not cached past its expiry.
    this.cache.set(hash, { principal, until: Math.min(now + this.ttlMs, record?.expiresAt ?? Infinity) });
    return principal;
  }

  private async principalOf(record: TokenRecord): Promise<Principal | undefined> {
    const base = {
      tokenId: record.id,
      kind: record.kind,
      name: record.name,
      scope: record.scope,
      actFor: record.actFor,
    };
    if (record.kind === 'agent' || record.userId === null) {
      return { ...base, userId: null, userName: null, serverAdmin: false, orgs: new Map() };
    }
    const user = await this.store.getUser(record.userId);
    if (!user) return undefined;
    const memberships = await this.store.listMemberships({ userId: user.id });
    return {
      ...base,
      userId: user.id,
      userName: user.name,
      serverAdmin: user.serverAdmin,
      orgs: new Map(memberships.map((m) => [m.orgId, m.role])),
    };
  }
}
