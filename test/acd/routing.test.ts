import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Redis } from 'ioredis';
import { TEST_REDIS_URL } from '../helpers/env.js';
import { startNode, dropPrefix, newPrefix, group, members, ids, loginReady, call, sleep, TENANT, type TestNode } from './helpers.js';

let prefix: string;
let node: TestNode;

beforeEach(async () => {
  prefix = newPrefix();
  node = await startNode(prefix);
});
afterEach(async () => {
  await node.close();
  await dropPrefix(prefix);
});

async function answerNext(agentState = true) {
  const req = await node.executor.nextOffer();
  node.executor.settle(req.callUuid, { outcome: 'answered', agentId: req.agent.agentId });
  await node.engine.outcome(req.callUuid);
  if (agentState) await node.engine.callEnded(req.agent.agentId, req.callUuid, 10, 0);
  return req;
}

describe('priority and aging', () => {
  it('serves higher priority first, FIFO within a priority; VIP gets the boost', async () => {
    const [agent] = ids(1) as [string];
    const g = group({ members: members([agent]), vipBoost: 10 });
    await node.engine.applyGroup(g);
    await node.engine.login(agent, TENANT, { type: 'sip', address: '1001' });
    const normal1 = call(g.id, 1);
    const normal2 = call(g.id, 2);
    const prio = call(g.id, 3, { priority: 5 });
    const vip = call(g.id, 4, { vip: true });
    for (const c of [normal1, normal2, prio, vip]) {
      await node.engine.enqueue(c);
      await sleep(2);
    }
    expect((await node.engine.position(vip.callUuid))?.position).toBe(1);
    expect((await node.engine.position(prio.callUuid))?.position).toBe(2);
    expect((await node.engine.position(normal2.callUuid))?.position).toBe(4);
    await node.engine.setReady(agent);
    const order = [];
    for (let i = 0; i < 4; i++) order.push((await answerNext()).callUuid);
    expect(order).toEqual([vip.callUuid, prio.callUuid, normal1.callUuid, normal2.callUuid]);
  });

  it('aging lets a long waiter overtake a newer higher-priority caller', async () => {
    const [agent] = ids(1) as [string];
    // 1 point per 10 ms of waiting: priority 5 is worth 50 ms
    const g = group({ members: members([agent]), agingRate: 100 });
    await node.engine.applyGroup(g);
    await node.engine.login(agent, TENANT, { type: 'sip', address: '1001' });
    const old = call(g.id, 1);
    await node.engine.enqueue(old);
    await sleep(80);
    const newHigh = call(g.id, 2, { priority: 5 });
    await node.engine.enqueue(newHigh);
    const newHigher = call(g.id, 3, { priority: 20 });
    await node.engine.enqueue(newHigher);
    expect((await node.engine.position(old.callUuid))?.position).toBe(2);
    expect((await node.engine.position(newHigher.callUuid))?.position).toBe(1);
    await node.engine.setReady(agent);
    const order = [];
    for (let i = 0; i < 3; i++) order.push((await answerNext()).callUuid);
    expect(order).toEqual([newHigher.callUuid, old.callUuid, newHigh.callUuid]);
  });
});

