// A caller hanging up (or a colleague picking the call up, 代答) while the originate to their agent is still inside
// the switch (the agent leg not created yet, so uuid_kill finds nothing): the agent stays reserved until that
// originate really ended, so the next caller cannot ring the same phone while the first originate is pending (the
// SIPp load run's 76 double offers).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EslOfferExecutor, WITHDRAWN_KILL_RETRY_MS, type BgapiNode } from '../../src/acd/esl-offer-executor.js';
import type { AcdEngineOptions } from '../../src/acd/engine.js';
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

async function oneAgentGroup(node: TestNode, noAnswerTimeoutMs = 15_000) {
  const [agentId] = ids(1) as [string];
  const g = group({ members: members([agentId]), noAnswerTimeoutMs });
  await node.engine.applyGroup(g);
  await node.engine.login(agentId, TENANT, { type: 'sip', address: '1001' });
  await node.engine.setReady(agentId);
  return { agentId, g };
}

/** One node, a one-agent group: caller 1's originate to the agent is pending (slow executor), caller 2 waits. */
async function firstOfferPendingSecondQueued(opts: { engine?: Partial<AcdEngineOptions>; noAnswerTimeoutMs?: number } = {}) {
  const ex = new SlowOriginateExecutor();
  const node = await startNode(prefix, 'n1', opts.engine ?? {}, ex);
  nodes = [node];
  const { agentId, g } = await oneAgentGroup(node, opts.noAnswerTimeoutMs);
  const c1 = call(g.id, 1);
  const c2 = call(g.id, 2);
  await node.engine.enqueue(c1);
  const first = await ex.nextOfferOf(c1.callUuid);
  expect(await node.engine.enqueue(c2)).toEqual({ status: 'queued', position: 1 });
  return { ex, node, agentId, g, c1, c2, first };
}

/** node-a rings the one agent for caller 1 (its originate pending); caller 2 waits, owned by node-b */
async function twoNodesOfferingOnA() {
  const ex1 = new SlowOriginateExecutor();
  const ex2 = new SlowOriginateExecutor();
  const n1 = await startNode(prefix, 'node-a', {}, ex1);
  const n2 = await startNode(prefix, 'node-b', {}, ex2);
  nodes = [n1, n2];
  const { agentId, g } = await oneAgentGroup(n1);
  const c1 = call(g.id, 1);
  const c2 = call(g.id, 2);
  await n1.engine.enqueue(c1);
  const first = await ex1.nextOfferOf(c1.callUuid);
  await n2.engine.enqueue(c2);
  return { ex1, ex2, n1, n2, agentId, c1, c2, first };
}

