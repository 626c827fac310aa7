// 代答 while the ACD's originate to agent A is still in the switch: the offer is withdrawn like an abandoned one.
// A stays reserved (no second call can ring A's phone) until that originate settled, then is ready without a miss.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SlowOriginateExecutor, TENANT, call, dropPrefix, group, ids, members, newPrefix, sleep, startNode, stateBecomes, type TestNode } from './helpers.js';

let prefix: string;
let nodes: TestNode[] = [];

beforeEach(() => {
  prefix = newPrefix();
});

afterEach(async () => {
  for (const n of nodes) await n.close();
  nodes = [];
  await dropPrefix(prefix);
});

/** agents A (ready, will be offered caller 1) and B (not ready: the colleague who picks up) */
async function offeringToA(node: TestNode, noAnswerTimeoutMs = 15_000) {
  const [a, b] = ids(2) as [string, string];
  const g = group({ members: members([a]), noAnswerTimeoutMs });
  await node.engine.applyGroup(g);
  await node.engine.login(a, TENANT, { type: 'sip', address: '1001' });
  await node.engine.login(b, TENANT, { type: 'sip', address: '1002' });
  await node.engine.setReady(a);
  return { a, b, g };
}

describe('代答 while the originate to the offered agent is pending', () => {
  it('A is held until its originate settled (no second offer meanwhile), then ready with no miss and offered the next caller', async () => {
    const ex = new SlowOriginateExecutor();
    const node = await startNode(prefix, 'n1', {}, ex);
    nodes = [node];
    const { a, b, g } = await offeringToA(node);
    const c1 = call(g.id, 1);
    const c2 = call(g.id, 2);
    await node.engine.enqueue(c1);
    const first = await ex.nextOfferOf(c1.callUuid);
    expect(await node.engine.enqueue(c2)).toEqual({ status: 'queued', position: 1 });

    const outcome = node.engine.outcome(c1.callUuid);
    expect(await node.engine.callPickedUp(c1.callUuid, b)).toBe('ok');
    expect(await outcome).toMatchObject({ outcome: 'answered', agentId: b });
    expect(first.req.signal.aborted).toBe(true); // the executor was told to cancel A's leg
    expect(await node.engine.agent(b)).toMatchObject({ state: 'talking', callUuid: c1.callUuid });

    await sleep(300);
    expect(ex.offersTo(a).map((r) => r.callUuid)).toEqual([c1.callUuid]);
    expect(await node.engine.agent(a)).toMatchObject({ state: 'reserved', callUuid: c1.callUuid, misses: 0 });

    const settledAt = Date.now();
    ex.settle(c1.callUuid, { outcome: 'caller_gone' });
    const second = await ex.nextOfferOf(c2.callUuid);
    expect(second.at).toBeGreaterThanOrEqual(settledAt);
    expect(second.req.agent.agentId).toBe(a);
    expect(await node.engine.agent(a)).toMatchObject({ state: 'reserved', callUuid: c2.callUuid, misses: 0 });
  });

  it('with nobody else waiting A goes back to ready (no miss) when the leg is gone; the guard timer frees A if it never settles', async () => {
    const ex = new SlowOriginateExecutor();
    const node = await startNode(prefix, 'n1', { offerGuardMs: 300 }, ex);
    nodes = [node];
    const { a, b, g } = await offeringToA(node, 500);
    const c1 = call(g.id, 1);
    await node.engine.enqueue(c1);
    const first = await ex.nextOfferOf(c1.callUuid);
    await node.engine.callPickedUp(c1.callUuid, b);
    await sleep(200);
    expect(await node.engine.agent(a)).toMatchObject({ state: 'reserved' });
    await stateBecomes(node, a, 'ready', 3000);
    expect(Date.now() - first.at).toBeGreaterThanOrEqual(500 + 300 - 20);
    expect(await node.engine.agent(a)).toMatchObject({ state: 'ready', misses: 0, callUuid: null });
  });

  it('picked up on another node: the owner node frees A when its originate settled', async () => {
    const ex1 = new SlowOriginateExecutor();
    const ex2 = new SlowOriginateExecutor();
    const n1 = await startNode(prefix, 'node-a', {}, ex1);
    const n2 = await startNode(prefix, 'node-b', {}, ex2);
    nodes = [n1, n2];
    const { a, b, g } = await offeringToA(n1);
    const c1 = call(g.id, 1);
    const c2 = call(g.id, 2);
    await n1.engine.enqueue(c1);
    const first = await ex1.nextOfferOf(c1.callUuid);
    await n2.engine.enqueue(c2);
    expect(await n2.engine.callPickedUp(c1.callUuid, b)).toBe('ok');
    for (let i = 0; i < 100 && !first.req.signal.aborted; i++) await sleep(5);
    expect(first.req.signal.aborted).toBe(true);
    await sleep(300);
    expect(await n2.engine.agent(a)).toMatchObject({ state: 'reserved' });
    expect(ex2.offers).toHaveLength(0);
    ex1.settle(c1.callUuid, { outcome: 'caller_gone' });
    const second = await ex2.nextOfferOf(c2.callUuid);
    expect(second.req.agent.agentId).toBe(a);
    expect(await n2.engine.agent(a)).toMatchObject({ misses: 0 });
  });
});
