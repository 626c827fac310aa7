// /ws/agent and /ws/wallboard against the real HTTP app (sessions in PostgreSQL), an AcdEngine with a fake offer
// executor, and two server instances sharing Redis for cross-node messages.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { cdrs } from '../../src/db/schema/index.js';
import { createGroup, setMembers } from '../../src/acd/groups.js';
import type { SkillGroupConfig } from '../../src/acd/types.js';
import type { AgentCallControl } from '../../src/ws/index.js';
import { createTestTenant, createTestUser, login, type LoggedIn, type TestUser } from '../http/fixture.js';
import { dropPrefix } from '../acd/helpers.js';
import { randomPrefix } from '../helpers/env.js';
import { startWsServer, TestClient, type WsServer } from './fixture.js';

const prefix = randomPrefix('ws');
let a: WsServer;
let b: WsServer;
let tenant: string;
let other: string;
let group: SkillGroupConfig;
const users: Record<string, TestUser> = {};
const sessions: Record<string, LoggedIn> = {};
const softCalls: { op: string; callUuid: string; agentId: string }[] = [];
const callEvents = new EventEmitter();
const callControl: AgentCallControl = {
  onScreenPop(listener) {
    callEvents.on('screenPop', listener);
    return () => callEvents.off('screenPop', listener);
  },
  async answer(req) {
    softCalls.push({ op: 'answer', ...req });
  },
  async hangup(req) {
    softCalls.push({ op: 'hangup', ...req });
    throw new Error('phone did not answer the hang-up');
  },
};
const open: TestClient[] = [];

async function connect(server: WsServer, who: string, path = '/ws/agent'): Promise<TestClient> {
  const c = await TestClient.open(`${server.url}${path}`, { token: sessions[who]!.token });
  open.push(c);
  return c;
}

beforeAll(async () => {
  a = await startWsServer(prefix, 'wsA', callControl);
  b = await startWsServer(prefix, 'wsB');
  tenant = await createTestTenant(a.ctx, '演示中心');
  other = await createTestTenant(a.ctx, '其他中心');
  users.a1 = await createTestUser(a.ctx, tenant, 'agent');
  users.a2 = await createTestUser(a.ctx, tenant, 'agent');
  users.a3 = await createTestUser(a.ctx, tenant, 'agent');
  users.sup = await createTestUser(a.ctx, tenant, 'supervisor');
  users.admin = await createTestUser(a.ctx, tenant, 'admin');
  users.otherSup = await createTestUser(a.ctx, other, 'supervisor');
  users.locked = await createTestUser(a.ctx, tenant, 'agent');
  for (const [k, u] of Object.entries(users)) sessions[k] = await login(a.app, u.loginId, u.password);
  const g = await createGroup(a.ctx.db, tenant, { name: '综合咨询', noAnswerTimeoutMs: 15_000, wrapUpMs: 60_000, previousAgentEnabled: false });
  group = (await setMembers(a.ctx.db, tenant, g.id, [{ agentId: users.a1!.id }, { agentId: users.a2!.id }]))!;
  await a.node.engine.applyGroup(group);
});

afterAll(async () => {
  await Promise.all(open.map((c) => c.close()));
  await a?.close();
  await b?.close();
  await dropPrefix(prefix);
});