describe('caller abandons while the originate to the agent is pending', () => {
  it('the agent is not offered the next caller until that originate settled, then is offered it', async () => {
    const { ex, node, agentId, c1, c2, first } = await firstOfferPendingSecondQueued();

    const abandoned = node.engine.outcome(c1.callUuid);
    await node.engine.abandon(c1.callUuid);
    expect(await abandoned).toMatchObject({ outcome: 'abandoned' });
    expect(first.req.signal.aborted).toBe(true); // the executor was told to kill the leg

    await sleep(400);
    expect(ex.offersTo(agentId)).toHaveLength(1);
    expect(await node.engine.agent(agentId)).toMatchObject({ state: 'reserved', misses: 0 });
    expect((await node.engine.position(c2.callUuid))?.position).toBe(1);

    // the originate ends (the switch reports the cancelled leg): only now is the agent free, and takes caller 2
    const settledAt = Date.now();
    ex.settle(c1.callUuid, { outcome: 'caller_gone' });
    const second = await ex.nextOfferOf(c2.callUuid);
    expect(second.at).toBeGreaterThanOrEqual(settledAt);
    expect(second.req.agent.agentId).toBe(agentId);
    expect(ex.offersTo(agentId).map((r) => r.callUuid)).toEqual([c1.callUuid, c2.callUuid]);
    expect(await node.engine.agent(agentId)).toMatchObject({ state: 'reserved', callUuid: c2.callUuid, misses: 0 });
  });

  it('a not-ready asked for while held applies when the originate ends; a leg that answered anyway is hung up', async () => {
    const { ex, node, agentId, c1 } = await firstOfferPendingSecondQueued();
    const released: string[] = [];
    ex.releaseLeg = async (_call: string, leg: string) => void released.push(leg);
    await node.engine.abandon(c1.callUuid);
    expect(await node.engine.setNotReady(agentId, '小休')).toBe('pending');
    ex.settle(c1.callUuid, { outcome: 'answered', agentId, legUuid: 'late-leg' });
    await stateBecomes(node, agentId, 'not_ready');
    expect(await node.engine.agent(agentId)).toMatchObject({ reason: '小休', callUuid: null });
    expect(released).toEqual(['late-leg']);
    await sleep(100);
    expect(ex.offersTo(agentId)).toHaveLength(1);
  });

  it('the offer guard timer frees the agent when the executor never settles', async () => {
    const { ex, node, agentId, c1, c2, first } = await firstOfferPendingSecondQueued({ engine: { offerGuardMs: 300 }, noAnswerTimeoutMs: 500 });
    await node.engine.abandon(c1.callUuid);
    await sleep(200);
    expect(await node.engine.agent(agentId)).toMatchObject({ state: 'reserved' });
    const second = await ex.nextOfferOf(c2.callUuid, 3000);
    expect(second.at - first.at).toBeGreaterThanOrEqual(500 + 300 - 20);
    expect(second.req.agent.agentId).toBe(agentId);
    expect(await node.engine.agent(agentId)).toMatchObject({ misses: 0 });
  });

  it('an abandon seen on another node: the owner node frees the agent when its originate settled', async () => {
    const { ex1, ex2, n1, n2, agentId, c1, c2, first } = await twoNodesOfferingOnA();
    await n2.engine.abandon(c1.callUuid);
    for (let i = 0; i < 100 && !first.req.signal.aborted; i++) await sleep(5);
    expect(first.req.signal.aborted).toBe(true);
    await sleep(300);
    expect(await n2.engine.agent(agentId)).toMatchObject({ state: 'reserved' });
    expect(ex2.offers).toHaveLength(0);
    ex1.settle(c1.callUuid, { outcome: 'caller_gone' });
    const second = await ex2.nextOfferOf(c2.callUuid);
    expect(second.req.agent.agentId).toBe(agentId);
    expect(ex1.offers).toHaveLength(1);
  });

  it('the owner node dying frees the agents it held (node takeover)', async () => {
    const { ex1, ex2, n1, n2, agentId, c1, c2 } = await twoNodesOfferingOnA();
    await n1.engine.abandon(c1.callUuid);
    await n1.close(); // the executor never settles: its node is gone
    nodes = [n2];
    await sleep(100);
    expect(await n2.engine.agent(agentId)).toMatchObject({ state: 'reserved', callUuid: c1.callUuid });
    expect(ex2.offers).toHaveLength(0);
    await n2.engine.adoptNode('node-a');
    const second = await ex2.nextOfferOf(c2.callUuid);
    expect(second.req.agent.agentId).toBe(agentId);
  });

  it('routing rebuilt after Redis lost it frees an agent held for a withdrawn offer', async () => {
    const ex = new SlowOriginateExecutor();
    const node = await startNode(prefix, 'n1', { routingCheckMs: 0 }, ex);
    nodes = [node];
    const { agentId, g } = await oneAgentGroup(node);
    const c1 = call(g.id, 1);
    await node.engine.enqueue(c1);
    await ex.nextOfferOf(c1.callUuid);
    await node.engine.abandon(c1.callUuid);
    await sleep(50);
    expect(await node.engine.agent(agentId)).toMatchObject({ state: 'reserved' });
    await dropPrefix(prefix);
    expect(await node.engine.checkRoutingState()).toMatchObject({ agents: 1 });
    expect(await node.engine.agent(agentId)).toMatchObject({ state: 'ready', callUuid: null });
  });
});