describe('overflow', () => {
  it('on max queue length: the extra caller goes to the overflow group at once', async () => {
    const a = ids(1);
    const spill = group({ members: members(a) });
    const g = group({ members: [], maxQueueLength: 2, overflowOnLength: { kind: 'group', groupId: spill.id } });
    await node.engine.applyGroup(spill);
    await node.engine.applyGroup(g);
    expect(await node.engine.enqueue(call(g.id, 1))).toMatchObject({ status: 'queued', position: 1 });
    expect(await node.engine.enqueue(call(g.id, 2))).toMatchObject({ status: 'queued', position: 2 });
    const third = call(g.id, 3);
    expect(await node.engine.enqueue(third)).toMatchObject({ status: 'queued', position: 1 });
    await loginReady(node.engine, a);
    expect((await node.executor.nextOffer()).callUuid).toBe(third.callUuid);
  });

  it('on max queue length without another group: a goodbye/voicemail target is returned', async () => {
    const g = group({ members: [], maxQueueLength: 1, overflowOnLength: { kind: 'voicemail' } });
    await node.engine.applyGroup(g);
    await node.engine.enqueue(call(g.id, 1));
    expect(await node.engine.enqueue(call(g.id, 2))).toEqual({ status: 'overflow', reason: 'max_length', target: { kind: 'voicemail' } });
  });

  it('on max wait: the caller leaves at the limit for the configured target', async () => {
    const g = group({ members: [], maxWaitMs: 150, overflowOnWait: { kind: 'callback' } });
    await node.engine.applyGroup(g);
    const c = call(g.id, 1);
    const t0 = Date.now();
    await node.engine.enqueue(c);
    const o = await node.engine.outcome(c.callUuid);
    const took = Date.now() - t0;
    expect(o).toMatchObject({ outcome: 'overflow', reason: 'max_wait', target: { kind: 'callback' } });
    expect(took).toBeGreaterThanOrEqual(149);
    expect(took).toBeLessThan(400);
    expect(await node.engine.position(c.callUuid)).toBeNull();
  });

  it('on max wait into another group: the caller keeps the original arrival there', async () => {
    const a = ids(1);
    const spill = group({ members: members(a) });
    const g = group({ members: [], maxWaitMs: 100, overflowOnWait: { kind: 'group', groupId: spill.id } });
    await node.engine.applyGroup(spill);
    await node.engine.applyGroup(g);
    await node.engine.login(a[0]!, TENANT, { type: 'sip', address: '1001' });
    const c = call(g.id, 1);
    await node.engine.enqueue(c);
    await sleep(130);
    const later = call(spill.id, 2);
    await node.engine.enqueue(later);
    expect((await node.engine.position(c.callUuid))?.position).toBe(1);
    await node.engine.setReady(a[0]!);
    expect((await node.executor.nextOffer()).callUuid).toBe(c.callUuid);
  });
});

