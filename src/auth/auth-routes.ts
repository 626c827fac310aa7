// /auth/*: login by ID + password, logout, lock screen, password change, who am I.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../app-context.js';
import { USER_ROLES } from '../db/schema/core.js';
import { HttpError, errorBodySchema } from '../http/errors.js';
import { verifyPassword, burnPasswordCheck, passwordPolicyViolation } from './passwords.js';
import {
  createSession,
  deleteSession,
  setSessionLocked,
  recordFailedLogin,
  clearFailedLogins,
  SESSION_COOKIE,
  CSRF_COOKIE,
  type AuthenticatedSession,
} from './sessions.js';
import { findUserForLogin, getUser, setUserPassword, revokeSessions } from './users.js';
import { requireAuth, currentUser } from './guard.js';
import { writeAudit } from './audit.js';
import { sessionCacheFor } from './session-cache.js';

const invalidCredentials = () => new HttpError(401, 'invalid_credentials', '用户名或密码错误');

export function accountLocked(until: Date): HttpError {
  const minutes = Math.max(1, Math.ceil((until.getTime() - Date.now()) / 60_000));
  return new HttpError(423, 'account_locked', `账号已锁定，请${minutes}分钟后再试`, undefined, {
    'retry-after': String(Math.ceil((until.getTime() - Date.now()) / 1000)),
  });
}

const userSchema = {
  type: 'object',
  properties: {
    userId: { type: 'string' },
    tenantId: { type: 'string' },
    role: { type: 'string', enum: [...USER_ROLES] },
    loginId: { type: 'string' },
    displayName: { type: 'string' },
  },
  required: ['userId', 'tenantId', 'role', 'loginId', 'displayName'],
} as const;

const okSchema = { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] } as const;
const errors = { 400: errorBodySchema, 401: errorBodySchema, 403: errorBodySchema, 423: errorBodySchema, 429: errorBodySchema };
const loginIdSchema = { type: 'string', minLength: 1, maxLength: 64 } as const;
const passwordSchema = { type: 'string', minLength: 1, maxLength: 256 } as const;