describe('authentication', () => {
  it('refuses a handshake without a session, with a locked session, and with the wrong role', async () => {
    await expect(TestClient.open(`${a.url}/ws/agent`)).rejects.toMatchObject({ statusCode: 401 });
    await expect(TestClient.open(`${a.url}/ws/agent`, { token: 'not-a-token' })).rejects.toMatchObject({ statusCode: 401 });
    const lock = await a.app.inject({ method: 'POST', url: '/auth/lock', headers: sessions.locked!.bearer });
    expect(lock.statusCode).toBe(200);
    await expect(TestClient.open(`${a.url}/ws/agent`, { token: sessions.locked!.token })).rejects.toMatchObject({ statusCode: 423 });
    await expect(TestClient.open(`${a.url}/ws/agent`, { headers: { cookie: sessions.locked!.cookie } })).rejects.toMatchObject({ statusCode: 423 });
    await expect(TestClient.open(`${a.url}/ws/agent`, { protocols: ['hotline.v1', `bearer.${sessions.locked!.token}`] })).rejects.toMatchObject({ statusCode: 423 });
    // an agent is no supervisor
    await expect(TestClient.open(`${a.url}/ws/wallboard`, { token: sessions.a1!.token })).rejects.toMatchObject({ statusCode: 403 });
    // a cookie session from a foreign page
    await expect(
      TestClient.open(`${a.url}/ws/agent`, { headers: { cookie: sessions.a3!.cookie, origin: 'https://evil.example' } }),
    ).rejects.toMatchObject({ statusCode: 403 });
  });

  it('accepts the cookie, ?token= and the bearer subprotocol (never echoing the token back)', async () => {
    const viaCookie = await TestClient.open(`${a.url}/ws/agent`, { headers: { cookie: sessions.a3!.cookie } });
    open.push(viaCookie);
    const hello = await viaCookie.type('hello');
    expect(hello).toMatchObject({ v: 1, protocol: 1, profile: { userId: users.a3!.id, loginId: users.a3!.loginId, role: 'agent', tenantId: tenant } });
    expect(typeof hello.serverTime).toBe('number');
    const viaProtocol = await TestClient.open(`${a.url}/ws/agent`, { protocols: ['hotline.v1', `bearer.${sessions.a3!.token}`] });
    open.push(viaProtocol);
    expect(viaProtocol.ws.protocol).toBe('hotline.v1');
    await viaProtocol.type('hello');
    await viaCookie.close();
    await viaProtocol.close();
  });
});

