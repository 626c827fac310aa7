// The call-control REST routes over the real HTTP app (auth, CSRF-free bearer, schemas, error bodies) with the
// service driving the emulator.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildHttpApp } from '../../src/http/app.js';
import { Lifecycle } from '../../src/lifecycle.js';
import { callControlRoutes } from '../../src/control/index.js';
import { makeTestContext, createTestTenant, createTestUser, login, type TestContext, type TestUser, type LoggedIn } from '../http/fixture.js';
import { startCti, talkingCall, FakeAcd, type Cti } from './helpers.js';

describe('call-control routes', () => {
  let t: TestContext;
  let app: FastifyInstance;
  let cti: Cti;
  let tenant: string;
  const users: Record<string, TestUser> = {};
  const auth: Record<string, LoggedIn> = {};

  beforeAll(async () => {
    t = await makeTestContext();
    tenant = await createTestTenant(t.ctx, '路由测试中心');
    users.agent1 = await createTestUser(t.ctx, tenant, 'agent');
    users.agent2 = await createTestUser(t.ctx, tenant, 'agent');
    users.supervisor = await createTestUser(t.ctx, tenant, 'supervisor');
    const acd = new FakeAcd();
    acd.add(users.agent1.id, tenant, users.agent1.extension!);
    acd.add(users.agent2.id, tenant, users.agent2.extension!);
    cti = await startCti(t.ctx.pool, tenant, { acd });
    app = await buildHttpApp(t.ctx, { routes: [callControlRoutes(t.ctx, { control: cti.control })], lifecycle: new Lifecycle() });
    for (const [k, u] of Object.entries(users)) auth[k] = await login(app, u.loginId, u.password);
  });
  afterAll(async () => {
    await app?.close();
    await cti?.stop();
    await t?.close();
  });

  const post = (who: string | null, url: string, payload: unknown) =>
    app.inject({ method: 'POST', url, payload: payload as Record<string, unknown>, headers: who ? auth[who]!.bearer : {} });

  it('an agent holds and retrieves their own call; a colleague is refused; bad bodies are 400; no session is 401', async () => {
    const { session, agentLeg } = await talkingCall(cti, '13800000301', users.agent1!.id, users.agent1!.extension!);
    let res = await post('agent1', '/calls/hold', {});
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ callUuid: session.uuid, state: 'held' });
    expect(cti.emu.emulator.channel(agentLeg)!.held).toBe(true);
    res = await post('agent1', '/calls/hold', {});
    expect(res.statusCode).toBe(409);
    expect(res.json()).toEqual({ error: 'bad_state', code: 'bad_state', message: '通话已在保持中' });
    res = await post('agent2', '/calls/retrieve', { callUuid: session.uuid });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ code: 'not_your_call', message: '只能操作自己的通话' });
    res = await post('agent2', '/calls/retrieve', {});
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ code: 'call_not_found', message: '当前没有通话' });
    res = await post('agent1', '/calls/retrieve', { callUuid: session.uuid, extra: 1 });
    expect(res.statusCode).toBe(400);
    res = await post(null, '/calls/retrieve', {});
    expect(res.statusCode).toBe(401);
    res = await post('supervisor', '/calls/retrieve', { callUuid: session.uuid });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ state: 'talking' });
    session.markIvrNode('main-menu');
    res = await app.inject({ method: 'GET', url: `/calls/${session.uuid}/attached-data`, headers: auth.agent1!.bearer });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ callUuid: session.uuid, data: {} });
    res = await app.inject({ method: 'GET', url: `/calls/${session.uuid}/attached-data`, headers: auth.agent2!.bearer });
    expect(res.statusCode).toBe(403);
  });

  it('monitoring is for supervisors; outbound refusals carry stable codes and Chinese messages', async () => {
    const { session } = await talkingCall(cti, '13800000302', users.agent2!.id, users.agent2!.extension!);
    let res = await post('agent1', '/calls/monitor', { callUuid: session.uuid });
    expect(res.statusCode).toBe(403);
    res = await post('agent1', '/calls/outbound', { number: '19001234567' });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toEqual({ error: 'number_forbidden', code: 'number_forbidden', message: '禁止拨打该号码：19001234567' });
    res = await post('agent1', '/calls/transfer', { target: { kind: 'group' } });
    expect(res.statusCode).toBe(400);
    res = await post('supervisor', '/monitors/6b7f0b9e-1c1a-4f57-9d43-2d0b0b3a0b5e/mode', { mode: 'whisper' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ code: 'monitor_not_found', message: '监听不存在或已结束' });
  });
});
