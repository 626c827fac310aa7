import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildHttpApp } from '../../src/http/app.js';
import { makeTestContext, createTestTenant, createTestUser, login, uniq, type TestContext, type LoggedIn, type TestUser } from '../http/fixture.js';

let t: TestContext;
let app: FastifyInstance;
let tenantA: string;
let tenantB: string;
let adminA: LoggedIn;
let adminB: LoggedIn;
let agentA: TestUser;

beforeAll(async () => {
  t = await makeTestContext();
  app = await buildHttpApp(t.ctx);
  tenantA = await createTestTenant(t.ctx, '甲中心');
  tenantB = await createTestTenant(t.ctx, '乙中心');
  const a = await createTestUser(t.ctx, tenantA, 'admin');
  const b = await createTestUser(t.ctx, tenantB, 'admin');
  agentA = await createTestUser(t.ctx, tenantA, 'agent');
  adminA = await login(app, a.loginId, a.password);
  adminB = await login(app, b.loginId, b.password);
});
afterAll(async () => {
  await app?.close();
  await t?.close();
});

describe('role checks', () => {
  it('401 without a session, 403 for agents and supervisors', async () => {
    expect((await app.inject({ method: 'GET', url: '/admin/users' })).statusCode).toBe(401);
    for (const role of ['agent', 'supervisor', 'department'] as const) {
      const u = await createTestUser(t.ctx, tenantA, role);
      const s = await login(app, u.loginId, u.password);
      const res = await app.inject({ method: 'GET', url: '/admin/users', headers: s.bearer });
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ code: 'forbidden', message: '无权执行此操作' });
    }
  });

  it('checks the role before validating the body (no 400 leaks to the unauthenticated)', async () => {
    const res = await app.inject({ method: 'POST', url: '/admin/users', payload: { nonsense: true } });
    expect(res.statusCode).toBe(401);
  });
});

