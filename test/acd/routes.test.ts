import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { testDb, freshTenant } from './db.js';
import { startNode, dropPrefix, newPrefix, type TestNode } from './helpers.js';
import { installErrorHandler } from '../../src/http/error-handler.js';
import { acdRoutes } from '../../src/acd/routes.js';
import { agentRoutes } from '../../src/agents/routes.js';
import { createAgentStateLogWriter } from '../../src/agents/state-log.js';
import type { AppContext } from '../../src/app-context.js';
import type { AuthUser } from '../../src/auth/sessions.js';

const { pool, db } = testDb();
let app: FastifyInstance;
let node: TestNode;
let prefix: string;
let tenant: string;
let other: string;
const people: Record<string, AuthUser> = {};
const writer = createAgentStateLogWriter(db);

async function user(tenantId: string, role: AuthUser['role'], extension: string | null = null): Promise<AuthUser> {
  const loginId = `u${randomBytes(5).toString('hex')}`;
  const { rows } = await pool.query<{ id: string }>(
    `insert into users (tenant_id, login_id, display_name, role, extension, password_hash) values ($1,$2,$3,$4,$5,'x') returning id`,
    [tenantId, loginId, '测试', role, extension],
  );
  return { userId: rows[0]!.id, tenantId, role, loginId, displayName: '测试' };
}

function as(u: AuthUser | null, method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, payload?: unknown) {
  return app.inject({ method, url, headers: u ? { 'x-test-user': JSON.stringify(u) } : {}, ...(payload !== undefined ? { payload: payload as object } : {}) });
}

beforeAll(async () => {
  tenant = await freshTenant(pool);
  other = await freshTenant(pool);
  people.admin = await user(tenant, 'admin');
  people.sup = await user(tenant, 'supervisor');
  people.a1 = await user(tenant, 'agent', '2001');
  people.a2 = await user(tenant, 'agent', '2002');
  people.foreign = await user(other, 'agent', '2001');
  people.foreignAdmin = await user(other, 'admin');
  prefix = newPrefix();
  node = await startNode(prefix, 'n1', { stateLog: writer });
  app = Fastify();
  installErrorHandler(app);
  // stands in for the session guard: the signed-in user comes from a test header
  app.decorateRequest('user', null);
  app.addHook('onRequest', async (req) => {
    const h = req.headers['x-test-user'];
    req.user = typeof h === 'string' ? (JSON.parse(h) as AuthUser) : null;
  });
  const ctx = { db, pool } as unknown as AppContext;
  await app.register(acdRoutes(ctx, { engine: node.engine }));
  await app.register(agentRoutes(ctx, { engine: node.engine }));
  await app.ready();
});

afterAll(async () => {
  await app.close();
  await writer.close();
  await node.close();
  await dropPrefix(prefix);
  await pool.end();
});