describe('no answer', () => {
  it('offers the call to the next agent at once, keeps its position, and makes the agent not ready 未接 after N misses', async () => {
    const a = ids(2) as [string, string];
    const g = group({ members: members(a) });
    await node.engine.applyGroup(g);
    await loginReady(node.engine, a);
    const c = call(g.id, 1);
    await node.engine.enqueue(c);
    const first = await node.executor.nextOffer();
    expect(first.agent.agentId).toBe(a[0]);
    const t0 = Date.now();
    const second = node.executor.nextOffer((r) => r.agent.agentId === a[1]);
    node.executor.settle(c.callUuid, { outcome: 'no_answer' });
    const req2 = await second;
    expect(req2.callUuid).toBe(c.callUuid);
    expect(Date.now() - t0).toBeLessThan(250);
    // a0 had one miss: still ready (but not offered this call again)
    const s0 = await node.engine.agent(a[0]);
    expect(s0?.state).toBe('ready');
    expect(s0?.misses).toBe(1);
    // a second call goes to a0 (who is ready), who misses again → not ready 未接
    const c2 = call(g.id, 2);
    const offer3 = node.executor.nextOffer((r) => r.callUuid === c2.callUuid);
    await node.engine.enqueue(c2);
    expect((await offer3).agent.agentId).toBe(a[0]);
    node.executor.settle(c2.callUuid, { outcome: 'no_answer' });
    await sleep(30);
    const s0b = await node.engine.agent(a[0]);
    expect(s0b).toMatchObject({ state: 'not_ready', reason: '未接' });
    // c2 went back to the head of the queue: a1 gets it once free
    node.executor.settle(c.callUuid, { outcome: 'answered', agentId: a[1] });
    await node.engine.outcome(c.callUuid);
    const offer4 = node.executor.nextOffer((r) => r.callUuid === c2.callUuid);
    await node.engine.callEnded(a[1], c.callUuid, 100, 0);
    expect((await offer4).agent.agentId).toBe(a[1]);
  });

  it('a waiting caller keeps their position after a failed offer', async () => {
    const a = ids(1) as [string];
    const g = group({ members: members(a) });
    await node.engine.applyGroup(g);
    await node.engine.login(a[0], TENANT, { type: 'sip', address: '1001' });
    const cs = [call(g.id, 1), call(g.id, 2), call(g.id, 3)];
    for (const c of cs) {
      await node.engine.enqueue(c);
      await sleep(2);
    }
    await node.engine.setReady(a[0]);
    const r = await node.executor.nextOffer();
    expect(r.callUuid).toBe(cs[0]!.callUuid);
    node.executor.settle(r.callUuid, { outcome: 'rejected', agentId: a[0] });
    // the agent (one miss, still ready) is offered the next caller; the missed caller is back at the head
    const next = await node.executor.nextOffer((x) => x.callUuid !== cs[0]!.callUuid);
    expect(next.callUuid).toBe(cs[1]!.callUuid);
    expect((await node.engine.position(cs[0]!.callUuid))?.position).toBe(1);
    expect((await node.engine.position(cs[2]!.callUuid))?.position).toBe(2);
  });

  it('a caller hanging up during the offer frees the agent without a miss', async () => {
    const a = ids(1) as [string];
    const g = group({ members: members(a) });
    await node.engine.applyGroup(g);
    await loginReady(node.engine, a);
    const c = call(g.id, 1);
    await node.engine.enqueue(c);
    await node.executor.nextOffer();
    const outcome = node.engine.outcome(c.callUuid);
    await node.engine.abandon(c.callUuid);
    expect(await outcome).toMatchObject({ outcome: 'abandoned' });
    const s = await node.engine.agent(a[0]);
    expect(s).toMatchObject({ state: 'ready', misses: 0 });
    expect(node.executor.pending.size).toBe(0);
  });
});

