// Login sessions: a random token handed to the client once, stored only as its sha256.
// Expiry slides with use (SESSION_TTL_HOURS after the last request); lock-screen keeps the row but marks it locked.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { and, eq, gt, lt, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { sessions, users, tenantScope, type UserRole } from '../db/schema/core.js';
import type { CachedSession, SessionCache } from './session-cache.js';

/** What routes see as `request.user`. */
export interface AuthUser {
  userId: string;
  tenantId: string;
  role: UserRole;
  loginId: string;
  displayName: string;
}

export interface AuthenticatedSession {
  user: AuthUser;
  tokenHash: string;
  csrfToken: string;
  /** lock screen: only /auth/unlock (and /auth/logout) are allowed */
  locked: boolean;
  expiresAt: Date;
}

export const SESSION_COOKIE = 'hotline_session';
/** readable by the page's script, which echoes it in the x-csrf-token header */
export const CSRF_COOKIE = 'hotline_csrf';
export const CSRF_HEADER = 'x-csrf-token';

/** don't write last_seen on every request: once a minute is enough for sliding expiry */
const TOUCH_INTERVAL_MS = 60_000;

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

export interface NewSession {
  token: string;
  tokenHash: string;
  csrfToken: string;
  expiresAt: Date;
}

export async function createSession(
  db: Db,
  user: { id: string; tenantId: string },
  ttlMs: number,
  meta: { ip?: string; userAgent?: string } = {},
): Promise<NewSession> {
  const token = randomBytes(32).toString('base64url');
  const tokenHash = hashToken(token);
  const csrfToken = randomBytes(24).toString('base64url');
  const expiresAt = new Date(Date.now() + ttlMs);
  // housekeeping where it is cheap: this user's expired sessions
  await db.delete(sessions).where(and(eq(sessions.userId, user.id), lt(sessions.expiresAt, new Date())));
  await db.insert(sessions).values({
    tokenHash,
    userId: user.id,
    tenantId: user.tenantId,
    expiresAt,
    csrfToken,
    ip: meta.ip ?? null,
    userAgent: meta.userAgent?.slice(0, 512) ?? null,
  });
  return { token, tokenHash, csrfToken, expiresAt };
}

/**
 * Resolves a session token (cookie value or bearer token) to its user. Null when unknown, expired, or the user is
 * disabled. Also used by the WebSocket layer (/ws/agent), which must refuse `locked` sessions itself.
 * With a cache, a session validated within the cache's TTL is served from Redis (PostgreSQL may be down); the
 * sliding expiry is still written to PostgreSQL once a minute, skipped while PostgreSQL fails.
 */
export async function authenticateToken(db: Db, token: string, ttlMs?: number, cache?: SessionCache): Promise<AuthenticatedSession | null> {
  if (!token || token.length > 200) return null;
  const tokenHash = hashToken(token);
  const cached = cache ? await cache.get(tokenHash) : null;
  if (cached) return fromCache(db, cache!, tokenHash, cached, ttlMs);
  const now = new Date();
  const rows = await db
    .select({
      userId: users.id,
      tenantId: users.tenantId,
      role: users.role,
      loginId: users.loginId,
      displayName: users.displayName,
      disabled: users.disabled,
      csrfToken: sessions.csrfToken,
      locked: sessions.locked,
      expiresAt: sessions.expiresAt,
      lastSeenAt: sessions.lastSeenAt,
    })
    .from(sessions)
    .innerJoin(users, and(eq(users.id, sessions.userId), eq(users.tenantId, sessions.tenantId)))
    .where(and(eq(sessions.tokenHash, tokenHash), gt(sessions.expiresAt, now)))
    .limit(1);
  const r = rows[0];
  if (!r || r.disabled) return null;
  let expiresAt = r.expiresAt;
  let lastSeenAt = r.lastSeenAt;
  if (ttlMs !== undefined && now.getTime() - r.lastSeenAt.getTime() > TOUCH_INTERVAL_MS) {
    expiresAt = new Date(now.getTime() + ttlMs);
    lastSeenAt = now;
    await db.update(sessions).set({ lastSeenAt: now, expiresAt }).where(eq(sessions.tokenHash, tokenHash));
  }
  const session: CachedSession = {
    userId: r.userId,
    tenantId: r.tenantId,
    role: r.role,
    loginId: r.loginId,
    displayName: r.displayName,
    csrfToken: r.csrfToken,
    locked: r.locked,
    expiresAt: expiresAt.getTime(),
    lastSeenAt: lastSeenAt.getTime(),
  };
  await cache?.set(tokenHash, session);
  return toAuthenticated(tokenHash, session);
}

