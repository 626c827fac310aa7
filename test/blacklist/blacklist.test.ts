// Blacklist: matching (exact, prefix, expiry, number forms), two nodes sharing PostgreSQL and Redis (a change on
// one is seen by the other via pub/sub, checks never touch the database), rejection before answer with a hit
// log, and the admin/supervisor API with the per-tenant edit permission and agent proposals.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { TenantBlacklist, normalizeNumber } from '../../src/blacklist/matcher.js';
import { BlacklistService } from '../../src/blacklist/service.js';
import { blacklistRoutes } from '../../src/blacklist/routes.js';
import { buildHttpApp } from '../../src/http/app.js';
import type { Db } from '../../src/db/client.js';
import { makeTestContext, createTestTenant, createTestUser, login, type TestContext, type LoggedIn } from '../http/fixture.js';
import { TEST_REDIS_URL } from '../helpers/env.js';
import { ScriptedMedia } from '../ivr/scripted-media.js';

async function eventually(check: () => boolean | Promise<boolean>, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('matching', () => {
  it('normalises the forms a caller number arrives in', () => {
    expect(normalizeNumber('+86 138-0000-0001')).toBe('13800000001');
    expect(normalizeNumber('008613800000001')).toBe('13800000001');
    expect(normalizeNumber('8613800000001')).toBe('13800000001');
    expect(normalizeNumber('010-12345678')).toBe('01012345678');
  });

  it('exact before prefix, the longest prefix first, expired entries ignored', () => {
    const now = new Date('2026-11-23T00:00:00Z');
    const list = new TenantBlacklist([
      { id: 'p1', number: '170', match: 'prefix', reason: '虚拟号段', expiresAt: null },
      { id: 'p2', number: '1700', match: 'prefix', reason: '骚扰号段', expiresAt: null },
      { id: 'e1', number: '17000000001', match: 'exact', reason: '恶意', expiresAt: null },
      { id: 'old', number: '13900000009', match: 'exact', reason: '过期', expiresAt: new Date('2026-11-01T00:00:00Z') },
    ]);
    expect(list.match('17000000001', now)?.id).toBe('e1');
    expect(list.match('17000000002', now)?.id).toBe('p2');
    expect(list.match('17012345678', now)?.id).toBe('p1');
    expect(list.match('13900000009', now)).toBeNull();
    expect(list.match('13800000001', now)).toBeNull();
  });
});

describe('BlacklistService on two nodes', () => {
  let t: TestContext;
  let tenant: string;
  let nodeA: BlacklistService;
  let nodeB: BlacklistService;
  let bSelects = 0;
  const extra: Redis[] = [];

  beforeAll(async () => {
    t = await makeTestContext();
    tenant = await createTestTenant(t.ctx);
    const redisB = new Redis(TEST_REDIS_URL);
    extra.push(redisB);
    // node B's database handle counts reads, to show that checks cost none
    const countingDb = new Proxy(t.ctx.db, {
      get(target, prop, receiver) {
        if (prop === 'select') bSelects++;
        return Reflect.get(target, prop, receiver);
      },
    }) as Db;
    nodeA = new BlacklistService({ db: t.ctx.db, redis: t.ctx.redis, redisPrefix: t.ctx.redisPrefix });
    nodeB = new BlacklistService({ db: countingDb, redis: redisB, redisPrefix: t.ctx.redisPrefix });
    await nodeA.start();
    await nodeB.start();
  });
  afterAll(async () => {
    await nodeA?.stop();
    await nodeB?.stop();
    for (const r of extra) r.disconnect();
    await t?.close();
  });

  it('an entry added on node A blocks the caller on node B; removing it unblocks', async () => {
    expect(nodeB.check(tenant, '13800000077')).toBeNull();
    const entry = await nodeA.add(tenant, { number: '+8613800000077', reason: '多次辱骂话务员', createdBy: 'admin-1' });
    expect(entry.number).toBe('13800000077');
    expect(nodeA.check(tenant, '13800000077')?.id).toBe(entry.id);
    await eventually(() => nodeB.check(tenant, '13800000077')?.id === entry.id);

    await nodeA.remove(tenant, entry.id);
    await eventually(() => nodeB.check(tenant, '13800000077') === null);
  });

  it('checks are answered from memory: no database reads per call', async () => {
    await nodeA.add(tenant, { number: '0105555', match: 'prefix', reason: '骚扰号段', createdBy: 'admin-1' });
    await eventually(() => nodeB.check(tenant, '01055551234') !== null);
    const before = bSelects;
    for (let i = 0; i < 10_000; i++) nodeB.check(tenant, `0105555${String(i).padStart(4, '0')}`);
    expect(bSelects).toBe(before);
  });

  it('expired entries stop blocking without any change message', async () => {
    let now = new Date();
    const clocked = new BlacklistService({ db: t.ctx.db, redis: t.ctx.redis, redisPrefix: `${t.ctx.redisPrefix}:clock`, now: () => now });
    await clocked.start();
    try {
      await clocked.add(tenant, { number: '13600000001', reason: '临时', expiresAt: new Date(now.getTime() + 60_000), createdBy: 'admin-1' });
      expect(clocked.check(tenant, '13600000001')).not.toBeNull();
      now = new Date(now.getTime() + 61_000);
      expect(clocked.check(tenant, '13600000001')).toBeNull();
    } finally {
      await clocked.stop();
    }
  });

  it('a blocked call is rejected without answer and the hit is counted', async () => {
    const entry = await nodeA.add(tenant, { number: '13500000005', reason: '恶意占线', createdBy: 'admin-1' });
    await eventually(() => nodeB.check(tenant, '13500000005') !== null);
    const media = new ScriptedMedia([], 'call-bl-1');
    expect(await nodeB.screen(tenant, '13500000005', media)).toBe(true);
    expect(media.ops).toEqual([{ op: 'reject', arg: 'CALL_REJECTED' }]);
    const clean = new ScriptedMedia([], 'call-ok');
    expect(await nodeB.screen(tenant, '13500000006', clean)).toBe(false);
    expect(clean.ops).toEqual([]);
    await eventually(async () => (await nodeA.hits(tenant)).some((h) => h.callUuid === 'call-bl-1'));
    await eventually(async () => (await nodeA.list(tenant)).find((e) => e.id === entry.id)?.hitCount === 1);
  });

  it('a duplicate number is refused', async () => {
    await nodeA.add(tenant, { number: '13300000003', reason: 'x', createdBy: 'a' });
    await expect(nodeA.add(tenant, { number: '13300000003', reason: 'y', createdBy: 'a' })).rejects.toMatchObject({ code: 'duplicate' });
  });
});

describe('blacklist API', () => {
  let t: TestContext;
  let app: FastifyInstance;
  let service: BlacklistService;
  let tenant: string;
  let admin: LoggedIn;
  let supervisor: LoggedIn;
  let agent: LoggedIn;

  beforeAll(async () => {
    t = await makeTestContext();
    service = new BlacklistService({ db: t.ctx.db, redis: t.ctx.redis, redisPrefix: t.ctx.redisPrefix });
    await service.start();
    app = await buildHttpApp(t.ctx, { routes: [blacklistRoutes(t.ctx, service)] });
    tenant = await createTestTenant(t.ctx);
    const [a, s, g] = await Promise.all([createTestUser(t.ctx, tenant, 'admin'), createTestUser(t.ctx, tenant, 'supervisor'), createTestUser(t.ctx, tenant, 'agent')]);
    admin = await login(app, a.loginId, a.password);
    supervisor = await login(app, s.loginId, s.password);
    agent = await login(app, g.loginId, g.password);
  });
  afterAll(async () => {
    await app?.close();
    await service?.stop();
    await t?.close();
  });

  it('supervisors edit when the center allows it; after admin-only they get 403', async () => {
    const add = (who: LoggedIn, number: string) =>
      app.inject({ method: 'POST', url: '/admin/blacklist', headers: who.bearer, payload: { number, reason: '恶意骚扰', expiresInDays: 30 } });
    const ok = await add(supervisor, '13800001111');
    expect(ok.statusCode).toBe(201);
    expect(ok.json()).toMatchObject({ number: '13800001111', match: 'exact', reason: '恶意骚扰', hitCount: 0 });
    expect(service.check(tenant, '13800001111')).not.toBeNull();

    expect((await app.inject({ method: 'PUT', url: '/admin/blacklist/settings', headers: supervisor.bearer, payload: { editors: 'admin' } })).statusCode).toBe(403);
    expect((await app.inject({ method: 'PUT', url: '/admin/blacklist/settings', headers: admin.bearer, payload: { editors: 'admin' } })).statusCode).toBe(204);
    const refused = await add(supervisor, '13800002222');
    expect(refused.statusCode).toBe(403);
    expect(refused.json().message).toBe('本中心只允许管理员修改黑名单');
    expect((await add(admin, '13800002222')).statusCode).toBe(201);
    expect((await add(admin, '13800002222')).statusCode).toBe(409);
    expect((await add(agent, '13800003333')).statusCode).toBe(403);

    const list = await app.inject({ method: 'GET', url: '/admin/blacklist', headers: supervisor.bearer });
    expect(list.json().entries.map((e: { number: string }) => e.number).sort()).toEqual(['13800001111', '13800002222']);
    await app.inject({ method: 'PUT', url: '/admin/blacklist/settings', headers: admin.bearer, payload: { editors: 'admin+supervisor' } });
  });

  it('400 names the field for a bad number', async () => {
    const res = await app.inject({ method: 'POST', url: '/admin/blacklist', headers: admin.bearer, payload: { number: 'abc', reason: 'x' } });
    expect(res.statusCode).toBe(400);
    expect(res.json().field).toBe('number');
  });

  it('an agent proposes, a supervisor approves: the caller is blocked; a rejected proposal blocks nothing', async () => {
    const p = await app.inject({ method: 'POST', url: '/blacklist/proposals', headers: agent.bearer, payload: { number: '13900004444', reason: '威胁话务员', callUuid: 'call-x' } });
    expect(p.statusCode).toBe(201);
    expect(p.json()).toMatchObject({ status: 'pending', number: '13900004444' });
    const pending = await app.inject({ method: 'GET', url: '/admin/blacklist/proposals?status=pending', headers: supervisor.bearer });
    expect(pending.json().proposals).toHaveLength(1);
    expect((await app.inject({ method: 'POST', url: `/admin/blacklist/proposals/${p.json().id}/approve`, headers: agent.bearer, payload: {} })).statusCode).toBe(403);
    const approved = await app.inject({ method: 'POST', url: `/admin/blacklist/proposals/${p.json().id}/approve`, headers: supervisor.bearer, payload: { note: '核实' } });
    expect(approved.statusCode).toBe(200);
    expect(approved.json()).toMatchObject({ status: 'approved', decisionNote: '核实' });
    expect(service.check(tenant, '13900004444')?.id).toBe(approved.json().entryId);
    expect((await app.inject({ method: 'POST', url: `/admin/blacklist/proposals/${p.json().id}/reject`, headers: supervisor.bearer, payload: {} })).statusCode).toBe(409);

    const q = await app.inject({ method: 'POST', url: '/blacklist/proposals', headers: agent.bearer, payload: { number: '13900005555', reason: '误会' } });
    const rejected = await app.inject({ method: 'POST', url: `/admin/blacklist/proposals/${q.json().id}/reject`, headers: admin.bearer, payload: {} });
    expect(rejected.json().status).toBe('rejected');
    expect(service.check(tenant, '13900005555')).toBeNull();
  });

  it('hits are listed for supervisors', async () => {
    await service.screen(tenant, '13800001111', new ScriptedMedia([], 'call-hit'));
    await eventually(async () => (await app.inject({ method: 'GET', url: '/admin/blacklist/hits', headers: supervisor.bearer })).json().hits.length > 0);
  });
});
