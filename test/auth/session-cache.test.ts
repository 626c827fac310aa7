// The Redis session cache: filled on the first request, shared by nodes, and dropped from Redis by whatever ends
// or changes a session (logout, lock, password change, admin disable / role change), so no node serves a stale one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { eq } from 'drizzle-orm';
import { buildHttpApp } from '../../src/http/app.js';
import { hashToken } from '../../src/auth/sessions.js';
import { SESSION_CACHE_MAX_MS, type CachedSession } from '../../src/auth/session-cache.js';
import { sessions } from '../../src/db/schema/core.js';
import { makeTestContext, createTestTenant, createTestUser, login, type TestContext } from '../http/fixture.js';

let t: TestContext;
let node1: FastifyInstance;
let node2: FastifyInstance;
let tenantId: string;

beforeAll(async () => {
  t = await makeTestContext();
  node1 = await buildHttpApp(t.ctx);
  node2 = await buildHttpApp(t.ctx); // another node on the same Redis and PostgreSQL
  tenantId = await createTestTenant(t.ctx);
});
afterAll(async () => {
  await node1?.close();
  await node2?.close();
  await t?.close();
});

const cacheKey = (token: string) => `${t.ctx.redisPrefix}:session:${hashToken(token)}`;
const me = (app: FastifyInstance, token: string) => app.inject({ method: 'GET', url: '/auth/me', headers: { authorization: `Bearer ${token}` } });

describe('session cache', () => {
  it('is filled by a request, with TTL min(expiry, 10 min), and then serves without PostgreSQL', async () => {
    const u = await createTestUser(t.ctx, tenantId, 'agent');
    const s = await login(node1, u.loginId, u.password);
    expect(await t.ctx.redis.exists(cacheKey(s.token))).toBe(0);
    expect((await me(node1, s.token)).statusCode).toBe(200);
    const ttl = await t.ctx.redis.pttl(cacheKey(s.token));
    expect(ttl).toBeGreaterThan(SESSION_CACHE_MAX_MS - 5000);
    expect(ttl).toBeLessThanOrEqual(SESSION_CACHE_MAX_MS);
    // proof the cache is what answers: the row goes from PostgreSQL behind the cache's back (no invalidation)
    await t.ctx.db.delete(sessions).where(eq(sessions.tokenHash, hashToken(s.token)));
    expect((await me(node2, s.token)).statusCode).toBe(200);
    await t.ctx.redis.del(cacheKey(s.token));
    expect((await me(node2, s.token)).statusCode).toBe(401);
  });

  it('a session expiring sooner than 10 min is cached only until it expires', async () => {
    const u = await createTestUser(t.ctx, tenantId, 'agent');
    const s = await login(node1, u.loginId, u.password);
    await t.ctx.db.update(sessions).set({ expiresAt: new Date(Date.now() + 30_000), lastSeenAt: new Date() }).where(eq(sessions.tokenHash, hashToken(s.token)));
    expect((await me(node1, s.token)).statusCode).toBe(200);
    const ttl = await t.ctx.redis.pttl(cacheKey(s.token));
    expect(ttl).toBeGreaterThan(25_000);
    expect(ttl).toBeLessThanOrEqual(30_000);
  });

  it('logout, lock and password change on one node take effect on the other at once', async () => {
    const u = await createTestUser(t.ctx, tenantId, 'agent');
    const a = await login(node1, u.loginId, u.password);
    const b = await login(node1, u.loginId, u.password);
    const c = await login(node1, u.loginId, u.password);
    for (const s of [a, b, c]) expect((await me(node2, s.token)).statusCode).toBe(200);

    expect((await node1.inject({ method: 'POST', url: '/auth/lock', headers: a.bearer, payload: {} })).statusCode).toBe(200);
    expect((await me(node2, a.token)).statusCode).toBe(423);
    expect((await node1.inject({ method: 'POST', url: '/auth/unlock', headers: a.bearer, payload: { password: u.password } })).statusCode).toBe(200);
    expect((await me(node2, a.token)).statusCode).toBe(200);

    expect((await node1.inject({ method: 'POST', url: '/auth/logout', headers: b.bearer, payload: {} })).statusCode).toBe(200);
    expect(await t.ctx.redis.exists(cacheKey(b.token))).toBe(0);
    expect((await me(node2, b.token)).statusCode).toBe(401);

    const changed = await node1.inject({
      method: 'POST',
      url: '/auth/password',
      headers: a.bearer,
      payload: { oldPassword: u.password, newPassword: 'n3wPassw0rd' },
    });
    expect(changed.statusCode, changed.body).toBe(200);
    expect((await me(node2, c.token)).statusCode).toBe(401); // the other session ended
    expect((await me(node2, a.token)).statusCode).toBe(200); // the one that changed it goes on
  });

  it('an admin disabling a user or changing their role is seen by every node at once', async () => {
    const admin = await createTestUser(t.ctx, tenantId, 'admin');
    const adminSession = await login(node1, admin.loginId, admin.password);
    const u = await createTestUser(t.ctx, tenantId, 'agent');
    const s = await login(node1, u.loginId, u.password);
    expect((await me(node2, s.token)).json().user.role).toBe('agent');

    const promote = await node1.inject({ method: 'PATCH', url: `/admin/users/${u.id}`, headers: adminSession.bearer, payload: { role: 'supervisor' } });
    expect(promote.statusCode, promote.body).toBe(200);
    expect((await me(node2, s.token)).json().user.role).toBe('supervisor');

    const disable = await node1.inject({ method: 'PATCH', url: `/admin/users/${u.id}`, headers: adminSession.bearer, payload: { disabled: true } });
    expect(disable.statusCode, disable.body).toBe(200);
    expect(await t.ctx.redis.exists(cacheKey(s.token))).toBe(0);
    expect((await me(node2, s.token)).statusCode).toBe(401);
  });

  it('a cached session still slides its expiry in PostgreSQL once a minute', async () => {
    const u = await createTestUser(t.ctx, tenantId, 'agent');
    const s = await login(node1, u.loginId, u.password);
    expect((await me(node1, s.token)).statusCode).toBe(200);
    // pretend the last touch was 2 minutes ago, in the cache and in the row
    const old = new Date(Date.now() - 120_000);
    const cached = JSON.parse((await t.ctx.redis.get(cacheKey(s.token)))!) as CachedSession;
    await t.ctx.redis.set(cacheKey(s.token), JSON.stringify({ ...cached, lastSeenAt: old.getTime() }), 'PX', 60_000);
    await t.ctx.db.update(sessions).set({ lastSeenAt: old }).where(eq(sessions.tokenHash, hashToken(s.token)));
    expect((await me(node2, s.token)).statusCode).toBe(200);
    const [row] = await t.ctx.db.select().from(sessions).where(eq(sessions.tokenHash, hashToken(s.token)));
    expect(Date.now() - row!.lastSeenAt.getTime()).toBeLessThan(10_000);
    const after = JSON.parse((await t.ctx.redis.get(cacheKey(s.token)))!) as CachedSession;
    expect(after.lastSeenAt).toBe(row!.lastSeenAt.getTime());
  });
});
