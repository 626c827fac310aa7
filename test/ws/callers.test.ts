// Caller directory admin routes and the per-node lookup cache: an edit on one node is seen by the other node's
// cache at once (Redis pub/sub invalidation), and lookups are per center.
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { randomPrefix } from '../helpers/env.js';
import { dropPrefix } from '../acd/helpers.js';
import { startWsServer, type WsServer } from './fixture.js';
import { createTestTenant, createTestUser, login, type LoggedIn } from '../http/fixture.js';
import { CallerDirectory, queueScreenPop } from '../../src/ws/index.js';

const prefix = randomPrefix('ws');
let a: WsServer;
let tenant: string;
let other: string;
let admin: LoggedIn;
let otherAdmin: LoggedIn;
let agent: LoggedIn;

beforeAll(async () => {
  a = await startWsServer(prefix, 'callersA');
  tenant = await createTestTenant(a.ctx);
  other = await createTestTenant(a.ctx);
  const ad = await createTestUser(a.ctx, tenant, 'admin');
  const oa = await createTestUser(a.ctx, other, 'admin');
  const ag = await createTestUser(a.ctx, tenant, 'agent');
  admin = await login(a.app, ad.loginId, ad.password);
  otherAdmin = await login(a.app, oa.loginId, oa.password);
  agent = await login(a.app, ag.loginId, ag.password);
});

afterAll(async () => {
  await a.close();
  await dropPrefix(prefix);
});

it('admins register, search, change and delete callers; numbers are normalized and unique per center', async () => {
  const post = (who: LoggedIn, payload: object) => a.app.inject({ method: 'POST', url: '/callers', headers: who.bearer, payload });
  const created = await post(admin, { number: '+86 138-0000-1111', name: '某某科技有限公司', address: '朝阳区', kind: 'enterprise' });
  expect(created.statusCode).toBe(201);
  const c = created.json();
  expect(c).toMatchObject({ number: '+8613800001111', kind: 'enterprise', vip: false });
  expect((await post(admin, { number: '+8613800001111', name: '重复' })).json()).toMatchObject({ code: 'caller_exists', field: 'number' });
  expect((await post(otherAdmin, { number: '+8613800001111', name: '另一中心同号' })).statusCode).toBe(201);
  expect((await post(admin, { number: 'abc', name: 'x' })).statusCode).toBe(400);
  expect((await post(agent, { number: '13800000000', name: 'x' })).statusCode).toBe(403);
  const found = await a.app.inject({ method: 'GET', url: `/callers?q=${encodeURIComponent('科技')}`, headers: admin.bearer });
  expect(found.json().callers.map((x: { id: string }) => x.id)).toEqual([c.id]);
  expect((await a.app.inject({ method: 'GET', url: `/callers/${c.id}`, headers: otherAdmin.bearer })).statusCode).toBe(404);
  const patched = await a.app.inject({ method: 'PATCH', url: `/callers/${c.id}`, headers: admin.bearer, payload: { vip: true, address: '朝阳区建国路1号' } });
  expect(patched.json()).toMatchObject({ vip: true, address: '朝阳区建国路1号', name: '某某科技有限公司' });
  expect((await a.app.inject({ method: 'DELETE', url: `/callers/${c.id}`, headers: admin.bearer })).statusCode).toBe(204);
  expect((await a.app.inject({ method: 'DELETE', url: `/callers/${c.id}`, headers: admin.bearer })).statusCode).toBe(404);
});