async function fromCache(db: Db, cache: SessionCache, tokenHash: string, s: CachedSession, ttlMs?: number): Promise<AuthenticatedSession> {
  const now = Date.now();
  if (ttlMs !== undefined && now - s.lastSeenAt > TOUCH_INTERVAL_MS) {
    const expiresAt = new Date(now + ttlMs);
    try {
      // only while the row is still there: a session deleted meanwhile is not brought back by the cache
      const touched = await db
        .update(sessions)
        .set({ lastSeenAt: new Date(now), expiresAt })
        .where(eq(sessions.tokenHash, tokenHash))
        .returning({ tokenHash: sessions.tokenHash });
      if (touched.length > 0) {
        s = { ...s, lastSeenAt: now, expiresAt: expiresAt.getTime() };
        await cache.set(tokenHash, s);
      }
    } catch {
      // PostgreSQL down: the cached session serves until its cache TTL; expiry is extended once PostgreSQL is back
    }
  }
  return toAuthenticated(tokenHash, s);
}

function toAuthenticated(tokenHash: string, s: CachedSession): AuthenticatedSession {
  return {
    user: { userId: s.userId, tenantId: s.tenantId, role: s.role, loginId: s.loginId, displayName: s.displayName },
    tokenHash,
    csrfToken: s.csrfToken,
    locked: s.locked,
    expiresAt: new Date(s.expiresAt),
  };
}

export async function deleteSession(db: Db, tenantId: string, tokenHash: string, cache?: SessionCache): Promise<void> {
  await db.delete(sessions).where(tenantScope(sessions.tenantId, tenantId, eq(sessions.tokenHash, tokenHash)));
  await cache?.forget([tokenHash]);
}

export async function setSessionLocked(db: Db, tenantId: string, tokenHash: string, locked: boolean, cache?: SessionCache): Promise<void> {
  await db.update(sessions).set({ locked }).where(tenantScope(sessions.tenantId, tenantId, eq(sessions.tokenHash, tokenHash)));
  await cache?.forget([tokenHash]);
}

/**
 * Counts a wrong password in one statement (safe under concurrent attempts on several nodes). On reaching
 * `maxFailures` the account locks for `lockMinutes` and the counter restarts. Returns the lock end, if locked now.
 */
export async function recordFailedLogin(db: Db, userId: string, maxFailures: number, lockMinutes: number): Promise<Date | null> {
  const rows = await db
    .update(users)
    .set({
      failedLogins: sql`case when ${users.failedLogins} + 1 >= ${maxFailures} then 0 else ${users.failedLogins} + 1 end`,
      lockedUntil: sql`case when ${users.failedLogins} + 1 >= ${maxFailures}
        then now() + make_interval(mins => ${lockMinutes}::int) else ${users.lockedUntil} end`,
    })
    .where(eq(users.id, userId))
    .returning({ lockedUntil: users.lockedUntil });
  const until = rows[0]?.lockedUntil ?? null;
  return until && until > new Date() ? until : null;
}

export async function clearFailedLogins(db: Db, userId: string): Promise<void> {
  await db.update(users).set({ failedLogins: 0, lockedUntil: null }).where(eq(users.id, userId));
}

/** Deletes every expired session (all tenants: housekeeping, not a user query). Returns how many went. */
export async function purgeExpiredSessions(db: Db): Promise<number> {
  const gone = await db.delete(sessions).where(lt(sessions.expiresAt, new Date())).returning({ tokenHash: sessions.tokenHash });
  return gone.length;
}