describe('agent session', () => {
  let c1: TestClient;
  let c2: TestClient;
  let callUuid: string;

  it('restores an empty state on connect: hello, agent.state, queue.stats, agents.list, unread messages', async () => {
    c1 = await connect(a, 'a1');
    await c1.type('hello');
    expect(await c1.type('agent.state')).toMatchObject({ state: 'logged_out', label: '未签入' });
    const stats = await c1.type('queue.stats');
    expect((stats.groups as { groupId: string; name: string }[]).map((g) => [g.groupId, g.name])).toEqual([[group.id, '综合咨询']]);
    expect(await c1.type('agents.list')).toMatchObject({ agents: [] });
    expect(await c1.type('messages.unread')).toMatchObject({ messages: [] });
  });

  it('sign in → ready: acks carry the state and agent.state is pushed; another agent sees the list change', async () => {
    c2 = await connect(b, 'a2'); // the other node: agent states cross nodes through the engine's broadcast
    await c2.type('messages.unread');
    expect(await c1.command('ready')).toMatchObject({ type: 'error', code: 'not_signed_in', message: '请先签入' });
    const signIn = await c1.command('sign_in', { extension: users.a1!.extension });
    expect(signIn).toMatchObject({ type: 'ack', command: 'sign_in', state: { state: 'not_ready', endpoint: { type: 'sip', address: users.a1!.extension } } });
    expect(await c1.type('agent.state', (f) => f.state === 'not_ready')).toBeTruthy();
    const ready = await c1.command('ready');
    expect(ready).toMatchObject({ type: 'ack', state: { state: 'ready', label: '空闲' } });
    expect(await c1.type('agent.state', (f) => f.state === 'ready')).toMatchObject({ label: '空闲' });
    const update = await c2.type('agents.update', (f) => (f.agents as { state: string }[]).some((x) => x.state === 'ready'));
    expect(update.agents).toEqual([expect.objectContaining({ agentId: users.a1!.id, loginId: users.a1!.loginId, name: '测试agent', state: 'ready', label: '空闲' })]);
    // a number that is not one of the agent's phones is refused
    expect(await c2.command('sign_in', { mobile: '13900000000' })).toMatchObject({ type: 'error', code: 'no_phone', field: 'mobile' });
  });

  it('a call offer reaches the agent with the screen pop: directory, IVR path, previous calls and their agents', async () => {
    const caller = '13812345678';
    const created = await a.app.inject({
      method: 'POST', url: '/callers', headers: sessions.admin!.bearer,
      payload: { number: caller, name: '张三', address: '北京市东城区', kind: 'citizen', vip: true, registeredAt: '2024-05-01T08:00:00.000Z' },
    });
    expect(created.statusCode).toBe(201);
    expect((await a.app.inject({ method: 'POST', url: '/callers', headers: sessions.sup!.bearer, payload: { number: '1', name: 'x' } })).statusCode).toBe(403);
    const earlier = new Date(Date.now() - 86_400_000);
    await a.ctx.db.insert(cdrs).values({ callUuid: randomUUID(), tenantId: tenant, callerNumber: caller, startAt: earlier, endAt: earlier, durationMs: 60_000, talkMs: 50_000, finalState: 'talking', agentId: users.a2!.id });

    const stats = c1.type('queue.stats', (f) => (f.groups as { waiting: number }[])[0]!.waiting === 0);
    callUuid = randomUUID();
    await a.node.engine.enqueue({ callUuid, tenantId: tenant, groupId: group.id, callerNumber: caller, screenPop: { callerNumber: caller, ivrPath: ['welcome', 'menu', 'key1'] } });
    const offer = await c1.type('call.offer');
    expect(offer).toMatchObject({
      callUuid,
      groupId: group.id,
      groupName: '综合咨询',
      screenPop: {
        callerNumber: caller, callerName: '张三', callerAddress: '北京市东城区', callerKind: 'citizen', vip: true,
        registeredAt: '2024-05-01T08:00:00.000Z', ivrPath: ['welcome', 'menu', 'key1'],
        previousCalls: [expect.objectContaining({ agentId: users.a2!.id, agentLoginId: users.a2!.loginId, agentName: '测试agent', talkMs: 50_000 })],
      },
    });
    expect(await c1.type('call.state', (f) => f.callUuid === callUuid)).toMatchObject({ state: 'offered', label: '来电振铃' });
    await stats;
  });

  it('soft answer goes through the call layer hook; a failing hook is a typed error', async () => {
    expect(await c1.command('answer', { callUuid: 'some-other-call' })).toMatchObject({ type: 'error', code: 'no_call', field: 'callUuid' });
    expect(await c1.command('answer')).toMatchObject({ type: 'ack', callUuid });
    expect(softCalls).toContainEqual({ op: 'answer', callUuid, agentId: users.a1!.id, tenantId: tenant });
    // the phone answered: the ACD hears it from the executor
    a.node.executor.settle(callUuid, { outcome: 'answered', agentId: users.a1!.id });
    expect(await c1.type('call.state', (f) => f.state === 'talking')).toMatchObject({ callUuid, label: '通话中' });
    expect(await c1.type('agent.state', (f) => f.state === 'talking')).toMatchObject({ callUuid });
    expect(await c1.command('hangup')).toMatchObject({ type: 'error', code: 'call_control_failed', message: '话机操作失败，请直接使用话机' });
    // without a call layer hook (node B): not supported
    expect(await c2.command('answer')).toMatchObject({ type: 'error', code: 'not_supported' });
  });

  it('not ready during a call is pending; not_ready validates its reason', async () => {
    expect(await c1.command('not_ready', { reason: '' })).toMatchObject({ type: 'error', code: 'bad_message', field: 'reason' });
    expect(await c1.command('not_ready')).toMatchObject({ type: 'error', code: 'bad_message', field: 'reason' });
    const nr = await c1.command('not_ready', { reason: '小休' });
    expect(nr).toMatchObject({ type: 'ack', state: { state: 'talking', pendingNotReady: '小休' } });
  });

  it('a dropped socket keeps the call and the sign-in; reconnecting restores state, call + screen pop, stats and unread messages', async () => {
    await c1.close();
    // a colleague writes meanwhile
    expect(await c2.command('send_message', { to: { agentId: users.a1!.id }, text: '请回电张三' })).toMatchObject({ type: 'ack' });
    expect((await a.node.engine.agent(users.a1!.id))?.state).toBe('talking');
    const again = await connect(b, 'a1'); // the other node this time
    expect(await again.type('agent.state')).toMatchObject({ state: 'talking', callUuid, pendingNotReady: '小休' });
    const offer = await again.type('call.offer');
    expect(offer).toMatchObject({ callUuid, restored: true, groupId: group.id, screenPop: { callerName: '张三', ivrPath: ['welcome', 'menu', 'key1'] } });
    expect(await again.type('call.state')).toMatchObject({ callUuid, state: 'talking', restored: true });
    await again.type('queue.stats');
    expect(((await again.type('agents.list')).agents as { agentId: string }[]).map((x) => x.agentId)).toContain(users.a1!.id);
    const unread = await again.type('messages.unread');
    expect(unread.messages).toEqual([expect.objectContaining({ text: '请回电张三', from: { userId: users.a2!.id, name: '测试agent' }, to: { kind: 'agent', agentId: users.a1!.id } })]);
    const upTo = (unread.messages as { id: number }[])[0]!.id;
    expect(await again.command('mark_read', { upTo })).toMatchObject({ type: 'ack', readUpTo: upTo });
    // the call ends: wrap-up, then the pending not-ready after ending wrap-up early
    await a.node.engine.callEnded(users.a1!.id, callUuid, 30_000);
    expect(await again.type('call.state', (f) => f.state === 'wrap_up')).toMatchObject({ callUuid, label: '话后处理' });
    expect(await again.command('end_wrap_up')).toMatchObject({ type: 'ack', state: { state: 'not_ready', reason: '小休' } });
    expect(await again.command('end_wrap_up')).toMatchObject({ type: 'error', code: 'invalid_state' });
    c1 = again;
  });
});