it('the lookup cache serves repeated lookups and forgets an entry when it is edited', async () => {
  const dir = new CallerDirectory(a.ctx.db);
  const rec = await dir.create(tenant, { number: '13900002222', name: '李四' });
  expect(await dir.lookup(tenant, '139-0000-2222')).toMatchObject({ name: '李四' });
  expect(await dir.lookup(other, '13900002222')).toBeNull();
  // a change written behind the cache's back is not seen (cached) …
  await a.ctx.pool.query(`update callers set name = '李四(旧)' where id = $1`, [rec!.id]);
  expect((await dir.lookup(tenant, '13900002222'))?.name).toBe('李四');
  // … an edit through the directory is, and so is an invalidation from another node
  await dir.update(tenant, rec!.id, { name: '李四新' });
  expect((await dir.lookup(tenant, '13900002222'))?.name).toBe('李四新');
  await a.ctx.pool.query(`update callers set name = '李四改' where id = $1`, [rec!.id]);
  dir.invalidate(tenant, '13900002222');
  expect((await dir.lookup(tenant, '13900002222'))?.name).toBe('李四改');
  // unknown numbers are cached as such too
  expect(await dir.lookup(tenant, '10000')).toBeNull();
});

it('the enqueue-time screen pop reads the directory but not the previous calls (the offer completes those): no cdrs query before the ACD', async () => {
  const created = await a.app.inject({ method: 'POST', url: '/callers', headers: admin.bearer, payload: { number: '13900009999', name: '排队市民', address: '西城区', kind: 'citizen', vip: true } });
  expect(created.statusCode).toBe(201);
  const statements: string[] = [];
  const pool = a.ctx.pool;
  const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
  const counting = Object.create(pool) as typeof pool;
  (counting as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
    statements.push(typeof args[0] === 'string' ? args[0] : String((args[0] as { text?: string })?.text));
    return query(...args);
  };
  const pop = await queueScreenPop({ pool: counting, directory: new CallerDirectory(a.ctx.db) })({
    callUuid: '6f1c2c0e-0000-4000-8000-000000000001', tenantId: tenant, callerNumber: '13900009999', skillGroup: 'g', priority: 50, flowId: 'main', nodeId: 'queue', vars: {},
  } as Parameters<ReturnType<typeof queueScreenPop>>[0]);
  expect(pop).toMatchObject({ callerNumber: '13900009999', callerName: '排队市民', callerAddress: '西城区', vip: true, ivrPath: ['main', 'queue'] });
  expect(statements.filter((q) => /from cdrs/.test(q))).toEqual([]);
});

it('lookups of one caller under way together are one query; an edit during the query keeps its answer out of the cache', async () => {
  const dir = new CallerDirectory(a.ctx.db);
  const rec = await dir.create(tenant, { number: '13900003333', name: '王五' });
  const byNumber = (dir as unknown as { byNumber: { execute: (p: object) => Promise<unknown[]> } }).byNumber;
  const execute = vi.spyOn(byNumber, 'execute');
  // the queue node asks for the screen pop and the VIP flag at once, and a prefetch may still be running
  dir.prefetch(tenant, '13900003333');
  const [x, y] = await Promise.all([dir.lookup(tenant, '13900003333'), dir.lookup(tenant, '139-0000-3333')]);
  expect([x?.name, y?.name]).toEqual(['王五', '王五']);
  expect(execute).toHaveBeenCalledTimes(1);
  await dir.lookup(tenant, '13900003333');
  expect(execute).toHaveBeenCalledTimes(1);

  // an edit lands while a lookup's query is out: that answer is returned but not cached
  dir.invalidate(tenant, '13900003333');
  const stale = dir.lookup(tenant, '13900003333');
  await a.ctx.pool.query(`update callers set name = '王五新' where id = $1`, [rec!.id]);
  dir.invalidate(tenant, '13900003333');
  await stale;
  expect((await dir.lookup(tenant, '13900003333'))?.name).toBe('王五新');
  expect(execute).toHaveBeenCalledTimes(3);
  // a failing query (the database down) caches nothing and the prefetch swallows it
  execute.mockRejectedValueOnce(new Error('connection refused'));
  dir.invalidate(tenant, '13900003333');
  dir.prefetch(tenant, '13900003333');
  await new Promise((r) => setTimeout(r, 10));
  expect((await dir.lookup(tenant, '13900003333'))?.name).toBe('王五新');
});
