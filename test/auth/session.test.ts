import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildHttpApp } from '../../src/http/app.js';
import { authenticateToken } from '../../src/auth/sessions.js';
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

describe('password change', () => {
  it('requires the old password, enforces the policy, and ends the other sessions', async () => {
    const u = await createTestUser(t.ctx, tenantId, 'agent');
    const a = await login(app, u.loginId, u.password);
    const b = await login(app, u.loginId, u.password);

    const missing = await app.inject({ method: 'POST', url: '/auth/password', headers: a.bearer, payload: { newPassword: 'abcd12345' } });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().field).toBe('oldPassword');

    const wrongOld = await app.inject({ method: 'POST', url: '/auth/password', headers: a.bearer, payload: { oldPassword: 'bad00000', newPassword: 'abcd12345' } });
    expect(wrongOld.statusCode).toBe(403);
    expect(wrongOld.json()).toMatchObject({ code: 'wrong_password', message: '原密码错误' });

    for (const weak of ['short1', 'onlyletters', '1234567890']) {
      const res = await app.inject({ method: 'POST', url: '/auth/password', headers: a.bearer, payload: { oldPassword: u.password, newPassword: weak } });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ code: 'weak_password', field: 'newPassword' });
    }

    const ok = await app.inject({ method: 'POST', url: '/auth/password', headers: a.bearer, payload: { oldPassword: u.password, newPassword: 'newPass2024' } });
    expect(ok.statusCode).toBe(200);

    expect((await app.inject({ method: 'GET', url: '/auth/me', headers: a.bearer })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/auth/me', headers: b.bearer })).statusCode).toBe(401);
    const old = await app.inject({ method: 'POST', url: '/auth/login', payload: { loginId: u.loginId, password: u.password } });
    expect(old.statusCode).toBe(401);
    await login(app, u.loginId, 'newPass2024');
  });
});

describe('logout and lock screen', () => {
  it('logout ends the session for bearer and cookie alike', async () => {
    const u = await createTestUser(t.ctx, tenantId, 'supervisor');
    const s = await login(app, u.loginId, u.password);
    const out = await app.inject({ method: 'POST', url: '/auth/logout', headers: s.bearer });
    expect(out.statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/auth/me', headers: s.bearer })).statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: '/auth/me', headers: { cookie: s.cookie } })).statusCode).toBe(401);
    expect(await authenticateToken(t.ctx.db, s.token)).toBeNull();
  });

  it('a locked session answers 423 to everything but unlock, which needs the password', async () => {
    const u = await createTestUser(t.ctx, tenantId, 'agent');
    const s = await login(app, u.loginId, u.password);
    expect((await app.inject({ method: 'POST', url: '/auth/lock', headers: s.bearer })).statusCode).toBe(200);

    const me = await app.inject({ method: 'GET', url: '/auth/me', headers: s.bearer });
    expect(me.statusCode).toBe(423);
    expect(me.json()).toMatchObject({ code: 'session_locked', message: '屏幕已锁定，请输入密码解锁' });
    expect((await app.inject({ method: 'POST', url: '/auth/password', headers: s.bearer, payload: { oldPassword: u.password, newPassword: 'abc123456' } })).statusCode).toBe(423);
    expect((await authenticateToken(t.ctx.db, s.token))!.locked).toBe(true);

    const wrong = await app.inject({ method: 'POST', url: '/auth/unlock', headers: s.bearer, payload: { password: 'nottheone1' } });
    expect(wrong.statusCode).toBe(403);
    expect(wrong.json().message).toBe('密码错误');

    const right = await app.inject({ method: 'POST', url: '/auth/unlock', headers: s.bearer, payload: { password: u.password } });
    expect(right.statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/auth/me', headers: s.bearer })).statusCode).toBe(200);
  });

  it('on a locked desk another user can still log in (shift change)', async () => {
    const first = await createTestUser(t.ctx, tenantId, 'agent');
    const next = await createTestUser(t.ctx, tenantId, 'agent');
    const s = await login(app, first.loginId, first.password);
    await app.inject({ method: 'POST', url: '/auth/lock', headers: { cookie: s.cookie, 'x-csrf-token': s.csrfToken } });
    const res = await app.inject({ method: 'POST', url: '/auth/login', headers: { cookie: s.cookie }, payload: { loginId: next.loginId, password: next.password } });
    expect(res.statusCode).toBe(200);
    expect(res.json().user.loginId).toBe(next.loginId);
    const cookie = res.cookies.find((c) => c.name === 'hotline_session')!;
    expect(cookie.maxAge).toBeUndefined(); // a browser-session cookie
    expect(await authenticateToken(t.ctx.db, s.token)).toBeNull(); // the locked session it replaced is gone
  });

  it('5 wrong unlock passwords lock the account and end its sessions', async () => {
    const u = await createTestUser(t.ctx, tenantId, 'agent');
    const s = await login(app, u.loginId, u.password);
    await app.inject({ method: 'POST', url: '/auth/lock', headers: s.bearer });
    let last = 0;
    for (let i = 0; i < 5; i++) {
      last = (await app.inject({ method: 'POST', url: '/auth/unlock', headers: s.bearer, payload: { password: `guess${i}xyz` } })).statusCode;
    }
    expect(last).toBe(423);
    expect((await app.inject({ method: 'POST', url: '/auth/unlock', headers: s.bearer, payload: { password: u.password } })).statusCode).toBe(401);
  });
});

describe('CSRF for cookie sessions', () => {
  it('needs x-csrf-token on state-changing cookie requests; GETs and bearer requests do not', async () => {
    const u = await createTestUser(t.ctx, tenantId, 'agent');
    const s = await login(app, u.loginId, u.password);

    expect((await app.inject({ method: 'GET', url: '/auth/me', headers: { cookie: s.cookie } })).statusCode).toBe(200);

    const noHeader = await app.inject({ method: 'POST', url: '/auth/lock', headers: { cookie: s.cookie } });
    expect(noHeader.statusCode).toBe(403);
    expect(noHeader.json().code).toBe('csrf_failed');

    const badHeader = await app.inject({ method: 'POST', url: '/auth/lock', headers: { cookie: s.cookie, 'x-csrf-token': 'forged' } });
    expect(badHeader.statusCode).toBe(403);

    const ok = await app.inject({ method: 'POST', url: '/auth/lock', headers: { cookie: s.cookie, 'x-csrf-token': s.csrfToken } });
    expect(ok.statusCode).toBe(200);
    const unlock = await app.inject({ method: 'POST', url: '/auth/unlock', headers: { cookie: s.cookie, 'x-csrf-token': s.csrfToken }, payload: { password: u.password } });
    expect(unlock.statusCode).toBe(200);

    // the CSRF cookie is readable by the page, the session cookie is not
    const res = await app.inject({ method: 'POST', url: '/auth/login', payload: { loginId: u.loginId, password: u.password } });
    const csrfCookie = res.cookies.find((c) => c.name === 'hotline_csrf')!;
    expect(csrfCookie.httpOnly).toBeFalsy();
    expect(csrfCookie.value).toBe(res.json().csrfToken);

    const bearer = await app.inject({ method: 'POST', url: '/auth/logout', headers: s.bearer });
    expect(bearer.statusCode).toBe(200);
  });
});
