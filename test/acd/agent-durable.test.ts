// Agent states survive Redis losing its data (real Redis and PostgreSQL, fake offer executor):
// - every transition and sign-in endpoint lands in agent_current_state, batched with the state log;
// - a CTI restarted together with the Redis loss puts its agents back from PostgreSQL (state, reason, endpoint,
//   auto-answer), and the next offer carries them;
// - a node rebuilding for an agent who signed in on ANOTHER node keeps that agent's auto-answer;
// - an agent restored reserved for a call of a dead node is freed (ready, no miss): after a grace, or at takeover.
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { pino } from 'pino';
import { startNode, dropPrefix, newPrefix, group, members, ids, call, sleep, type TestNode } from './helpers.js';
import { testDb, freshTenant } from './db.js';
import { createAgentStateLogWriter, loadSignedInAgents, type AgentStateRecord } from '../../src/agents/state-log.js';
import { agentCurrentState } from '../../src/db/schema/index.js';
import type { AcdEngineOptions } from '../../src/acd/engine.js';
import type { BatchedWriter } from '../../src/acd/batched-writer.js';

const { pool, db } = testDb();
let tenant: string;
let prefix: string;
let writer: BatchedWriter<AgentStateRecord>;
const nodes: TestNode[] = [];

beforeAll(async () => {
  tenant = await freshTenant(pool);
});
afterAll(async () => {
  await pool.end();
});
beforeEach(() => {
  prefix = newPrefix();
  writer = createAgentStateLogWriter(db);
});
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.close();
  await writer.close();
  await dropPrefix(prefix);
});

/** a node wired as startAcd wires it: one writer for the log and the current states, the rebuild reads them back */
async function node(nodeId: string, extra: Partial<AcdEngineOptions> = {}): Promise<TestNode> {
  const n = await startNode(prefix, nodeId, {
    // no periodic check: the tests decide when the loss is noticed
    routingCheckMs: 0,
    stateLog: { push: (r) => writer.push(r) },
    currentState: { push: (u) => writer.push({ kind: 'current', ...u }) },
    loadCurrentStates: () => loadSignedInAgents(db, prefix),
    ...extra,
  });
  nodes.push(n);
  return n;
}

async function stored(agentId: string) {
  const [row] = await db.select().from(agentCurrentState).where(eq(agentCurrentState.agentId, agentId));
  return row;
}

async function until<T>(f: () => Promise<T>, ok: (v: T) => boolean, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (ok(v) || Date.now() > end) return v;
    await sleep(50);
  }
}

it('keeps every agent’s current state, reason and endpoint in PostgreSQL, batched with the state log', async () => {
  const n1 = await node('n1');
  const [a, b] = ids(2) as [string, string];
  await n1.engine.login(a, tenant, { type: 'sip', address: '1001', autoAnswer: true });
  await n1.engine.setReady(a);
  await n1.engine.login(b, tenant, { type: 'mobile', address: '13900001111', gateway: 'carrier', confirmKey: '1' });
  await n1.engine.setNotReady(b, '就餐');
  await writer.flush();
  expect(await stored(a)).toMatchObject({ redisPrefix: prefix, tenantId: tenant, state: 'ready', endpointType: 'sip', endpointAddress: '1001', autoAnswer: true });
  expect(await stored(b)).toMatchObject({ state: 'not_ready', reason: '就餐', endpointType: 'mobile', endpointAddress: '13900001111', gateway: 'carrier', confirmKey: '1', autoAnswer: false });

  // a new phone chosen while signed in changes the endpoint, not the state or its start
  const since = (await stored(b))!.since.getTime();
  await n1.engine.login(b, tenant, { type: 'sip', address: '1002', autoAnswer: true });
  await n1.engine.logout(a);
  await writer.flush();
  expect(await stored(b)).toMatchObject({ state: 'not_ready', reason: '就餐', endpointType: 'sip', endpointAddress: '1002', autoAnswer: true });
  expect((await stored(b))!.since.getTime()).toBe(since);
  expect(await stored(a)).toMatchObject({ state: 'logged_out' });
  expect((await loadSignedInAgents(db, prefix)).map((r) => r.agentId)).toEqual([b]);
});

