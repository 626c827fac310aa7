// Consult (attended transfer) and three-way targets that are agents are reserved in the ACD like a blind transfer's
// target (real composition, emulated switch): while consulted, the ACD offers them no queue call; they show ringing
// then talking; a cancelled consultation frees them (ready, and then the waiting caller reaches them); a three-way
// member who hangs up ends their call in the ACD (wrap-up) instead of staying talking with no call.
import { beforeAll, expect, it } from 'vitest';
import { until, sleep, agentReady } from '../e2e/cti-fixture.js';
import { useComposedCti, queueCaller, type Composed } from './composition.js';

const composed = useComposedCti(2);
let e: Composed['e'];
let cti: Composed['cti'];
beforeAll(() => {
  ({ e, cti } = composed);
});

const offersTo = async (callUuid: string) =>
  (await cti.ctx.pool.query<{ agent_id: string }>(`select agent_id from queue_events where call_uuid = $1 and type = 'offer'`, [callUuid])).rows.map((r) => r.agent_id);
const stateOf = async (agentId: string) => (await cti.acd.engine.agent(agentId))?.state;

/** A (answers at once) talks to a queued caller; B is ready with a phone that rings until answer(). */
async function aTalksBReady(callerNumber: string) {
  const emu = cti.emulator!;
  const [a, b] = e.agents as [(typeof e.agents)[0], (typeof e.agents)[1]];
  const aSession = await agentReady(cti.app, a);
  emu.world.phone(a.extension!).set({ kind: 'answer', afterMs: 100 });
  const phoneB = emu.world.phone(b.extension!).set({ kind: 'manual' });
  const caller1 = await queueCaller(cti, callerNumber);
  await until(async () => (await stateOf(a.id)) === 'talking', 10_000, 'A talking');
  const bSession = await agentReady(cti.app, b);
  return { a, b, aSession, bSession, phoneB, caller1 };
}

/** The next test starts from signed-out agents: wrap-up ended, signed out. */
async function bothSignOut(agents: { id: string }[], sessions: { bearer: Record<string, string> }[]) {
  for (const ag of agents) {
    await until(async () => ['wrap_up', 'ready'].includes((await stateOf(ag.id)) ?? ''), 5000, 'agents free');
    await cti.acd.engine.endWrapUp(ag.id);
  }
  for (const s of sessions) await cti.app.inject({ method: 'POST', url: '/agents/me/sign-out', headers: s.bearer, payload: {} });
}

it('consulted agent: reserved → ringing → talking, no queue offer meanwhile; cancel frees them for the waiting caller', async () => {
  const { a, b, aSession, bSession, phoneB, caller1 } = await aTalksBReady('13800138401');

  const consult = cti.app.inject({ method: 'POST', url: '/calls/consult', headers: aSession.bearer, payload: { target: { kind: 'agent', agentId: b.id } } });
  await until(async () => (await stateOf(b.id)) === 'ringing', 5000, 'B ringing for the consultation');
  expect((await cti.acd.engine.agent(b.id))?.callUuid).toBe(caller1.uuid);
  // a caller arriving while B is consulted waits: A talks, B is reserved
  const caller2 = await queueCaller(cti, '13800138402');
  await until(async () => (await cti.acd.engine.position(caller2.uuid!)) !== null, 5000, 'caller 2 queued');
  phoneB.answer();
  expect((await consult).statusCode).toBe(200);
  expect(await stateOf(b.id)).toBe('talking');
  await sleep(300);
  expect(await offersTo(caller2.uuid!)).toEqual([]);
  expect(phoneB.calls).toHaveLength(1);

  // cancelled: B is free again, and the waiting caller is offered to B
  phoneB.set({ kind: 'answer', afterMs: 100 });
  const cancel = await cti.app.inject({ method: 'POST', url: '/calls/consult/cancel', headers: aSession.bearer, payload: {} });
  expect(cancel.statusCode).toBe(200);
  await until(async () => (await offersTo(caller2.uuid!)).includes(b.id), 10_000, 'caller 2 offered to B');
  await until(async () => (await cti.acd.engine.agent(b.id))?.callUuid === caller2.uuid && (await stateOf(b.id)) === 'talking', 10_000, 'B talks to caller 2');

  caller1.hangup();
  caller2.hangup();
  await bothSignOut([a, b], [aSession, bSession]);
});

it('three-way with an agent: reserved while ringing, talking in the conference, wrap-up when they hang up', async () => {
  const { a, b, aSession, bSession, phoneB, caller1 } = await aTalksBReady('13800138501');

  const threeWay = cti.app.inject({ method: 'POST', url: '/calls/three-way', headers: aSession.bearer, payload: { target: { kind: 'agent', agentId: b.id } } });
  await until(async () => (await stateOf(b.id)) === 'ringing', 5000, 'B ringing for the three-way');
  const caller2 = await queueCaller(cti, '13800138502');
  await until(async () => (await cti.acd.engine.position(caller2.uuid!)) !== null, 5000, 'caller 2 queued');
  const bCall = phoneB.calls.find((c) => !c.ended)!;
  phoneB.answer();
  expect((await threeWay).statusCode).toBe(200);
  expect(await stateOf(b.id)).toBe('talking');
  await sleep(300);
  expect(await offersTo(caller2.uuid!)).toEqual([]);

  // B leaves the conference by hanging up: their call ends in the ACD (after-call work), not talking with no call
  caller2.hangup();
  bCall.hangup();
  await until(async () => (await stateOf(b.id)) === 'wrap_up', 5000, 'B in wrap-up').catch(async (err) => {
    throw new Error(`${String(err)}: B ${JSON.stringify(await cti.acd.engine.agent(b.id))}`);
  });
  expect(await stateOf(a.id)).toBe('talking');

  caller1.hangup();
  await bothSignOut([a, b], [aSession, bSession]);
});
