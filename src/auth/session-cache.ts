// Validated login sessions cached in Redis, so agents keep using REST (go ready, take calls) while PostgreSQL is
// down. Read first, PostgreSQL on a miss. Shared by every node: whatever ends a session (logout, password change,
// account lock, user disabled or changed) deletes the Redis key, so no node keeps honouring it from memory.
import type { Redis } from 'ioredis';
import type { UserRole } from '../db/schema/core.js';

/** how long a validated session is trusted without asking PostgreSQL again (also bounds any missed invalidation) */
export const SESSION_CACHE_MAX_MS = 10 * 60_000;

export interface CachedSession {
  userId: string;
  tenantId: string;
  role: UserRole;
  loginId: string;
  displayName: string;
  csrfToken: string;
  locked: boolean;
  expiresAt: number;
  lastSeenAt: number;
}

export class SessionCache {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly maxMs = SESSION_CACHE_MAX_MS,
  ) {}

  private key(tokenHash: string): string {
    return `${this.prefix}:session:${tokenHash}`;
  }

  /** null on a miss, and when Redis fails (the caller asks PostgreSQL) */
  async get(tokenHash: string): Promise<CachedSession | null> {
    try {
      const raw = await this.redis.get(this.key(tokenHash));
      const s = raw ? (JSON.parse(raw) as CachedSession) : null;
      return s && s.expiresAt > Date.now() ? s : null;
    } catch {
      return null;
    }
  }

  /** TTL = min(session expiry, maxMs); a failing Redis only costs the next request a PostgreSQL read */
  async set(tokenHash: string, session: CachedSession): Promise<void> {
    const ttlMs = Math.min(session.expiresAt - Date.now(), this.maxMs);
    if (ttlMs <= 0) return;
    await this.redis.set(this.key(tokenHash), JSON.stringify(session), 'PX', Math.ceil(ttlMs)).catch(() => undefined);
  }

  /** Must reach Redis: a revoked session still cached would be honoured by every node until its TTL. */
  async forget(tokenHashes: string[]): Promise<void> {
    if (tokenHashes.length > 0) await this.redis.del(...tokenHashes.map((h) => this.key(h)));
  }
}

/** Stateless: each module may build its own for the app's Redis and prefix. */
export function sessionCacheFor(ctx: { redis: Redis; redisPrefix: string }): SessionCache {
  return new SessionCache(ctx.redis, ctx.redisPrefix);
}