it('a CTI restarted together with a Redis data loss puts its agents back from PostgreSQL', async () => {
  const [a, b] = ids(2) as [string, string];
  const g = group({ tenantId: tenant, members: members([a, b]) });
  const logged: { level: number; msg: string; agents?: number }[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void logged.push(JSON.parse(line)) });
  let n1 = await node('n1', { log });
  // a first start on an empty Redis, nothing to put back: said, not warned about
  expect(logged.filter((l) => l.level >= 40)).toEqual([]);
  expect(logged.map((l) => l.msg)).toContain('routing state loaded');
  await n1.engine.applyGroup(g);
  await n1.engine.login(a, tenant, { type: 'sip', address: '1001', autoAnswer: true });
  await n1.engine.setReady(a);
  await n1.engine.login(b, tenant, { type: 'mobile', address: '13900001111', gateway: 'carrier', confirmKey: '1' });
  await n1.engine.setNotReady(b, '培训');
  await writer.flush();

  // the CTI stops, Redis restarts without persistence, the CTI starts again: nothing in Redis, nothing in memory
  await n1.close();
  nodes.length = 0;
  await dropPrefix(prefix);
  const t0 = Date.now();
  logged.length = 0;
  n1 = await node('n1', { loadGroups: async () => [g], log });
  const startMs = Date.now() - t0;
  // agents had to be put back: that is worth a warning
  expect(logged.find((l) => l.level === 40 && l.msg === 'routing state rebuilt')).toMatchObject({ agents: 2 });
  console.log(`restart + rebuild from PostgreSQL: ${startMs} ms`);

  expect(await n1.engine.agent(a)).toMatchObject({ state: 'ready', endpoint: { type: 'sip', address: '1001' } });
  expect(await n1.redis.hget(`${prefix}:agt:${a}`, 'aa')).toBe('1');
  expect(await n1.engine.agent(b)).toMatchObject({ state: 'not_ready', reason: '培训', endpoint: { type: 'mobile', address: '13900001111', gateway: 'carrier', confirmKey: '1' } });
  const c = call(g.id, 1, { tenantId: tenant });
  await n1.engine.enqueue(c);
  const req = await n1.executor.nextOffer();
  expect(req.agent).toEqual({ agentId: a, endpoint: { type: 'sip', address: '1001', autoAnswer: true } });
});

it('a node rebuilding for an agent who signed in on another node keeps the agent’s auto-answer', async () => {
  const [a] = ids(1) as [string];
  const g = group({ tenantId: tenant, members: members([a]) });
  const n1 = await node('n1', { loadGroups: async () => [g] });
  const n2 = await node('n2', { loadGroups: async () => [g] });
  await n1.engine.applyGroup(g);
  await n2.engine.login(a, tenant, { type: 'sip', address: '1001', autoAnswer: true });
  await n2.engine.setReady(a);
  await until(() => n1.engine.agent(a), (s) => s?.state === 'ready');
  await writer.flush();

  await dropPrefix(prefix);
  // n1 notices first: it never saw the sign-in's endpoint
  expect(await n1.engine.checkRoutingState()).toMatchObject({ agents: 1 });
  expect(await n1.redis.hget(`${prefix}:agt:${a}`, 'aa')).toBe('1');
  await n1.engine.enqueue(call(g.id, 2, { tenantId: tenant }));
  const req = await n1.executor.nextOffer();
  expect(req.agent).toEqual({ agentId: a, endpoint: { type: 'sip', address: '1001', autoAnswer: true } });
});