describe('transfers', () => {
  it('a call transferred to an agent on another node pops up there, with the directory data', async () => {
    const target = await connect(b, 'a3');
    await target.type('messages.unread');
    const callUuid = randomUUID();
    callEvents.emit('screenPop', { tenantId: tenant, agentId: users.a3!.id, callUuid, data: { callerNumber: '13812345678', ivrPath: ['welcome', 'transfer'], vars: { ticket: 'GD2026-1' } } });
    const offer = await target.type('call.offer', (f) => f.callUuid === callUuid);
    expect(offer).toMatchObject({ transferred: true, screenPop: { callerName: '张三', ivrPath: ['welcome', 'transfer'], vars: { ticket: 'GD2026-1' } } });
    // nobody else's screen
    callEvents.emit('screenPop', { tenantId: other, agentId: users.a3!.id, callUuid: randomUUID(), data: { callerNumber: '1' } });
    await new Promise((r) => setTimeout(r, 200));
    expect(target.frames.filter((f) => f.type === 'call.offer')).toHaveLength(1);
  });
});

describe('messages', () => {
  it('between two agents on two nodes, to a group and to everyone; REST history and sending', async () => {
    const m1 = await connect(a, 'a1');
    const m2 = await connect(b, 'a2');
    const m3 = await connect(a, 'a3');
    for (const c of [m1, m2, m3]) await c.type('messages.unread');
    const sent = await m1.command('send_message', { to: { agentId: users.a2!.id }, text: '  你好，B  ' });
    expect(sent).toMatchObject({ type: 'ack', command: 'send_message', message: { text: '你好，B', from: { userId: users.a1!.id } } });
    expect(await m2.type('message')).toMatchObject({ message: { text: '你好，B', from: { userId: users.a1!.id, name: '测试agent' } } });
    // the sender's own screens get it too, nobody else
    await m1.type('message', (f) => (f.message as { text: string }).text === '你好，B');
    await m1.command('send_message', { to: { groupId: group.id }, text: '组内通知' });
    expect(await m2.type('message')).toMatchObject({ message: { text: '组内通知', to: { kind: 'group', groupId: group.id } } });
    const toAll = await a.app.inject({ method: 'POST', url: '/agents/messages', headers: sessions.sup!.bearer, payload: { to: { all: true }, text: '全体注意：系统维护' } });
    expect(toAll.statusCode).toBe(201);
    expect(await m3.type('message')).toMatchObject({ message: { text: '全体注意：系统维护', to: { kind: 'all' } } });
    expect(m3.frames.some((f) => f.type === 'message' && ['你好，B', '组内通知'].includes((f.message as { text: string }).text))).toBe(false);
    expect(await m1.command('send_message', { to: { agentId: users.otherSup!.id }, text: 'x' })).toMatchObject({ type: 'error', code: 'agent_not_found' });
    expect(await m1.command('send_message', { to: { agentId: users.a2!.id }, text: 'x'.repeat(501) })).toMatchObject({ type: 'error', code: 'bad_message', field: 'text' });
    const history = await b.app.inject({ method: 'GET', url: '/agents/messages', headers: sessions.a2!.bearer });
    expect(history.statusCode).toBe(200);
    const texts = (history.json().messages as { text: string }[]).map((m) => m.text);
    expect(texts).toEqual(expect.arrayContaining(['你好，B', '组内通知', '全体注意：系统维护', '请回电张三']));
    const a3History = (await a.app.inject({ method: 'GET', url: '/agents/messages', headers: sessions.a3!.bearer })).json().messages as { text: string }[];
    expect(a3History.map((m) => m.text)).toEqual(['全体注意：系统维护']);
    const bad = await a.app.inject({ method: 'POST', url: '/agents/messages', headers: sessions.a1!.bearer, payload: { to: { agentId: users.a2!.id, all: true }, text: 'x' } });
    expect(bad.statusCode).toBe(400);
  });
});

