import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startNode, dropPrefix, newPrefix, group, members, ids, loginReady, call, sleep, type TestNode } from './helpers.js';
import type { AcdStrategy } from '../../src/acd/types.js';

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

/** offers one call at a time and answers it, then frees the agent at once (no wrap-up) */
async function offeredAgentFor(groupId: string, n: number): Promise<string> {
  const c = call(groupId, n);
  const offer = node.executor.nextOffer((r) => r.callUuid === c.callUuid);
  await node.engine.enqueue(c);
  const req = await offer;
  node.executor.settle(c.callUuid, { outcome: 'answered', agentId: req.agent.agentId });
  await node.engine.outcome(c.callUuid);
  await node.engine.callEnded(req.agent.agentId, c.callUuid, 1000, 0);
  return req.agent.agentId;
}

async function setup(strategy: AcdStrategy, agents: string[], prof: number[] = []) {
  const g = group({ strategy, members: members(agents, prof) });
  await node.engine.applyGroup(g);
  return g;
}

describe('strategies', () => {
  it('longest-idle offers the agent ready the longest, and that agent moves to the back', async () => {
    const a = ids(3);
    const g = await setup('longest_idle', a);
    await loginReady(node.engine, a);
    expect(await offeredAgentFor(g.id, 1)).toBe(a[0]);
    expect(await offeredAgentFor(g.id, 2)).toBe(a[1]);
    expect(await offeredAgentFor(g.id, 3)).toBe(a[2]);
    expect(await offeredAgentFor(g.id, 4)).toBe(a[0]);
  });

  it('round-robin cycles through members in order regardless of idle time', async () => {
    const a = ids(3);
    const g = await setup('round_robin', a);
    await loginReady(node.engine, [a[2]!, a[0]!, a[1]!]);
    const got = [];
    for (let i = 0; i < 6; i++) got.push(await offeredAgentFor(g.id, i));
    expect(got).toEqual([a[0], a[1], a[2], a[0], a[1], a[2]]);
  });

  it('sequential (top-down) always offers the first ready member in order', async () => {
    const a = ids(3);
    const g = await setup('sequential', a);
    await loginReady(node.engine, [a[2]!, a[1]!, a[0]!]);
    for (let i = 0; i < 3; i++) expect(await offeredAgentFor(g.id, i)).toBe(a[0]);
    await node.engine.setNotReady(a[0]!, '小休');
    expect(await offeredAgentFor(g.id, 9)).toBe(a[1]);
  });

  it('fewest-calls-today offers the agent with the fewest answered calls today', async () => {
    const a = ids(3);
    const g = await setup('fewest_calls', a);
    await loginReady(node.engine, [a[0]!]);
    await offeredAgentFor(g.id, 1);
    await offeredAgentFor(g.id, 2);
    await loginReady(node.engine, [a[1]!]);
    await offeredAgentFor(g.id, 3); // a1 (fewest: 0 vs 2)
    await loginReady(node.engine, [a[2]!]);
    // a0: 2 calls, a1: 1 call, a2: 0 calls; a0 has been idle longest but has the most calls
    expect(await offeredAgentFor(g.id, 4)).toBe(a[2]);
    expect(await offeredAgentFor(g.id, 5)).toBe(a[1]);
    const s = await node.engine.agent(a[0]!);
    expect(s?.callsToday).toBe(2);
  });

  it('best-proficiency offers the most skilled ready agent, longest idle among equals', async () => {
    const a = ids(4);
    const g = await setup('best_proficiency', a, [2, 5, 5, 4]);
    await loginReady(node.engine, a);
    expect(await offeredAgentFor(g.id, 1)).toBe(a[1]);
    expect(await offeredAgentFor(g.id, 2)).toBe(a[2]);
    expect(await offeredAgentFor(g.id, 3)).toBe(a[1]);
    await node.engine.setNotReady(a[1]!, '会议');
    await node.engine.setNotReady(a[2]!, '会议');
    expect(await offeredAgentFor(g.id, 4)).toBe(a[3]);
  });

  it('random spreads offers over all ready agents', async () => {
    const a = ids(4);
    const g = await setup('random', a);
    await loginReady(node.engine, a, undefined, 0);
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) seen.add(await offeredAgentFor(g.id, i));
    expect(seen.size).toBeGreaterThanOrEqual(3);
    for (const s of seen) expect(a).toContain(s);
  });

  it('ring-all rings every ready agent at once; the first to answer wins, the others are free again', async () => {
    const a = ids(3);
    const g = await setup('ring_all', a);
    await loginReady(node.engine, a);
    const c = call(g.id, 1);
    const offer = node.executor.nextOffer();
    await node.engine.enqueue(c);
    const req = await offer;
    expect([req.agent.agentId, ...req.alsoRing.map((x) => x.agentId)].sort()).toEqual([...a].sort());
    for (const x of a) expect((await node.engine.agent(x))?.state).toBe('reserved');
    node.executor.settle(c.callUuid, { outcome: 'answered', agentId: a[1]! });
    expect(await node.engine.outcome(c.callUuid)).toMatchObject({ outcome: 'answered', agentId: a[1] });
    await sleep(20);
    expect((await node.engine.agent(a[1]!))?.state).toBe('talking');
    expect((await node.engine.agent(a[0]!))?.state).toBe('ready');
    expect((await node.engine.agent(a[2]!))?.state).toBe('ready');
    // a second caller rings the two still free
    const c2 = call(g.id, 2);
    const offer2 = node.executor.nextOffer((r) => r.callUuid === c2.callUuid);
    await node.engine.enqueue(c2);
    const req2 = await offer2;
    expect([req2.agent.agentId, ...req2.alsoRing.map((x) => x.agentId)].sort()).toEqual([a[0], a[2]].sort());
  });

  it('an agent in two groups takes the call with the higher effective priority, then the earlier one', async () => {
    const [agent] = ids(1) as [string];
    const low = group({ members: members([agent]), priority: 0 });
    const high = group({ members: members([agent]), priority: 5 });
    await node.engine.applyGroup(low);
    await node.engine.applyGroup(high);
    await node.engine.login(agent, low.tenantId, { type: 'sip', address: '1001' });
    const c1 = call(low.id, 1);
    const c2 = call(high.id, 2);
    await node.engine.enqueue(c1);
    await sleep(5);
    await node.engine.enqueue(c2);
    const offer = node.executor.nextOffer();
    await node.engine.setReady(agent);
    expect((await offer).callUuid).toBe(c2.callUuid);
  });
});
