// Login sessions: a random token handed to the client once, stored only as its sha256.
// Expiry slides with use (SESSION_TTL_HOURS after the last request); lock-screen keeps the row but marks it locked.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { and, eq, gt, lt, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { sessions, users, tenantScope, type UserRole } from '../db/schema/core.js';

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
 */
export async function authenticateToken(db: Db, token: string, ttlMs?: number): Promise<AuthenticatedSession | null> {
  if (!token || token.length > 200) return null;
  const tokenHash = hashToken(token);
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
  if (ttlMs !== undefined && now.getTime() - r.lastSeenAt.getTime() > TOUCH_INTERVAL_MS) {
    expiresAt = new Date(now.getTime() + ttlMs);
    await db.update(sessions).set({ lastSeenAt: now, expiresAt }).where(eq(sessions.tokenHash, tokenHash));
  }
  return {
    user: { userId: r.userId, tenantId: r.tenantId, role: r.role, loginId: r.loginId, displayName: r.displayName },
    tokenHash,
    csrfToken: r.csrfToken,
    locked: r.locked,
    expiresAt,
  };
}

export async function deleteSession(db: Db, tenantId: string, tokenHash: string): Promise<void> {
  await db.delete(sessions).where(tenantScope(sessions.tenantId, tenantId, eq(sessions.tokenHash, tokenHash)));
}

export async function setSessionLocked(db: Db, tenantId: string, tokenHash: string, locked: boolean): Promise<void> {
  await db.update(sessions).set({ locked }).where(tenantScope(sessions.tenantId, tenantId, eq(sessions.tokenHash, tokenHash)));
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