describe('malformed input', () => {
  it('answers every bad frame with a typed error and keeps the socket', async () => {
    const c = await connect(a, 'a3');
    await c.type('messages.unread');
    const errors: [string, Record<string, unknown>][] = [
      ['{not json', { code: 'bad_json', message: '消息不是有效的JSON' }],
      ['[1,2]', { code: 'bad_message' }],
      [JSON.stringify({ v: 2, type: 'ping', id: 'x1' }), { code: 'unsupported_version', id: 'x1', field: 'v' }],
      [JSON.stringify({ v: 1, type: 'dance', id: 'x2' }), { code: 'unknown_type', id: 'x2', message: '未知的消息类型' }],
      [JSON.stringify({ v: 1, type: 'ready', id: 'x3', extra: true }), { code: 'bad_message', id: 'x3' }],
      [JSON.stringify({ v: 1, type: 'sign_in', id: 'x4', endpointId: 'nope' }), { code: 'bad_message', id: 'x4', field: 'endpointId' }],
      [JSON.stringify({ v: 1, type: 'send_message', id: 'x5', to: {}, text: 'hi' }), { code: 'bad_message', id: 'x5' }],
      [JSON.stringify({ v: 1, type: 'ping', id: 'x6', pad: 'x'.repeat(9000) }), { code: 'message_too_large' }],
    ];
    for (const [raw, expected] of errors) {
      const got = c.waitFor((f) => f.type === 'error');
      c.sendRaw(raw);
      expect(await got).toMatchObject({ v: 1, type: 'error', ...expected });
    }
    expect(await c.command('ping')).toMatchObject({ type: 'ack', command: 'ping' });
    // beyond the frame limit the socket is closed by the protocol layer (1009), the server carries on
    const closed = new Promise<number>((resolve) => c.ws.once('close', (code) => resolve(code)));
    c.sendRaw('x'.repeat(70 * 1024));
    expect(await closed).toBe(1009);
    const again = await connect(a, 'a3');
    expect(await again.command('ping')).toMatchObject({ type: 'ack' });
  });
});