export function authRoutes(ctx: AppContext): FastifyPluginAsync {
  const { db, env, log } = ctx;
  const cache = sessionCacheFor(ctx);
  const ttlMs = env.SESSION_TTL_HOURS * 3_600_000;

  function setSessionCookies(reply: FastifyReply, token: string, csrfToken: string): void {
    // browser-session cookies (no max-age): closing the browser on a shared desk ends the login there;
    // the server-side expiry (SESSION_TTL_HOURS after last use) still applies
    const common = { path: '/', sameSite: 'strict' as const, secure: env.COOKIE_SECURE };
    reply.setCookie(SESSION_COOKIE, token, { ...common, httpOnly: true });
    reply.setCookie(CSRF_COOKIE, csrfToken, { ...common, httpOnly: false });
  }

  function clearSessionCookies(reply: FastifyReply): void {
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    reply.clearCookie(CSRF_COOKIE, { path: '/' });
  }

  /** Wrong password on unlock / password change counts toward lockout; on lockout every session of the user ends. */
  async function rejectWrongPassword(session: AuthenticatedSession, message: string): Promise<never> {
    const { userId, tenantId } = session.user;
    const lockedUntil = await recordFailedLogin(db, userId, env.LOGIN_MAX_FAILURES, env.LOGIN_LOCK_MINUTES);
    await writeAudit(db, { tenantId, userId, action: 'auth.password_failed', target: userId }, log);
    if (lockedUntil) {
      await revokeSessions(db, tenantId, userId, undefined, cache);
      await writeAudit(db, { tenantId, userId, action: 'auth.account_locked', target: userId }, log);
      throw accountLocked(lockedUntil);
    }
    throw new HttpError(403, 'wrong_password', message);
  }

  async function checkOwnPassword(request: FastifyRequest, password: string, message: string): Promise<void> {
    const session = request.authSession!;
    const user = await getUser(db, session.user.tenantId, session.user.userId);
    if (!user) throw new HttpError(401, 'unauthenticated', '请先登录');
    if (user.lockedUntil && user.lockedUntil > new Date()) throw accountLocked(user.lockedUntil);
    if (!(await verifyPassword(user.passwordHash, password))) await rejectWrongPassword(session, message);
    if (user.failedLogins > 0) await clearFailedLogins(db, user.id);
  }

  return async (app) => {
    app.post<{ Body: { loginId: string; password: string } }>(
      '/auth/login',
      {
        config: { rateLimit: { max: env.LOGIN_RATE_LIMIT_PER_MINUTE, timeWindow: 60_000 } },
        schema: {
          tags: ['auth'],
          summary: 'Log in with user ID (工号) and password',
          body: {
            type: 'object',
            properties: { loginId: loginIdSchema, password: passwordSchema },
            required: ['loginId', 'password'],
            additionalProperties: false,
          },
          response: {
            200: {
              type: 'object',
              properties: {
                token: { type: 'string', description: 'session token; send as `Authorization: Bearer` or use the cookie' },
                csrfToken: { type: 'string', description: 'send as x-csrf-token on state-changing cookie requests' },
                expiresAt: { type: 'string', format: 'date-time' },
                user: userSchema,
              },
              required: ['token', 'csrfToken', 'expiresAt', 'user'],
            },
            ...errors,
          },
        },
      },
      async (request, reply) => {
        const { loginId, password } = request.body;
        const user = await findUserForLogin(db, loginId);
        if (!user) {
          await burnPasswordCheck(password);
          log.warn({ ip: request.ip }, 'login failed: unknown login id');
          throw invalidCredentials();
        }
        if (user.lockedUntil && user.lockedUntil > new Date()) throw accountLocked(user.lockedUntil);
        if (!(await verifyPassword(user.passwordHash, password))) {
          const lockedUntil = await recordFailedLogin(db, user.id, env.LOGIN_MAX_FAILURES, env.LOGIN_LOCK_MINUTES);
          await writeAudit(db, { tenantId: user.tenantId, userId: user.id, action: 'auth.login_failed', target: user.id, details: { ip: request.ip } }, log);
          if (lockedUntil) {
            await writeAudit(db, { tenantId: user.tenantId, userId: user.id, action: 'auth.account_locked', target: user.id }, log);
            throw accountLocked(lockedUntil);
          }
          throw invalidCredentials();
        }
        if (user.disabled) throw new HttpError(403, 'account_disabled', '账号已停用，请联系管理员');
        if (user.failedLogins > 0) await clearFailedLogins(db, user.id);

        // a login from a browser that still holds a session replaces it (e.g. shift change on a locked desk)
        const previous = request.authVia === 'cookie' ? request.authSession : null;
        if (previous) await deleteSession(db, previous.user.tenantId, previous.tokenHash, cache);
        const session = await createSession(db, user, ttlMs, { ip: request.ip, userAgent: request.headers['user-agent'] });
        await writeAudit(db, { tenantId: user.tenantId, userId: user.id, action: 'auth.login', target: user.id, details: { ip: request.ip } }, log);
        setSessionCookies(reply, session.token, session.csrfToken);
        return {
          token: session.token,
          csrfToken: session.csrfToken,
          expiresAt: session.expiresAt.toISOString(),
          user: { userId: user.id, tenantId: user.tenantId, role: user.role, loginId: user.loginId, displayName: user.displayName },
        };
      },
    );

    app.post(
      '/auth/logout',
      { onRequest: requireAuth, schema: { tags: ['auth'], summary: 'End this session', response: { 200: okSchema, ...errors } } },
      async (request, reply) => {
        const user = currentUser(request);
        await deleteSession(db, user.tenantId, request.authSession!.tokenHash, cache);
        await writeAudit(db, { tenantId: user.tenantId, userId: user.userId, action: 'auth.logout', target: user.userId }, log);
        clearSessionCookies(reply);
        return { ok: true };
      },
    );

    app.post(
      '/auth/lock',
      {
        onRequest: requireAuth,
        schema: { tags: ['auth'], summary: 'Lock the screen: every call but /auth/unlock answers 423 until unlocked', response: { 200: okSchema, ...errors } },
      },
      async (request) => {
        const user = currentUser(request);
        await setSessionLocked(db, user.tenantId, request.authSession!.tokenHash, true, cache);
        await writeAudit(db, { tenantId: user.tenantId, userId: user.userId, action: 'auth.lock', target: user.userId }, log);
        return { ok: true };
      },
    );

    app.post<{ Body: { password: string } }>(
      '/auth/unlock',
      {
        onRequest: requireAuth,
        schema: {
          tags: ['auth'],
          summary: 'Unlock a locked screen with the password',
          body: { type: 'object', properties: { password: passwordSchema }, required: ['password'], additionalProperties: false },
          response: { 200: okSchema, ...errors },
        },
      },
      async (request) => {
        const user = currentUser(request);
        await checkOwnPassword(request, request.body.password, '密码错误');
        await setSessionLocked(db, user.tenantId, request.authSession!.tokenHash, false, cache);
        await writeAudit(db, { tenantId: user.tenantId, userId: user.userId, action: 'auth.unlock', target: user.userId }, log);
        return { ok: true };
      },
    );

    app.post<{ Body: { oldPassword: string; newPassword: string } }>(
      '/auth/password',
      {
        onRequest: requireAuth,
        schema: {
          tags: ['auth'],
          summary: 'Change own password (the old password is required); other sessions of the user end',
          body: {
            type: 'object',
            properties: { oldPassword: passwordSchema, newPassword: { type: 'string', minLength: 1, maxLength: 128 } },
            required: ['oldPassword', 'newPassword'],
            additionalProperties: false,
          },
          response: { 200: okSchema, ...errors },
        },
      },
      async (request) => {
        const user = currentUser(request);
        const { oldPassword, newPassword } = request.body;
        await checkOwnPassword(request, oldPassword, '原密码错误');
        const violation = passwordPolicyViolation(newPassword);
        if (violation) throw new HttpError(400, 'weak_password', violation, 'newPassword');
        if (newPassword === oldPassword) throw new HttpError(400, 'password_unchanged', '新密码不能与原密码相同', 'newPassword');
        await setUserPassword(db, user.tenantId, user.userId, newPassword, request.authSession!.tokenHash, cache);
        await writeAudit(db, { tenantId: user.tenantId, userId: user.userId, action: 'auth.password_changed', target: user.userId }, log);
        return { ok: true };
      },
    );

    app.get(
      '/auth/me',
      {
        onRequest: requireAuth,
        schema: {
          tags: ['auth'],
          summary: 'The signed-in user and the CSRF token of this session',
          response: {
            200: {
              type: 'object',
              properties: { user: userSchema, csrfToken: { type: 'string' }, expiresAt: { type: 'string', format: 'date-time' } },
              required: ['user', 'csrfToken', 'expiresAt'],
            },
            ...errors,
          },
        },
      },
      async (request) => {
        const session = request.authSession!;
        return { user: session.user, csrfToken: session.csrfToken, expiresAt: session.expiresAt.toISOString() };
      },
    );
  };
}