/** n2 rings agent a for its caller, then n2 dies (its offer never ends) and Redis loses its data. */
async function reservedByDeadNode(extra: Partial<AcdEngineOptions>) {
  const [a, b] = ids(2) as [string, string];
  const g = group({ tenantId: tenant, members: members([a, b]) });
  const n1 = await node('n1', { loadGroups: async () => [g], ...extra });
  const n2 = await node('n2', { loadGroups: async () => [g] });
  await n1.engine.applyGroup(g);
  await n1.engine.login(a, tenant, { type: 'sip', address: '1001' });
  await n1.engine.setReady(a);
  const c = call(g.id, 3, { tenantId: tenant });
  await n2.engine.enqueue(c);
  const offer = await n2.executor.nextOffer();
  expect(offer.agent.agentId).toBe(a);
  await until(() => n1.engine.agent(a), (s) => s?.state === 'reserved');
  await writer.flush();
  expect(await stored(a)).toMatchObject({ state: 'reserved', callUuid: c.callUuid, ownerNode: 'n2' });
  await n2.close();
  nodes.splice(nodes.indexOf(n2), 1);
  await dropPrefix(prefix);
  return { a, b, g, n1, c };
}

it('an agent restored reserved for a dead node’s call goes ready (no miss) once the owner is not listening', async () => {
  const { a, g, n1 } = await reservedByDeadNode({ deadOwnerGraceMs: 300 });
  await n1.engine.checkRoutingState();
  // restored as it was: the owner might still be rebuilding and put its call back
  expect((await n1.engine.agent(a))?.state).toBe('reserved');
  const t0 = Date.now();
  const snap = await until(() => n1.engine.agent(a), (s) => s?.state === 'ready');
  console.log(`reservation of a dead owner freed ${Date.now() - t0} ms after the rebuild (grace 300 ms)`);
  expect(snap).toMatchObject({ state: 'ready', misses: 0 });
  // and routable again
  await n1.engine.enqueue(call(g.id, 4, { tenantId: tenant }));
  expect((await n1.executor.nextOffer()).agent.agentId).toBe(a);
});

it('an agent restored reserved for a dead node’s call is freed at once when that node is taken over', async () => {
  const { a, n1 } = await reservedByDeadNode({ deadOwnerGraceMs: 60_000 });
  await n1.engine.checkRoutingState();
  expect((await n1.engine.agent(a))?.state).toBe('reserved');
  await n1.engine.adoptNode('n2');
  expect(await n1.engine.agent(a)).toMatchObject({ state: 'ready', misses: 0 });
});

it('an owner that rebuilds without the offer (it ended meanwhile) frees the agent it had reserved and offers again', async () => {
  const [a] = ids(1) as [string];
  const g = group({ tenantId: tenant, members: members([a]) });
  const n1 = await node('n1', { loadGroups: async () => [g], deadOwnerGraceMs: 60_000 });
  const n2 = await node('n2', { loadGroups: async () => [g], deadOwnerGraceMs: 60_000 });
  await n1.engine.applyGroup(g);
  await n1.engine.login(a, tenant, { type: 'sip', address: '1001' });
  await n1.engine.setReady(a);
  const c = call(g.id, 5, { tenantId: tenant });
  await n2.engine.enqueue(c);
  await n2.executor.nextOffer();
  await until(() => n1.engine.agent(a), (s) => s?.state === 'reserved');
  await dropPrefix(prefix);
  // the agent's phone stops ringing while Redis is empty: n2's offer is over, its caller still waits
  n2.executor.settle(c.callUuid, { outcome: 'no_answer' });
  await sleep(100);
  await n1.engine.checkRoutingState();
  expect((await n1.engine.agent(a))?.state).toBe('reserved');
  const again = n2.executor.nextOffer((r) => r.callUuid === c.callUuid && n2.executor.offers.length === 2);
  expect(await n2.engine.checkRoutingState()).toMatchObject({ offering: 0, waiting: 1, reservationsFreed: 1 });
  // freed without a miss, and at once offered the caller who kept waiting
  expect((await again).agent.agentId).toBe(a);
  expect(await n1.engine.agent(a)).toMatchObject({ state: 'reserved', callUuid: c.callUuid, misses: 0 });
});
