import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { eq } from 'drizzle-orm';
import { buildHttpApp } from '../../src/http/app.js';
import { users } from '../../src/db/schema/core.js';
import { makeTestContext, createTestTenant, createTestUser, login, type TestContext } from '../http/fixture.js';

let t: TestContext;
let app: FastifyInstance;
let tenantId: string;

beforeAll(async () => {
  t = await makeTestContext();
  app = await buildHttpApp(t.ctx);
  tenantId = await createTestTenant(t.ctx);
});
afterAll(async () => {
  await app?.close();
  await t?.close();
});

describe('login', () => {
  it('logs in by ID and password, stores an argon2id hash, and answers /auth/me by bearer token', async () => {
    const u = await createTestUser(t.ctx, tenantId, 'agent');
    const [row] = await t.ctx.db.select().from(users).where(eq(users.id, u.id));
    expect(row!.passwordHash.startsWith('$argon2id$')).toBe(true);

    const res = await app.inject({ method: 'POST', url: '/auth/login', payload: { loginId: u.loginId, password: u.password } });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.user).toEqual({ userId: u.id, tenantId, role: 'agent', loginId: u.loginId, displayName: '测试agent' });
    expect(body.token).toMatch(/^[A-Za-z0-9_-]{40,}$/);

    const session = res.cookies.find((c) => c.name === 'hotline_session')!;
    expect(session.httpOnly).toBe(true);
    expect(session.sameSite).toBe('Strict');
    expect(session.value).toBe(body.token);

    const me = await app.inject({ method: 'GET', url: '/auth/me', headers: { authorization: `Bearer ${body.token}` } });
    expect(me.statusCode).toBe(200);
    expect(me.json().user.userId).toBe(u.id);
    expect(me.json().csrfToken).toBe(body.csrfToken);
  });

  it('refuses a wrong password and an unknown ID with the same Chinese message', async () => {
    const u = await createTestUser(t.ctx, tenantId, 'agent');
    const wrong = await app.inject({ method: 'POST', url: '/auth/login', payload: { loginId: u.loginId, password: 'nope1234' } });
    const unknown = await app.inject({ method: 'POST', url: '/auth/login', payload: { loginId: 'no-such-user-xyz', password: 'nope1234' } });
    for (const res of [wrong, unknown]) {
      expect(res.statusCode).toBe(401);
      expect(res.json()).toMatchObject({ error: 'invalid_credentials', code: 'invalid_credentials', message: '用户名或密码错误' });
    }
  });

  it('answers 401 without a session and with a garbage token', async () => {
    expect((await app.inject({ method: 'GET', url: '/auth/me' })).json()).toMatchObject({ code: 'unauthenticated', message: '请先登录' });
    const res = await app.inject({ method: 'GET', url: '/auth/me', headers: { authorization: 'Bearer garbage' } });
    expect(res.statusCode).toBe(401);
  });

  it('locks the account for 15 minutes after 5 wrong passwords, even for the right password', async () => {
    const u = await createTestUser(t.ctx, tenantId, 'agent');
    for (let i = 1; i <= 4; i++) {
      const res = await app.inject({ method: 'POST', url: '/auth/login', payload: { loginId: u.loginId, password: `wrong${i}xx` } });
      expect(res.statusCode).toBe(401);
    }
    const fifth = await app.inject({ method: 'POST', url: '/auth/login', payload: { loginId: u.loginId, password: 'wrong5xx' } });
    expect(fifth.statusCode).toBe(423);
    expect(fifth.json()).toMatchObject({ code: 'account_locked', message: '账号已锁定，请15分钟后再试' });
    expect(Number(fifth.headers['retry-after'])).toBeGreaterThan(890);

    const right = await app.inject({ method: 'POST', url: '/auth/login', payload: { loginId: u.loginId, password: u.password } });
    expect(right.statusCode).toBe(423);

    // an admin of the same center can lift the lock
    const admin = await createTestUser(t.ctx, tenantId, 'admin');
    const s = await login(app, admin.loginId, admin.password);
    const unlock = await app.inject({ method: 'PATCH', url: `/admin/users/${u.id}`, headers: s.bearer, payload: { unlock: true } });
    expect(unlock.statusCode).toBe(200);
    expect(unlock.json().lockedUntil).toBeNull();
    await login(app, u.loginId, u.password);
  });

  it('counts concurrent wrong passwords exactly (one statement per failure)', async () => {
    const u = await createTestUser(t.ctx, tenantId, 'agent');
    const codes = await Promise.all(
      Array.from({ length: 4 }, () => app.inject({ method: 'POST', url: '/auth/login', payload: { loginId: u.loginId, password: 'parallel1x' } })),
    );
    expect(codes.map((r) => r.statusCode)).toEqual([401, 401, 401, 401]);
    const [row] = await t.ctx.db.select().from(users).where(eq(users.id, u.id));
    expect(row!.failedLogins).toBe(4);
    const fifth = await app.inject({ method: 'POST', url: '/auth/login', payload: { loginId: u.loginId, password: 'parallel1x' } });
    expect(fifth.statusCode).toBe(423);
  });

  it('a successful login resets the failure count', async () => {
    const u = await createTestUser(t.ctx, tenantId, 'agent');
    for (let i = 0; i < 4; i++) await app.inject({ method: 'POST', url: '/auth/login', payload: { loginId: u.loginId, password: 'wrongxx1' } });
    await login(app, u.loginId, u.password);
    const res = await app.inject({ method: 'POST', url: '/auth/login', payload: { loginId: u.loginId, password: 'wrongxx1' } });
    expect(res.statusCode).toBe(401);
  });

  it('refuses a disabled user', async () => {
    const u = await createTestUser(t.ctx, tenantId, 'agent');
    await t.ctx.db.update(users).set({ disabled: true }).where(eq(users.id, u.id));
    const res = await app.inject({ method: 'POST', url: '/auth/login', payload: { loginId: u.loginId, password: u.password } });
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe('account_disabled');
  });

  it('names the missing field in a 400', async () => {
    const res = await app.inject({ method: 'POST', url: '/auth/login', payload: { loginId: 'x' } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: 'bad_request', code: 'bad_request', message: 'password is required', field: 'password' });
  });

  it('sends helmet security headers', async () => {
    const res = await app.inject({ method: 'GET', url: '/auth/me' });
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(res.headers['content-security-policy']).toContain("default-src 'self'");
  });
});

describe('login rate limit', () => {
  it('answers 429 after LOGIN_RATE_LIMIT_PER_MINUTE attempts from one address', async () => {
    const limited = await makeTestContext({ LOGIN_RATE_LIMIT_PER_MINUTE: '3' });
    const limitedApp = await buildHttpApp(limited.ctx);
    try {
      const codes: number[] = [];
      for (let i = 0; i < 4; i++) {
        const res = await limitedApp.inject({ method: 'POST', url: '/auth/login', payload: { loginId: 'nobody-rl', password: 'whatever1' } });
        codes.push(res.statusCode);
        if (res.statusCode === 429) {
          expect(res.json().code).toBe('too_many_requests');
          expect(res.json().message).toMatch(/^请求过于频繁/);
        }
      }
      expect(codes).toEqual([401, 401, 401, 429]);
    } finally {
      await limitedApp.close();
      await limited.close();
    }
  });
});