describe('ACD admin and agent REST', () => {
  let groupId: string;

  it('creates a group (admins only, validated, tenant-scoped)', async () => {
    expect((await as(null, 'POST', '/acd/groups', { name: '综合咨询' })).statusCode).toBe(401);
    expect((await as(people.sup!, 'POST', '/acd/groups', { name: '综合咨询' })).statusCode).toBe(403);
    const bad = await as(people.admin!, 'POST', '/acd/groups', { name: '综合咨询', strategy: 'fastest' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().field).toContain('strategy');
    const res = await as(people.admin!, 'POST', '/acd/groups', { name: '综合咨询', strategy: 'best_proficiency', wrapUpMs: 1500, maxWaitMs: 120000, overflowOnWait: { kind: 'voicemail' } });
    expect(res.statusCode).toBe(201);
    const g = res.json();
    groupId = g.id;
    expect(g).toMatchObject({ name: '综合咨询', strategy: 'best_proficiency', wrapUpMs: 1500, previousAgentEnabled: true, members: [] });
    expect((await as(people.admin!, 'POST', '/acd/groups', { name: '综合咨询' })).statusCode).toBe(409);
    const code1 = await as(people.admin!, 'POST', '/acd/groups', { name: '企业专席', code: 'enterprise' });
    expect(code1.statusCode).toBe(201);
    const code2 = await as(people.admin!, 'POST', '/acd/groups', { name: '企业专席二', code: 'enterprise' });
    expect(code2.statusCode).toBe(409);
    expect(code2.json()).toMatchObject({ code: 'group_code_taken', field: 'code' });
    const badTarget = await as(people.admin!, 'POST', '/acd/groups', { name: '投诉', overflowOnLength: { kind: 'group' } });
    expect(badTarget.statusCode).toBe(400);
    // another center cannot see it
    expect((await as(people.foreignAdmin!, 'GET', `/acd/groups/${groupId}`)).statusCode).toBe(404);
    expect((await as(people.sup!, 'GET', `/acd/groups/${groupId}`)).statusCode).toBe(200);
  });

  it('sets members (only agents of the same center) and mirrors them into routing', async () => {
    const foreign = await as(people.admin!, 'PUT', `/acd/groups/${groupId}/members`, { members: [{ agentId: people.foreign!.userId, proficiency: 5 }] });
    expect(foreign.statusCode).toBe(400);
    const res = await as(people.admin!, 'PUT', `/acd/groups/${groupId}/members`, {
      members: [{ agentId: people.a1!.userId, proficiency: 2 }, { agentId: people.a2!.userId, proficiency: 5 }],
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().members).toHaveLength(2);
    const stats = await as(people.sup!, 'GET', `/acd/groups/${groupId}/stats`);
    expect(stats.json()).toMatchObject({ waiting: 0, readyAgents: 0, agentsByState: { logged_out: 2 } });
  });

  it('agents sign in with a chosen phone, go ready and are offered calls; a mobile phone carries its confirm key', async () => {
    const ep = await as(people.admin!, 'PUT', `/acd/agents/${people.a2!.userId}/endpoints`, {
      endpoints: [{ type: 'mobile', address: '13700000001', gateway: 'carrier', isDefault: true }, { type: 'sip', address: '2002' }],
    });
    expect(ep.statusCode).toBe(200);
    expect((await as(people.a1!, 'POST', '/agents/me/ready')).statusCode).toBe(409);
    expect((await as(people.a1!, 'POST', '/agents/me/sign-in', {})).json()).toMatchObject({ state: 'not_ready', endpoint: { type: 'sip', address: '2001' } });
    expect((await as(people.a2!, 'POST', '/agents/me/sign-in', {})).json()).toMatchObject({ state: 'not_ready', endpoint: { type: 'mobile', address: '13700000001', confirmKey: '1' } });
    expect((await as(people.a1!, 'POST', '/agents/me/ready')).json().state).toBe('ready');
    expect((await as(people.a2!, 'POST', '/agents/me/ready')).json().state).toBe('ready');
    const list = (await as(people.a1!, 'GET', '/agents')).json().agents;
    expect(list.map((x: { agentId: string; state: string }) => [x.agentId, x.state]).sort()).toEqual(
      [[people.a1!.userId, 'ready'], [people.a2!.userId, 'ready']].sort(),
    );
    expect(list[0].displayName).toBe('测试');
    expect((await as(people.foreign!, 'GET', '/agents')).json().agents).toEqual([]);
    await node.engine.enqueue({ callUuid: crypto.randomUUID(), tenantId: tenant, groupId, callerNumber: '13800000001' });
    const offer = await node.executor.nextOffer();
    // best proficiency: a2 (5) on the mobile phone
    expect(offer.agent).toEqual({ agentId: people.a2!.userId, endpoint: { type: 'mobile', address: '13700000001', gateway: 'carrier', confirmKey: '1' } });
    expect(offer.timeoutMs).toBe(20000);
    expect((await as(people.a2!, 'POST', '/agents/me/sign-out')).statusCode).toBe(409);
    // unanswered on the mobile: straight to a1
    const next = node.executor.nextOffer((r) => r.agent.agentId === people.a1!.userId);
    node.executor.settle(offer.callUuid, { outcome: 'no_answer' });
    expect((await next).callUuid).toBe(offer.callUuid);
    await node.engine.abandon(offer.callUuid);
  });

  it('not ready with a reason, supervisor force, state totals by reason', async () => {
    const nr = await as(people.a1!, 'POST', '/agents/me/not-ready', { reason: '小休' });
    expect(nr.json()).toMatchObject({ state: 'not_ready', reason: '小休' });
    expect((await as(people.a1!, 'POST', `/agents/${people.a2!.userId}/force-state`, { state: 'ready' })).statusCode).toBe(403);
    const forced = await as(people.sup!, 'POST', `/agents/${people.a1!.userId}/force-state`, { state: 'ready' });
    expect(forced.json().state).toBe('ready');
    expect((await as(people.foreignAdmin!, 'GET', `/agents/${people.a1!.userId}/state`)).statusCode).toBe(404);
    await writer.flush();
    const day = new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 10);
    const totals = await as(people.sup!, 'GET', `/agents/state-totals?day=${day}&state=not_ready&agentId=${people.a1!.userId}`);
    expect(totals.statusCode).toBe(200);
    expect(totals.json().totals.find((t: { reason: string }) => t.reason === '小休')).toMatchObject({ periods: 1 });
    // an agent only ever sees their own
    const own = await as(people.a2!, 'GET', `/agents/state-totals?day=${day}&agentId=${people.a1!.userId}`);
    expect(own.json().totals.every((t: { agentId: string }) => t.agentId === people.a2!.userId)).toBe(true);
  });

  it('an unknown id and another center\'s agent (signed in or not) are the same 404 on every /agents/:id and /acd/agents/:id route', async () => {
    const unknown = crypto.randomUUID();
    const foreignSignedOut = people.foreign!.userId;
    const foreignSignedIn = (await user(other, 'agent', '2009')).userId;
    await node.engine.login(foreignSignedIn, other, { type: 'sip', address: '2009' });
    const bodies = new Set<string>();
    for (const id of [unknown, foreignSignedOut, foreignSignedIn]) {
      const reads = {
        state: await as(people.sup!, 'GET', `/agents/${id}/state`),
        force: await as(people.sup!, 'POST', `/agents/${id}/force-state`, { state: 'logged_out' }),
        endpoints: await as(people.admin!, 'GET', `/acd/agents/${id}/endpoints`),
        setEndpoints: await as(people.admin!, 'PUT', `/acd/agents/${id}/endpoints`, { endpoints: [] }),
      };
      for (const [route, r] of Object.entries(reads)) {
        expect(r.statusCode, `${route} ${id}`).toBe(404);
        bodies.add(r.body);
      }
    }
    expect(bodies.size).toBe(1);
    // the foreign agent was left alone
    expect(await node.engine.agent(foreignSignedIn)).toMatchObject({ state: 'not_ready', tenantId: other });
    // this center's signed-out agent still reads as signed out
    const own = await user(tenant, 'agent', '2010');
    expect((await as(people.sup!, 'GET', `/agents/${own.userId}/state`)).json()).toMatchObject({ agentId: own.userId, state: 'logged_out' });
    expect((await as(people.admin!, 'GET', `/acd/agents/${own.userId}/endpoints`)).json()).toEqual({ endpoints: [] });
  });

  it("gives today's KPIs", async () => {
    const res = await as(people.sup!, 'GET', '/acd/kpi');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ timezone: 'Asia/Shanghai', total: { asked: 0 } });
    expect((await as(people.a1!, 'GET', '/acd/kpi')).statusCode).toBe(403);
  });

  it('deletes a group', async () => {
    expect((await as(people.foreignAdmin!, 'DELETE', `/acd/groups/${groupId}`)).statusCode).toBe(404);
    const res = await as(people.admin!, 'DELETE', `/acd/groups/${groupId}`);
    expect(res.statusCode).toBe(200);
    expect((await as(people.admin!, 'GET', `/acd/groups/${groupId}`)).statusCode).toBe(404);
  });
});
