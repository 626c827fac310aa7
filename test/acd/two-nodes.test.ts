import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startNode, dropPrefix, newPrefix, group, members, ids, call, sleep, FakeExecutor, TENANT, type TestNode } from './helpers.js';
import type { CallOutcome, OfferRequest, OfferResult } from '../../src/acd/types.js';

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

const rnd = (a: number, b: number) => a + Math.floor(Math.random() * (b - a + 1));

describe('two CTI nodes on one Redis', () => {
  it('500 calls, 50 agents, random timings: no double offer, no lost call', async () => {
    const violations: string[] = [];
    const busyAgents = new Set<string>();
    const offeredCalls = new Set<string>();
    const answered = new Map<string, string>();
    const owner = new Map<string, TestNode>();

    const makeExecutor = () => {
      const ex = new FakeExecutor();
      ex.auto = (req: OfferRequest) => {
        const agents = [req.agent, ...req.alsoRing].map((a) => a.agentId);
        for (const a of agents) {
          if (busyAgents.has(a)) violations.push(`agent ${a} offered while busy`);
          busyAgents.add(a);
        }
        if (offeredCalls.has(req.callUuid)) violations.push(`call ${req.callUuid} offered twice at once`);
        offeredCalls.add(req.callUuid);
        // the engine frees the agents as soon as it withdraws the offer (caller hung up)
        req.signal.addEventListener('abort', () => {
          offeredCalls.delete(req.callUuid);
          for (const a of agents) busyAgents.delete(a);
        });
        return (async (): Promise<OfferResult> => {
          await sleep(rnd(0, 8));
          const roll = Math.random();
          offeredCalls.delete(req.callUuid);
          if (req.signal.aborted) {
            for (const a of agents) busyAgents.delete(a);
            return { outcome: 'caller_gone' };
          }
          if (roll < 0.8) {
            const agentId = agents[0]!;
            if (answered.has(req.callUuid)) violations.push(`call ${req.callUuid} answered twice`);
            answered.set(req.callUuid, agentId);
            return { outcome: 'answered', agentId };
          }
          for (const a of agents) busyAgents.delete(a);
          if (roll < 0.9) return { outcome: 'no_answer' };
          if (roll < 0.97) return { outcome: 'rejected' };
          return { outcome: 'caller_gone' };
        })();
      };
      return ex;
    };
    const n1 = await startNode(prefix, 'node-a', { missesBeforeNotReady: 3 }, makeExecutor());
    const n2 = await startNode(prefix, 'node-b', { missesBeforeNotReady: 3 }, makeExecutor());
    nodes = [n1, n2];
    const pick = () => nodes[rnd(0, 1)]!;

    const agents = ids(50);
    const g1 = group({ strategy: 'longest_idle', members: members(agents.slice(0, 35)) });
    const g2 = group({ strategy: 'round_robin', members: members(agents.slice(20)) });
    await n1.engine.applyGroup(g1);
    await n2.engine.applyGroup(g2);

    // the talk → wrap-up → ready cycle, driven on either node
    for (const n of nodes) {
      n.engine.on('callOutcome', (o) => {
        // an answer that came back after the caller hung up (no abort reached the executor) is stale: the engine
        // hangs up the agent's leg and frees them without a call
        const staleAnswerBy = o.outcome === 'abandoned' ? answered.get(o.callUuid) : undefined;
        if (staleAnswerBy) {
          answered.delete(o.callUuid);
          busyAgents.delete(staleAnswerBy);
        }
        if (o.outcome !== 'answered') return;
        const agentId = o.agentId;
        setTimeout(() => {
          busyAgents.delete(agentId);
          void pick().engine.callEnded(agentId, o.callUuid, 20, rnd(0, 5));
        }, rnd(2, 25));
      });
    }
    for (const a of agents) {
      await pick().engine.login(a, TENANT, { type: 'sip', address: a.slice(0, 6) });
    }
    // agents turn ready at random times, some take breaks, 未接 agents come back
    const readyLoop = (async () => {
      const until = Date.now() + 4000;
      while (Date.now() < until) {
        const a = agents[rnd(0, agents.length - 1)]!;
        const s = await pick().engine.agent(a);
        if (s?.state === 'not_ready') await pick().engine.setReady(a);
        else if (s?.state === 'ready' && Math.random() < 0.05) await pick().engine.setNotReady(a, '小休');
        await sleep(rnd(0, 3));
      }
      for (const a of agents) await pick().engine.setReady(a);
    })();

    const outcomes: Promise<CallOutcome>[] = [];
    const calls = [];
    for (let i = 0; i < 500; i++) {
      const c = call(Math.random() < 0.6 ? g1.id : g2.id, i, { priority: rnd(0, 2) });
      calls.push(c);
      const n = pick();
      owner.set(c.callUuid, n);
      const res = await n.engine.enqueue(c);
      expect(res.status === 'offered' || res.status === 'queued').toBe(true);
      outcomes.push(n.engine.outcome(c.callUuid));
      if (Math.random() < 0.05) setTimeout(() => void n.engine.abandon(c.callUuid), rnd(0, 300));
      if (i % 10 === 0) await sleep(rnd(0, 6));
    }
    await readyLoop;
    const settled = await Promise.race([
      Promise.all(outcomes),
      sleep(20_000).then(() => null),
    ]);
    expect(violations).toEqual([]);
    expect(settled).not.toBeNull();
    const results = settled!;
    const byKind = { answered: 0, abandoned: 0, overflow: 0, left: 0 };
    for (const r of results) byKind[r.outcome]++;
    expect(byKind.answered + byKind.abandoned).toBe(500);
    expect(byKind.answered).toBe(answered.size);
    expect(byKind.answered).toBeGreaterThan(400);
    // nothing left waiting or reserved
    await sleep(100);
    for (const g of [g1, g2]) expect((await n1.engine.groupStats(g.id)).waiting).toBe(0);
    for (const a of agents) {
      const s = await n2.engine.agent(a);
      expect(['ready', 'not_ready', 'wrap_up', 'talking']).toContain(s?.state);
    }
  }, 40_000);

  it('an agent turning ready on node B is offered a caller parked on node A (pub/sub to the owner)', async () => {
    const n1 = await startNode(prefix, 'node-a');
    const n2 = await startNode(prefix, 'node-b');
    nodes = [n1, n2];
    const a = ids(1) as [string];
    const g = group({ members: members(a) });
    await n1.engine.applyGroup(g);
    const c = call(g.id, 1);
    await n1.engine.enqueue(c);
    const states: string[] = [];
    n1.engine.on('agentState', (e) => states.push(e.to));
    const seenOnB: string[] = [];
    n2.engine.on('offer', (o) => seenOnB.push(`${o.callUuid}:${o.agentIds.join()}:${o.screenPop.callerNumber}`));
    const queueOnB: string[] = [];
    n2.engine.on('queueChanged', (q) => queueOnB.push(q.groupId));
    await n2.engine.login(a[0], TENANT, { type: 'sip', address: '1001' });
    const offer = n1.executor.nextOffer();
    await n2.engine.setReady(a[0]);
    expect((await offer).callUuid).toBe(c.callUuid);
    expect(n2.executor.offers).toHaveLength(0);
    await sleep(150);
    expect(states).toContain('reserved');
    // node B's WebSocket layer gets the screen pop for its agent and the queue change
    expect(seenOnB).toEqual([`${c.callUuid}:${a[0]}:${c.callerNumber}`]);
    expect(queueOnB).toContain(g.id);
  });

  it('a match for a dead owner parks the call as an orphan; the owner re-adopts it with its place', async () => {
    const n1 = await startNode(prefix, 'node-a');
    const n2 = await startNode(prefix, 'node-b');
    nodes = [n1, n2];
    const a = ids(2) as [string, string];
    const g = group({ members: members(a) });
    await n1.engine.applyGroup(g);
    const c = call(g.id, 1);
    await n1.engine.enqueue(c);
    await n1.close();
    nodes = [n2];
    await n2.engine.login(a[0], TENANT, { type: 'sip', address: '1001' });
    await n2.engine.setReady(a[0]);
    await sleep(50);
    // the agent is free again, not stuck reserved for a call nobody can bridge
    expect((await n2.engine.agent(a[0]))?.state).toBe('ready');
    const back = await startNode(prefix, 'node-a');
    nodes.push(back);
    expect((await back.executor.nextOffer()).callUuid).toBe(c.callUuid);
  });

  it('another node takes over the callers of a node that is gone for good, positions kept', async () => {
    const n1 = await startNode(prefix, 'node-a');
    const n2 = await startNode(prefix, 'node-b');
    nodes = [n1, n2];
    const g = group({ members: [] });
    await n1.engine.applyGroup(g);
    const cs = [call(g.id, 1), call(g.id, 2), call(g.id, 3)];
    for (const c of cs) {
      await n1.engine.enqueue(c);
      await sleep(2); // arrival order has 1 ms resolution
    }
    await n1.close();
    nodes = [n2];
    const adopted = await n2.engine.adoptNode('node-a');
    expect(adopted.map((x) => x.callUuid).sort()).toEqual(cs.map((c) => c.callUuid).sort());
    const a = ids(1) as [string];
    await n2.engine.applyGroup({ ...g, members: members(a) });
    await n2.engine.login(a[0], TENANT, { type: 'sip', address: '1001' });
    const offer = n2.executor.nextOffer();
    await n2.engine.setReady(a[0]);
    expect((await offer).callUuid).toBe(cs[0]!.callUuid);
    expect((await n2.engine.position(cs[2]!.callUuid))?.position).toBe(2);
  });

  it('a wrap-up ends on time even when the node that started it dies', async () => {
    const n1 = await startNode(prefix, 'node-a');
    const n2 = await startNode(prefix, 'node-b');
    nodes = [n1, n2];
    const a = ids(1) as [string];
    const g = group({ members: members(a), wrapUpMs: 150 });
    await n1.engine.applyGroup(g);
    await n1.engine.login(a[0], TENANT, { type: 'sip', address: '1001' });
    await n1.engine.setReady(a[0]);
    const c = call(g.id, 1);
    await n1.engine.enqueue(c);
    const req = await n1.executor.nextOffer();
    n1.executor.settle(req.callUuid, { outcome: 'answered', agentId: a[0] });
    await n1.engine.outcome(c.callUuid);
    await n1.engine.callEnded(a[0], c.callUuid, 100);
    await sleep(20);
    await n1.close();
    nodes = [n2];
    await sleep(160);
    expect((await n2.engine.agent(a[0]))?.state).toBe('ready');
  });

  it('a caller hanging up seen on another node stops the ringing on the owner node', async () => {
    const n1 = await startNode(prefix, 'node-a');
    const n2 = await startNode(prefix, 'node-b');
    nodes = [n1, n2];
    const a = ids(1) as [string];
    const g = group({ members: members(a) });
    await n1.engine.applyGroup(g);
    await n1.engine.login(a[0], TENANT, { type: 'sip', address: '1001' });
    await n1.engine.setReady(a[0]);
    const c = call(g.id, 1);
    const outcome = n1.engine.outcome(c.callUuid);
    await n1.engine.enqueue(c);
    const req = await n1.executor.nextOffer();
    await n2.engine.abandon(c.callUuid);
    for (let i = 0; i < 50 && !req.signal.aborted; i++) await sleep(5);
    expect(req.signal.aborted).toBe(true);
    // the agent is freed once the owner's executor settled the withdrawn offer (abandon-during-offer.test.ts)
    for (let i = 0; i < 100 && (await n2.engine.agent(a[0]))?.state !== 'ready'; i++) await sleep(10);
    expect((await n2.engine.agent(a[0]))?.state).toBe('ready');
    // and the owner's queue task learns the caller is gone
    expect(await outcome).toMatchObject({ outcome: 'abandoned' });
  });
});
