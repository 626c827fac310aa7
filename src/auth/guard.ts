// Request authentication for the whole app: resolves the session (bearer header or cookie) into request.user,
// enforces lock-screen (423) and CSRF for cookie sessions, and offers requireRole(...) for routes.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Db } from '../db/client.js';
import type { UserRole } from '../db/schema/core.js';
import { HttpError } from '../http/errors.js';
import {
  authenticateToken,
  safeEqual,
  SESSION_COOKIE,
  CSRF_HEADER,
  type AuthUser,
  type AuthenticatedSession,
} from './sessions.js';
import type { SessionCache } from './session-cache.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** the signed-in user, or null; set for every request before route hooks run */
    user: AuthUser | null;
    authSession: AuthenticatedSession | null;
    /** how the session token came: cookie sessions need the CSRF header on state-changing requests */
    authVia: 'cookie' | 'bearer' | null;
  }
}

/** Routes a locked (lock-screen) session may still call: unlock, or leave (log out / another user logs in). */
const ALLOWED_WHEN_LOCKED = new Set(['/auth/unlock', '/auth/logout', '/auth/login']);
/** Cookie requests that need no CSRF token: logging in (a stale cookie may be present; SameSite=Strict covers it). */
const CSRF_EXEMPT = new Set(['/auth/login']);
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export const unauthenticated = () => new HttpError(401, 'unauthenticated', '请先登录');

/** Pulls the session token from `Authorization: Bearer …` or, failing that, the session cookie. */
export function sessionTokenFrom(request: FastifyRequest): { token: string; via: 'cookie' | 'bearer' } | null {
  const auth = request.headers.authorization;
  if (auth) {
    const m = /^Bearer\s+(\S+)$/i.exec(auth);
    return m ? { token: m[1]!, via: 'bearer' } : null;
  }
  const cookie = request.cookies?.[SESSION_COOKIE];
  return cookie ? { token: cookie, via: 'cookie' } : null;
}

export function installAuthGuard(app: FastifyInstance, db: Db, sessionTtlMs: number, cache?: SessionCache): void {
  app.decorateRequest('user', null);
  app.decorateRequest('authSession', null);
  app.decorateRequest('authVia', null);

  app.addHook('onRequest', async (request) => {
    const found = sessionTokenFrom(request);
    if (!found) return;
    const session = await authenticateToken(db, found.token, sessionTtlMs, cache);
    if (!session) return; // unknown/expired token: treated as anonymous; protected routes answer 401
    request.user = session.user;
    request.authSession = session;
    request.authVia = found.via;

    const route = request.routeOptions.url ?? '';
    if (session.locked && !ALLOWED_WHEN_LOCKED.has(route)) {
      throw new HttpError(423, 'session_locked', '屏幕已锁定，请输入密码解锁');
    }
    if (found.via === 'cookie' && !SAFE_METHODS.has(request.method) && !CSRF_EXEMPT.has(route)) {
      const sent = request.headers[CSRF_HEADER];
      if (typeof sent !== 'string' || !safeEqual(sent, session.csrfToken)) {
        throw new HttpError(403, 'csrf_failed', '安全校验失败，请刷新页面后重试');
      }
    }
  });
}

/**
 * Route hook: the caller must be signed in and, when roles are given, hold one of them.
 * Use as `onRequest: requireRole('admin')` (checked before body validation) or as a `preHandler`.
 */
export function requireRole(...roles: UserRole[]) {
  return async function checkRole(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    if (!request.user) throw unauthenticated();
    if (roles.length > 0 && !roles.includes(request.user.role)) {
      throw new HttpError(403, 'forbidden', '无权执行此操作');
    }
  };
}

/** Any signed-in user. */
export const requireAuth = requireRole();

/** The signed-in user of a route guarded by requireRole (throws 401 if the guard was forgotten). */
export function currentUser(request: FastifyRequest): AuthUser {
  if (!request.user) throw unauthenticated();
  return request.user;
}