describe('previous agent (首问负责制)', () => {
  it('offers a returning caller to their previous agent, waits T while busy, then falls back to the group', async () => {
    const a = ids(2) as [string, string];
    const g = group({ strategy: 'sequential', members: members(a), previousAgentEnabled: true, previousAgentWaitMs: 150 });
    await node.engine.applyGroup(g);
    await node.engine.rebuildPreviousAgents(TENANT);
    await loginReady(node.engine, [a[1]]);
    // first contact: answered by a1
    const first = call(g.id, 7);
    await node.engine.enqueue(first);
    await answerNext();
    await loginReady(node.engine, [a[0]]);
    // same caller again: a0 is first in sequence, but a1 is preferred
    const again = { ...call(g.id, 7) };
    await node.engine.enqueue(again);
    const r = await answerNext(false);
    expect(r.agent.agentId).toBe(a[1]);
    // third time while a1 is talking: waits for a1 ...
    const third = call(g.id, 7);
    const res = await node.engine.enqueue(third);
    expect(res).toMatchObject({ status: 'waiting_for_agent', agentId: a[1] });
    // ... and a1 frees up within T: gets it
    await sleep(50);
    const offer = node.executor.nextOffer((x) => x.callUuid === third.callUuid);
    await node.engine.callEnded(a[1], again.callUuid, 100, 0);
    expect((await offer).agent.agentId).toBe(a[1]);
    node.executor.settle(third.callUuid, { outcome: 'answered', agentId: a[1] });
    await node.engine.outcome(third.callUuid);
    // fourth time, a1 still talking past T: falls back to a0
    const fourth = call(g.id, 7);
    const t0 = Date.now();
    expect(await node.engine.enqueue(fourth)).toMatchObject({ status: 'waiting_for_agent' });
    const fb = await node.executor.nextOffer((x) => x.callUuid === fourth.callUuid);
    expect(fb.agent.agentId).toBe(a[0]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(148);
  });

  it('stops waiting for a previous agent who goes not ready after the call', async () => {
    const a = ids(2) as [string, string];
    const g = group({ strategy: 'sequential', members: members(a), previousAgentEnabled: true, previousAgentWaitMs: 10_000 });
    await node.engine.applyGroup(g);
    await node.engine.rebuildPreviousAgents(TENANT);
    await loginReady(node.engine, [a[1]]);
    const first = call(g.id, 9);
    await node.engine.enqueue(first);
    await answerNext(false);
    const again = call(g.id, 9);
    expect(await node.engine.enqueue(again)).toMatchObject({ status: 'waiting_for_agent', agentId: a[1] });
    await loginReady(node.engine, [a[0]]);
    await node.engine.setNotReady(a[1], '就餐');
    const offer = node.executor.nextOffer((r) => r.callUuid === again.callUuid, 1000);
    await node.engine.callEnded(a[1], first.callUuid, 100, 0);
    expect((await offer).agent.agentId).toBe(a[0]);
  });

  it('does not wait for a previous agent who is signed out', async () => {
    const a = ids(2) as [string, string];
    const g = group({ members: members(a), previousAgentEnabled: true, previousAgentWaitMs: 10_000 });
    await node.engine.applyGroup(g);
    await node.engine.rebuildPreviousAgents(TENANT);
    await loginReady(node.engine, [a[1]]);
    await node.engine.enqueue(call(g.id, 8));
    const r = await answerNext();
    await node.engine.logout(r.agent.agentId);
    await loginReady(node.engine, [a[0]]);
    expect(await node.engine.enqueue(call(g.id, 8))).toEqual({ status: 'offered' });
  });

  it('rebuilds the caller→agent map from the loader when Redis lost it', async () => {
    await node.close();
    const agent = ids(1)[0]!;
    node = await startNode(prefix, 'n1', {
      loadPreviousAgents: async () => [{ callerNumber: '13800000042', agentId: agent, at: Date.now() - 3600_000 }],
    });
    const other = ids(1)[0]!;
    const g = group({ members: members([other, agent]), strategy: 'sequential', previousAgentEnabled: true, previousAgentWaitMs: 1000 });
    await node.engine.applyGroup(g);
    await loginReady(node.engine, [other, agent]);
    await node.engine.enqueue(call(g.id, 42));
    expect((await node.executor.nextOffer()).agent.agentId).toBe(agent);
  });

  it('routes without the history when the loader fails or hangs (PostgreSQL down), and does not ask again at once', async () => {
    for (const loader of [async () => Promise.reject(new Error('connect ECONNREFUSED')), () => new Promise<never>(() => {})]) {
      await node.close();
      await dropPrefix(prefix);
      prefix = newPrefix();
      let loads = 0;
      node = await startNode(prefix, 'n1', {
        loadPreviousAgents: () => (loads++, loader()),
      });
      const agent = ids(1)[0]!;
      const g = group({ members: members([agent]), previousAgentEnabled: true, previousAgentWaitMs: 1000 });
      await node.engine.applyGroup(g);
      await loginReady(node.engine, [agent]);
      const t0 = Date.now();
      expect(await node.engine.enqueue(call(g.id, 42))).toEqual({ status: 'offered' });
      expect(Date.now() - t0).toBeLessThan(2500);
      expect((await node.executor.nextOffer()).agent.agentId).toBe(agent);
      await node.engine.enqueue(call(g.id, 43));
      expect(loads).toBe(1);
    }
  });
});

describe('transfer to a skill group', () => {
  it('a talking call can be queued again in another group (转技能组)', async () => {
    const a = ids(2) as [string, string];
    const g1 = group({ members: members([a[0]]) });
    const g2 = group({ members: members([a[1]]) });
    await node.engine.applyGroup(g1);
    await node.engine.applyGroup(g2);
    await loginReady(node.engine, [a[0]]);
    const c = call(g1.id, 1);
    await node.engine.enqueue(c);
    const first = await answerNext(false);
    expect(first.agent.agentId).toBe(a[0]);
    node.engine.recordTransfer({ tenantId: TENANT, callUuid: c.callUuid, groupId: g1.id, agentId: a[0], to: `group:${g2.id}` });
    expect(await node.engine.enqueue({ ...c, groupId: g2.id })).toMatchObject({ status: 'queued', position: 1 });
    await node.engine.callEnded(a[0], c.callUuid, 1000, 0);
    const offer = node.executor.nextOffer((r) => r.callUuid === c.callUuid);
    await loginReady(node.engine, [a[1]]);
    expect((await offer).agent.agentId).toBe(a[1]);
    expect(await node.engine.enqueue({ ...c, groupId: g2.id })).toEqual({ status: 'rejected', reason: 'duplicate' });
  });
});

describe('wrap-up', () => {
  it('keeps the agent in wrap-up for exactly the group time in ms, then ready and offered at once', async () => {
    const a = ids(1) as [string];
    const g = group({ members: members(a), wrapUpMs: 230 });
    await node.engine.applyGroup(g);
    await loginReady(node.engine, a);
    const c = call(g.id, 1);
    await node.engine.enqueue(c);
    const r = await node.executor.nextOffer();
    node.executor.settle(r.callUuid, { outcome: 'answered', agentId: a[0] });
    await node.engine.outcome(c.callUuid);
    const waiting = call(g.id, 2);
    await node.engine.enqueue(waiting);
    const changes: { to: string; from: string; at: number }[] = [];
    node.engine.on('agentState', (e) => changes.push(e));
    await node.engine.callEnded(a[0], c.callUuid, 5000);
    const snap = await node.engine.agent(a[0]);
    expect(snap?.state).toBe('wrap_up');
    // the wrap-up end is set to the millisecond (never rounded to whole seconds)
    const wu = Number(await node.redis.hget(`${prefix}:agt:${a[0]}`, 'wu'));
    expect(wu - snap!.since!).toBe(230);
    const next = await node.executor.nextOffer((x) => x.callUuid === waiting.callUuid);
    expect(next.agent.agentId).toBe(a[0]);
    const start = changes.find((e) => e.to === 'wrap_up')!;
    const end = changes.find((e) => e.from === 'wrap_up')!;
    expect(end.to).toBe('reserved');
    expect(end.at).toBeGreaterThanOrEqual(wu);
    expect(end.at - start.at).toBeGreaterThanOrEqual(230);
    // a precise timer, not a poll: late only by event-loop jitter (generous on a loaded CI machine)
    expect(end.at - wu).toBeLessThan(500);
  });

  it('a not-ready asked for during the call applies when wrap-up ends; the agent can end wrap-up early', async () => {
    const a = ids(1) as [string];
    const g = group({ members: members(a), wrapUpMs: 60_000 });
    await node.engine.applyGroup(g);
    await loginReady(node.engine, a);
    const c = call(g.id, 1);
    await node.engine.enqueue(c);
    await answerNext(false);
    expect(await node.engine.setNotReady(a[0], '会议')).toBe('pending');
    await node.engine.callEnded(a[0], c.callUuid, 1000);
    expect((await node.engine.agent(a[0]))?.state).toBe('wrap_up');
    await node.engine.endWrapUp(a[0]);
    expect(await node.engine.agent(a[0])).toMatchObject({ state: 'not_ready', reason: '会议' });
  });
});

describe('phone registration', () => {
  it('unregister → not ready 话机离线 (cannot go ready); register → back to ready', async () => {
    const a = ids(1) as [string];
    const g = group({ members: members(a) });
    await node.engine.applyGroup(g);
    await loginReady(node.engine, a);
    expect(await node.engine.onPhoneUnregistered('1001', TENANT)).toBe(a[0]);
    expect(await node.engine.agent(a[0])).toMatchObject({ state: 'not_ready', reason: '话机离线' });
    expect(await node.engine.setReady(a[0])).toBe('phone_offline');
    const c = call(g.id, 1);
    expect(await node.engine.enqueue(c)).toMatchObject({ status: 'queued' });
    const offer = node.executor.nextOffer();
    await node.engine.onPhoneRegistered('1001', TENANT);
    expect((await offer).agent.agentId).toBe(a[0]);
  });

  it('an agent who was on break stays on break after the phone comes back', async () => {
    const a = ids(1) as [string];
    await node.engine.applyGroup(group({ members: members(a) }));
    await loginReady(node.engine, a);
    await node.engine.setNotReady(a[0], '就餐');
    await node.engine.onPhoneUnregistered('1001', TENANT);
    await node.engine.onPhoneRegistered('1001', TENANT);
    expect(await node.engine.agent(a[0])).toMatchObject({ state: 'not_ready', reason: '就餐' });
  });

  it('unregister during a call: not ready 话机离线 once the call ends', async () => {
    const a = ids(1) as [string];
    const g = group({ members: members(a) });
    await node.engine.applyGroup(g);
    await loginReady(node.engine, a);
    const c = call(g.id, 1);
    await node.engine.enqueue(c);
    await answerNext(false);
    await node.engine.onPhoneUnregistered('1001', TENANT);
    expect((await node.engine.agent(a[0]))?.state).toBe('talking');
    await node.engine.callEnded(a[0], c.callUuid, 100, 0);
    expect(await node.engine.agent(a[0])).toMatchObject({ state: 'not_ready', reason: '话机离线' });
  });

  it('mobile agents are offered with their number, gateway and confirm key', async () => {
    const a = ids(1) as [string];
    const g = group({ members: members(a) });
    await node.engine.applyGroup(g);
    await node.engine.login(a[0], TENANT, { type: 'mobile', address: '13700000001', gateway: 'carrier', confirmKey: '1' });
    await node.engine.setReady(a[0]);
    await node.engine.enqueue(call(g.id, 1));
    const r = await node.executor.nextOffer();
    expect(r.agent.endpoint).toEqual({ type: 'mobile', address: '13700000001', gateway: 'carrier', confirmKey: '1' });
  });
});

describe('restart', () => {
  it('a restarted engine finds queue positions intact and re-adopts its callers', async () => {
    const g = group({ members: [] });
    await node.engine.applyGroup(g);
    const cs = Array.from({ length: 10 }, (_, i) => call(g.id, i, { priority: i % 3 }));
    for (const c of cs) await node.engine.enqueue(c);
    const before = await Promise.all(cs.map((c) => node.engine.position(c.callUuid)));
    await node.close();
    node = await startNode(prefix, 'n1');
    const after = await Promise.all(cs.map((c) => node.engine.position(c.callUuid)));
    expect(after.map((p) => p?.position)).toEqual(before.map((p) => p?.position));
    expect(node.adopted.map((x) => x.callUuid).sort()).toEqual(cs.map((c) => c.callUuid).sort());
    expect(node.adopted.every((x) => x.state === 'waiting')).toBe(true);
    // the agent who signs in now gets the head of the queue
    const a = ids(1);
    await node.engine.applyGroup({ ...g, members: members(a) });
    const head = cs[before.findIndex((p) => p?.position === 1)]!;
    await loginReady(node.engine, a);
    expect((await node.executor.nextOffer()).callUuid).toBe(head.callUuid);
  });

  it('an offer in flight when the node died is retried after the restart, without a miss', async () => {
    const a = ids(1) as [string];
    const g = group({ members: members(a) });
    await node.engine.applyGroup(g);
    await loginReady(node.engine, a);
    const c = call(g.id, 1);
    await node.engine.enqueue(c);
    await node.executor.nextOffer();
    await node.close(); // dies mid-offer
    node = await startNode(prefix, 'n1');
    const r = await node.executor.nextOffer();
    expect(r.callUuid).toBe(c.callUuid);
    expect((await node.engine.agent(a[0]))?.misses).toBe(0);
  });
});

describe('group figures', () => {
  it('counts waiting callers, the longest wait and the members by state in one read', async () => {
    const [ready, paused, away, talking] = ids(4) as [string, string, string, string];
    const g = group({ members: members([ready, paused, away, talking]) });
    await node.engine.applyGroup(g);
    await node.engine.login(talking, TENANT, { type: 'sip', address: '1004' });
    await node.engine.setReady(talking);
    const answered = call(g.id, 1);
    await node.engine.enqueue(answered);
    await answerNext(false);
    await node.engine.login(paused, TENANT, { type: 'sip', address: '1002' });
    const early = call(g.id, 2, { arrivalMs: Date.now() - 30_000 });
    const late = call(g.id, 3, { arrivalMs: Date.now() - 5_000 });
    for (const c of [late, early]) expect(await node.engine.enqueue(c)).toMatchObject({ status: 'queued' });
    await node.engine.login(ready, TENANT, { type: 'sip', address: '1001' });
    const stats = await node.engine.groupStats(g.id);
    expect(stats).toMatchObject({ groupId: g.id, waiting: 2, readyAgents: 0, agentsByState: { talking: 1, not_ready: 2, logged_out: 1 } });
    expect(stats.longestWaitMs).toBeGreaterThanOrEqual(30_000);
    expect(stats.longestWaitMs).toBeLessThan(31_000);
    // the ready agent takes the longest waiter: one caller left, waiting 5 s
    await node.engine.setReady(ready);
    const offer = await node.executor.nextOffer();
    expect(offer.callUuid).toBe(early.callUuid);
    const after = await node.engine.groupStats(g.id);
    expect(after).toMatchObject({ waiting: 1, agentsByState: { talking: 1, not_ready: 1, logged_out: 1, reserved: 1 } });
    expect(after.longestWaitMs).toBeGreaterThanOrEqual(5_000);
    expect(after.longestWaitMs).toBeLessThan(6_000);
  });
});

describe('the routing connection', () => {
  it('runs every routing script on its own connection, written in the same tick as the trigger', async () => {
    // the shared client auto-pipelines: a script sent there waits for the end of the loop turn (setImmediate)
    const shared = new Redis(TEST_REDIS_URL, { enableAutoPipelining: true });
    const routing = new Redis(TEST_REDIS_URL, { enableAutoPipelining: false });
    const own = newPrefix();
    const n = await startNode(own, 'n-routing', { redis: shared, routingRedis: routing });
    try {
      const [agent] = ids(1) as [string];
      const g = group({ members: members([agent]) });
      await n.engine.applyGroup(g);
      await loginReady(n.engine, [agent]);
      const onShared = vi.spyOn(shared, 'evalsha');
      const onRouting = vi.spyOn(routing, 'evalsha');
      const written = vi.spyOn(routing.stream, 'write');
      const c = call(g.id, 1);
      const result = n.engine.enqueue(c);
      // nothing has yielded to the event loop yet: the EVALSHA must already be on the socket
      expect(written).toHaveBeenCalledTimes(1);
      expect(String(written.mock.calls[0]![0])).toContain('evalsha');
      expect(await result).toEqual({ status: 'offered' });
      const offer = await n.executor.nextOffer();
      expect(offer).toMatchObject({ callUuid: c.callUuid, agent: { agentId: agent } });
      n.executor.settle(c.callUuid, { outcome: 'answered', agentId: agent });
      expect(await n.engine.outcome(c.callUuid)).toMatchObject({ outcome: 'answered', agentId: agent });
      await n.engine.callEnded(agent, c.callUuid, 10, 0);
      expect(onRouting.mock.calls.length).toBeGreaterThanOrEqual(3); // enqueue, answered, call ended
      expect(onShared).not.toHaveBeenCalled();
    } finally {
      await n.close();
      shared.disconnect();
      routing.disconnect();
      await dropPrefix(own);
    }
  });
});
