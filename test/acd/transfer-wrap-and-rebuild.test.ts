// Two routing details the ACD must keep (real Redis, fake offer executor):
// - an agent who receives an ACD call by blind transfer gets the call's group wrap-up when it ends, although the
//   call's routing record went when the transferring agent left;
// - rebuilding routing after Redis lost its data keeps each agent's auto-answer choice (their offers still carry it).
import { afterEach, beforeEach, expect, it } from 'vitest';
import { startNode, dropPrefix, newPrefix, group, members, ids, call, sleep, TENANT, type TestNode } from './helpers.js';

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

/** A talks on an ACD call of a group with 60 s wrap-up; B, ready, is not a member (only a transfer brings them the call). */
async function acdCallWithReadyColleague(n: number) {
  const [a, b] = ids(2) as [string, string];
  const g = group({ members: members([a]), wrapUpMs: 60_000 });
  await node.engine.applyGroup(g);
  for (const [agent, ext] of [[a, '1001'], [b, '1002']] as const) {
    await node.engine.login(agent, TENANT, { type: 'sip', address: ext });
    await node.engine.setReady(agent);
  }
  const c = call(g.id, n);
  await node.engine.enqueue(c);
  const req = await node.executor.nextOffer();
  node.executor.settle(req.callUuid, { outcome: 'answered', agentId: a });
  await node.engine.outcome(c.callUuid);
  return { a, b, c };
}

it('blind transfer of an ACD call: the target agent gets the group wrap-up when the call ends', async () => {
  const { a, b, c } = await acdCallWithReadyColleague(1);

  // call control's order: reserve B, B answers, A leaves (wrap-up), later B's call ends
  expect(await node.engine.transferAgent(b, c.callUuid, 'reserve')).toBe('ok');
  expect(await node.engine.transferAgent(b, c.callUuid, 'answered')).toBe('ok');
  await node.engine.callEnded(a, c.callUuid, 1000);
  expect((await node.engine.agent(a))?.state).toBe('wrap_up');
  const before = Date.now();
  await node.engine.callEnded(b, c.callUuid, 2000);
  const snap = await node.engine.agent(b);
  expect(snap?.state).toBe('wrap_up');
  const wrapUntil = Number(await node.redis.hget(`${prefix}:agt:${b}`, 'wu'));
  expect(wrapUntil - before).toBeGreaterThan(59_000);
  expect(wrapUntil - before).toBeLessThanOrEqual(60_500);
  // the group is not kept for B's next, unrelated call
  expect(await node.redis.hget(`${prefix}:agt:${b}`, 'cg')).toBeNull();
});

it('a failed transfer frees the target without leaving the group behind', async () => {
  const { b, c } = await acdCallWithReadyColleague(2);
  expect(await node.engine.transferAgent(b, c.callUuid, 'reserve')).toBe('ok');
  expect(await node.engine.transferAgent(b, c.callUuid, 'failed')).toBe('ok');
  expect((await node.engine.agent(b))?.state).toBe('ready');
  expect(await node.redis.hget(`${prefix}:agt:${b}`, 'cg')).toBeNull();
});

it('routing rebuilt after Redis lost its data keeps the agent auto-answer', async () => {
  // no periodic check: a rebuild starting while dropPrefix is still scanning would be half deleted again
  await node.close();
  node = await startNode(prefix, 'n1', { routingCheckMs: 0 });
  const [a] = ids(1) as [string];
  const g = group({ members: members([a]) });
  await node.engine.applyGroup(g);
  await node.engine.login(a, TENANT, { type: 'sip', address: '1001', autoAnswer: true });
  await node.engine.setReady(a);
  expect(await node.redis.hget(`${prefix}:agt:${a}`, 'aa')).toBe('1');

  // Redis restarted without persistence: every routing key is gone
  await dropPrefix(prefix);
  expect(await node.engine.checkRoutingState()).not.toBeNull();
  for (let i = 0; i < 100 && !(await node.redis.hget(`${prefix}:agt:${a}`, 'st')); i++) await sleep(100);
  expect(await node.redis.hget(`${prefix}:agt:${a}`, 'st')).toBe('ready');
  expect(await node.redis.hget(`${prefix}:agt:${a}`, 'aa')).toBe('1');

  const c = call(g.id, 3);
  await node.engine.enqueue(c);
  const req = await node.executor.nextOffer();
  expect(req.agent).toMatchObject({ agentId: a, endpoint: { type: 'sip', address: '1001', autoAnswer: true } });
});