describe('wallboard', () => {
  it('pushes queue and agent figures per group and center, and lets a supervisor force a state', async () => {
    const agent = await connect(a, 'a2');
    await agent.type('messages.unread');
    expect(await agent.command('sign_in')).toMatchObject({ type: 'ack' });
    expect(await agent.command('not_ready', { reason: '培训' })).toMatchObject({ type: 'ack', state: { state: 'not_ready', reason: '培训' } });
    // today's queue events so far: two answered (5 s, 30 s), one hung up after 10 s → 20 s level 1/(3-1)
    const at = new Date();
    const rows: [string, string, number][] = [];
    for (const [i, [end, wait]] of ([['answer', 5_000], ['answer', 30_000], ['abandon', 10_000]] as const).entries()) {
      const call = `kpi-${i}-${randomUUID()}`;
      rows.push([call, 'enqueue', 0], [call, end, wait]);
    }
    for (const [call, type, wait] of rows) {
      await a.ctx.pool.query('insert into queue_events (tenant_id, at, type, call_uuid, group_id, wait_ms) values ($1,$2,$3,$4,$5,$6)', [tenant, at, type, call, group.id, wait]);
    }
    const board = await connect(b, 'sup', '/ws/wallboard');
    expect(await board.type('hello')).toMatchObject({ profile: { role: 'supervisor' } });
    const first = await board.type('wallboard');
    expect(first).toMatchObject({ center: { signedIn: 2 }, groups: [expect.objectContaining({ groupId: group.id, name: '综合咨询', waiting: 0 })] });
    expect((first.center as { agentsByState: Record<string, number> }).agentsByState).toMatchObject({ not_ready: 2 });
    expect(first.center).toMatchObject({ askedToday: 3, answeredToday: 2, abandonedToday: 1, serviceLevel20s: 0.5, answerRate: 2 / 3 });
    expect((first.groups as object[])[0]).toMatchObject({ answeredToday: 2, abandonedToday: 1, serviceLevel20s: 0.5 });
    // a caller waits (nobody ready): the wallboard shows it within a tick
    const waitingCall = randomUUID();
    await a.node.engine.enqueue({ callUuid: waitingCall, tenantId: tenant, groupId: group.id, callerNumber: '13700000009' });
    const busy = await board.type('wallboard', (f) => (f.center as { waiting: number }).waiting === 1);
    expect((busy.groups as { waiting: number; longestWaitMs: number }[])[0]).toMatchObject({ waiting: 1 });
    // force a2 ready from the wallboard: the caller is offered to a2 at once
    const forced = await board.command('force_state', { agentId: users.a2!.id, state: 'ready' });
    expect(forced).toMatchObject({ type: 'ack', command: 'force_state', agentId: users.a2!.id });
    expect(await agent.type('call.offer')).toMatchObject({ callUuid: waitingCall });
    expect(await board.command('force_state', { agentId: users.a2!.id, state: 'sleeping' })).toMatchObject({ type: 'error', code: 'bad_message', field: 'state' });
    expect(await board.command('force_state', { agentId: users.a3!.id, state: 'ready' })).toMatchObject({ type: 'error', code: 'not_signed_in' });
    await a.node.engine.abandon(waitingCall);
    const later = await board.type('wallboard', (f) => (f.center as { waiting: number }).waiting === 0);
    expect(later.agents).toEqual(expect.arrayContaining([expect.objectContaining({ agentId: users.a2!.id, loginId: users.a2!.loginId })]));
  });

  it('a supervisor of another center sees nothing of this one and cannot touch its agents', async () => {
    const board = await connect(a, 'otherSup', '/ws/wallboard');
    const frame = await board.type('wallboard');
    expect(frame).toMatchObject({ groups: [], agents: [], center: { signedIn: 0, waiting: 0 } });
    expect(await board.command('force_state', { agentId: users.a1!.id, state: 'logged_out' })).toMatchObject({ type: 'error', code: 'agent_not_found' });
    expect(await board.command('send_message', { to: { groupId: group.id }, text: '越权' })).toMatchObject({ type: 'error', code: 'group_not_found' });
    // activity in the demo center never reaches it
    await a.node.engine.enqueue({ callUuid: randomUUID(), tenantId: tenant, groupId: group.id, callerNumber: '13700000010' });
    await new Promise((r) => setTimeout(r, 600));
    expect(board.frames.filter((f) => f.type === 'wallboard').every((f) => (f.groups as unknown[]).length === 0 && (f.agents as unknown[]).length === 0)).toBe(true);
    expect(board.frames.some((f) => f.type === 'message' || f.type === 'agents.update')).toBe(false);
    const callers = await a.app.inject({ method: 'GET', url: '/callers?q=张三', headers: sessions.otherSup!.bearer });
    expect(callers.json().callers).toEqual([]);
  });
});