/** B: the colleague who picks up (signed in, not ready: the queue calls go to A) */
async function colleague(node: TestNode): Promise<string> {
  const [b] = ids(1) as [string];
  await node.engine.login(b, TENANT, { type: 'sip', address: '1002' });
  return b;
}

describe('代答 while the originate to the offered agent is pending', () => {
  it('A is held until its originate settled (no second offer meanwhile), then has no miss and is offered the next caller', async () => {
    const { ex, node, agentId: a, c1, c2, first } = await firstOfferPendingSecondQueued();
    const b = await colleague(node);

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

  it('with nobody else waiting A goes back to ready (no miss); the guard timer frees A if the originate never settles', async () => {
    const ex = new SlowOriginateExecutor();
    const node = await startNode(prefix, 'n1', { offerGuardMs: 300 }, ex);
    nodes = [node];
    const { agentId: a, g } = await oneAgentGroup(node, 500);
    const b = await colleague(node);
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
    const { ex1, ex2, n2, agentId: a, c1, c2, first } = await twoNodesOfferingOnA();
    const b = await colleague(n2);
    expect(await n2.engine.callPickedUp(c1.callUuid, b)).toBe('ok');
    for (let i = 0; i < 100 && !first.req.signal.aborted; i++) await sleep(5);
    expect(first.req.signal.aborted).toBe(true);
    await sleep(300);
    expect(await n2.engine.agent(a)).toMatchObject({ state: 'reserved', callUuid: c1.callUuid });
    expect(ex2.offers).toHaveLength(0);
    ex1.settle(c1.callUuid, { outcome: 'caller_gone' });
    const second = await ex2.nextOfferOf(c2.callUuid);
    expect(second.req.agent.agentId).toBe(a);
    expect(await n2.engine.agent(a)).toMatchObject({ misses: 0 });
  });
});

describe('ESL executor: withdrawn while the originate is still in the switch', () => {
  it('keeps killing the agent leg until the originate returns, and hangs up a leg that answered after the abort', async () => {
    const sent: string[] = [];
    let answer!: () => void;
    const node: BgapiNode = {
      async bgapi(cmd) {
        sent.push(cmd);
        if (cmd.startsWith('originate')) {
          const leg = /origination_uuid=([0-9a-f-]{36})/.exec(cmd)![1]!;
          return new Promise<string>((resolve) => (answer = () => resolve(`+OK ${leg}\n`)));
        }
        if (cmd.startsWith('uuid_kill')) return '-ERR No such channel!\n';
        return '+OK\n';
      },
    };
    const ex = new EslOfferExecutor({ nodeFor: () => node });
    const ac = new AbortController();
    const p = ex.offer({
      callUuid: '22222222-2222-2222-2222-222222222222', tenantId: 'demo', groupId: 'g', agent: { agentId: 'a1', endpoint: { type: 'sip', address: '1001' } },
      alsoRing: [], timeoutMs: 20_000, screenPop: { callerNumber: '13800000001' }, waitMs: 0, signal: ac.signal,
    });
    await new Promise((r) => setImmediate(r));
    const leg = /origination_uuid=([0-9a-f-]{36})/.exec(sent[0]!)![1]!;
    ac.abort();
    await sleep(WITHDRAWN_KILL_RETRY_MS * 2 + 100);
    const kills = sent.filter((c) => c === `uuid_kill ${leg} ORIGINATOR_CANCEL`).length;
    expect(kills).toBeGreaterThanOrEqual(3);
    answer();
    expect(await p).toEqual({ outcome: 'caller_gone' });
    expect(sent.filter((c) => c === `uuid_kill ${leg} ORIGINATOR_CANCEL`).length).toBe(kills + 1);
    expect(sent.some((c) => c.startsWith('uuid_bridge'))).toBe(false);
    const after = sent.length;
    await sleep(WITHDRAWN_KILL_RETRY_MS + 50);
    expect(sent.length).toBe(after); // no more kills once the originate returned
  });
});