describe('users admin API', () => {
  it('creates an agent with a generated password and SIP password; the agent can log in', async () => {
    const loginId = uniq('new');
    const res = await app.inject({
      method: 'POST',
      url: '/admin/users',
      headers: adminA.bearer,
      payload: { loginId, displayName: '新话务员', role: 'agent', extension: '3101' },
    });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body).toMatchObject({ loginId, tenantId: tenantA, role: 'agent', extension: '3101', disabled: false });
    expect(body.sipPassword).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(body.initialPassword).toMatch(/^[A-Za-z0-9]{12}$/);
    expect(body).not.toHaveProperty('passwordHash');
    await login(app, loginId, body.initialPassword);

    const dupLogin = await app.inject({ method: 'POST', url: '/admin/users', headers: adminB.bearer, payload: { loginId, displayName: 'x', role: 'admin' } });
    expect(dupLogin.statusCode).toBe(409);
    expect(dupLogin.json()).toMatchObject({ code: 'login_id_taken', field: 'loginId', message: '工号已存在' });

    const dupExt = await app.inject({ method: 'POST', url: '/admin/users', headers: adminA.bearer, payload: { loginId: uniq('n'), displayName: 'x', role: 'agent', extension: '3101' } });
    expect(dupExt.statusCode).toBe(409);
    expect(dupExt.json().code).toBe('extension_taken');

    // the same extension in another center is fine: extensions are per tenant
    const otherCenter = await app.inject({ method: 'POST', url: '/admin/users', headers: adminB.bearer, payload: { loginId: uniq('n'), displayName: 'x', role: 'agent', extension: '3101' } });
    expect(otherCenter.statusCode).toBe(201);
  });

  it('answers 400 naming the field for bad input', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ displayName: 'x', role: 'agent', extension: '3000' }, 'loginId'],
      [{ loginId: uniq('b'), displayName: 'x', role: 'root' }, 'role'],
      [{ loginId: 'has space', displayName: 'x', role: 'admin' }, 'loginId'],
      [{ loginId: uniq('b'), displayName: 'x', role: 'agent' }, 'extension'],
      [{ loginId: uniq('b'), displayName: 'x', role: 'agent', extension: '12ab' }, 'extension'],
      [{ loginId: uniq('b'), displayName: 'x', role: 'admin', bogus: 1 }, 'bogus'],
      [{ loginId: uniq('b'), displayName: 'x', role: 'admin', password: 'weak' }, 'password'],
    ];
    for (const [payload, field] of cases) {
      const res = await app.inject({ method: 'POST', url: '/admin/users', headers: adminA.bearer, payload });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json().field).toBe(field);
      if (res.json().code === 'bad_request') expect(res.json().message.startsWith(field)).toBe(true);
    }
    const badId = await app.inject({ method: 'GET', url: '/admin/users/not-a-uuid', headers: adminA.bearer });
    expect(badId.statusCode).toBe(400);
    expect(badId.json().field).toBe('id');
    const badQuery = await app.inject({ method: 'GET', url: '/admin/users?role=boss', headers: adminA.bearer });
    expect(badQuery.statusCode).toBe(400);
    expect(badQuery.json().field).toBe('role');
  });

  it('updates, resets the password of, and disables a user; disabling ends their sessions', async () => {
    const u = await createTestUser(t.ctx, tenantA, 'agent');
    const s = await login(app, u.loginId, u.password);
    const renamed = await app.inject({ method: 'PATCH', url: `/admin/users/${u.id}`, headers: adminA.bearer, payload: { displayName: '改名', regenerateSipPassword: true } });
    expect(renamed.statusCode).toBe(200);
    expect(renamed.json().displayName).toBe('改名');
    expect(renamed.json().sipPassword).not.toBe(u.sipPassword);

    const reset = await app.inject({ method: 'PATCH', url: `/admin/users/${u.id}`, headers: adminA.bearer, payload: { resetPassword: true } });
    expect(reset.statusCode).toBe(200);
    const fresh = await login(app, u.loginId, reset.json().initialPassword);
    expect((await app.inject({ method: 'GET', url: '/auth/me', headers: s.bearer })).statusCode).toBe(401);

    const disabled = await app.inject({ method: 'PATCH', url: `/admin/users/${u.id}`, headers: adminA.bearer, payload: { disabled: true } });
    expect(disabled.json().disabled).toBe(true);
    expect((await app.inject({ method: 'GET', url: '/auth/me', headers: fresh.bearer })).statusCode).toBe(401);

    const list = await app.inject({ method: 'GET', url: '/admin/users', headers: adminA.bearer });
    expect(list.json().users.some((x: { id: string }) => x.id === u.id)).toBe(false);
    const all = await app.inject({ method: 'GET', url: '/admin/users?includeDisabled=true', headers: adminA.bearer });
    expect(all.json().users.some((x: { id: string }) => x.id === u.id)).toBe(true);
  });

  it('an admin cannot disable or demote themselves', async () => {
    const me = await app.inject({ method: 'GET', url: '/auth/me', headers: adminA.bearer });
    const res = await app.inject({ method: 'PATCH', url: `/admin/users/${me.json().user.userId}`, headers: adminA.bearer, payload: { role: 'agent', extension: '3999' } });
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('cannot_demote_self');
  });
});

describe('tenant isolation', () => {
  it("an admin of another center cannot see or edit this center's users", async () => {
    const listB = await app.inject({ method: 'GET', url: '/admin/users?includeDisabled=true', headers: adminB.bearer });
    expect(listB.statusCode).toBe(200);
    const users = listB.json().users as { tenantId: string; id: string }[];
    expect(users.length).toBeGreaterThan(0);
    expect(users.every((u) => u.tenantId === tenantB)).toBe(true);
    expect(users.some((u) => u.id === agentA.id)).toBe(false);

    const get = await app.inject({ method: 'GET', url: `/admin/users/${agentA.id}`, headers: adminB.bearer });
    expect(get.statusCode).toBe(404);
    expect(get.json()).toMatchObject({ code: 'user_not_found', message: '用户不存在' });

    const patch = await app.inject({ method: 'PATCH', url: `/admin/users/${agentA.id}`, headers: adminB.bearer, payload: { disabled: true, resetPassword: true } });
    expect(patch.statusCode).toBe(404);
    await login(app, agentA.loginId, agentA.password); // untouched

    const own = await app.inject({ method: 'GET', url: `/admin/users/${agentA.id}`, headers: adminA.bearer });
    expect(own.statusCode).toBe(200);
  });
});
