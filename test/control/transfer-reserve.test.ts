// Blind transfer to an agent reserves that agent in the ACD (real composition, emulated switch): while B's phone
// rings for the transfer, a caller arriving in B's queue is not offered to B; B goes reserved → ringing → talking
// (state log), and is offered the waiting caller only after the transferred call ends. A race between B turning
// ready with a caller waiting and a transfer to B gives B exactly one call.
import { beforeAll, expect, it } from 'vitest';
import { login } from '../http/fixture.js';
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

it('B is reserved for the transfer: a caller arriving meanwhile waits, B rings then talks, then gets the waiting caller', async () => {
  const emu = cti.emulator!;
  const [a, b] = e.agents as [(typeof e.agents)[0], (typeof e.agents)[1]];
  const aSession = await agentReady(cti.app, a);
  emu.world.phone(a.extension!).set({ kind: 'answer', afterMs: 100 });
  const phoneB = emu.world.phone(b.extension!).set({ kind: 'manual' });
  const caller1 = await queueCaller(cti, '13800138201');
  await until(async () => (await cti.acd.engine.agent(a.id))?.state === 'talking', 10_000, 'A talking');
  await agentReady(cti.app, b);

  const transfer = cti.app.inject({ method: 'POST', url: '/calls/transfer', headers: aSession.bearer, payload: { target: { kind: 'agent', agentId: b.id } } });
  await until(async () => (await cti.acd.engine.agent(b.id))?.state === 'ringing', 5000, 'B ringing for the transfer');
  expect((await cti.acd.engine.agent(b.id))?.callUuid).toBe(caller1.uuid);
  const originate = emu.emulator.commands.map((c) => c.line).find((l) => l.includes('originate') && l.includes(`hotline_call=${caller1.uuid}`));
  expect(originate).toContain(`hotline_agent=${b.id}`);

  // a caller arrives while B's phone rings: B is not free, the caller waits (A is talking, B reserved)
  const caller2 = await queueCaller(cti, '13800138202');
  await until(async () => (await cti.acd.engine.position(caller2.uuid!)) !== null, 5000, 'caller 2 queued');
  await sleep(300);
  expect(await offersTo(caller2.uuid!)).toEqual([]);
  expect(phoneB.calls.filter((c) => !c.ended)).toHaveLength(1);

  phoneB.answer();
  const res = await transfer;
  expect(res.statusCode).toBe(200);
  expect(await cti.acd.engine.agent(b.id)).toMatchObject({ state: 'talking', callUuid: caller1.uuid });
  await until(() => emu.emulator.channel(caller1.uuid!)?.partner === phoneB.calls[0]!.uuid, 5000, 'caller 1 bridged to B');
  expect(await offersTo(caller2.uuid!)).toEqual([]);

  // B's transfer period is in the state log: ready → reserved → ringing → talking
  await until(async () => {
    const r = await cti.ctx.pool.query<{ state: string }>(`select state from agent_state_log where agent_id = $1 order by started_at`, [b.id]);
    const states = r.rows.map((x) => x.state);
    return states.includes('reserved') && states.includes('ringing');
  }, 5000, 'B state log');

  // the transferred call ends: B (after wrap-up, if any) gets the waiting caller
  phoneB.set({ kind: 'answer', afterMs: 100 });
  caller1.hangup();
  // A's 10 s wrap-up began when B answered, B's begins now: the 10 s left no margin under load
  await until(async () => (await offersTo(caller2.uuid!)).includes(b.id) || (await offersTo(caller2.uuid!)).includes(a.id), 25_000, 'caller 2 offered');
  await until(async () => [(await cti.acd.engine.agent(a.id))?.callUuid, (await cti.acd.engine.agent(b.id))?.callUuid].includes(caller2.uuid!) && Boolean(emu.emulator.channel(caller2.uuid!)?.partner), 10_000, 'caller 2 answered');
  caller2.hangup();
  for (const ag of [a, b]) {
    await until(async () => !['talking', 'reserved', 'ringing'].includes((await cti.acd.engine.agent(ag.id))?.state ?? ''), 5000, 'agents free').catch(async (err) => {
      throw new Error(`${String(err)} ${ag === a ? 'A' : 'B'} ${JSON.stringify(await cti.acd.engine.agent(ag.id))} c1=${caller1.uuid} c2=${caller2.uuid} ${JSON.stringify(emu.world.phone(ag.extension!).calls.map((c) => [c.uuid, c.ended, c.endCause]))}`);
    });
  }
  // the next test starts from ready agents: no after-call work
  for (const ag of [a, b]) await cti.acd.engine.endWrapUp(ag.id);
  await cti.app.inject({ method: 'POST', url: '/agents/me/sign-out', headers: aSession.bearer, payload: {} });
  const bSession = await login(cti.app, b.loginId, b.password);
  await cti.app.inject({ method: 'POST', url: '/agents/me/sign-out', headers: bSession.bearer, payload: {} });
}, 60_000);

/**
 * What a failed test before may have left behind: live calls (a caller still queued would take B's ready), agents
 * busy or in wrap-up, signed-in sessions. Each test starts from no calls and both agents signed out.
 */
async function cleanSlate(): Promise<void> {
  const emu = cti.emulator!;
  await emu.emulator.command('hupall NORMAL_CLEARING');
  await until(() => emu.emulator.channels().length === 0, 10_000, 'no calls left');
  for (const ag of e.agents.slice(0, 2)) {
    await until(async () => !['talking', 'reserved', 'ringing'].includes((await cti.acd.engine.agent(ag.id))?.state ?? ''), 10_000, 'agent free');
    if ((await cti.acd.engine.agent(ag.id))?.state === 'wrap_up') await cti.acd.engine.endWrapUp(ag.id);
    const session = await login(cti.app, ag.loginId, ag.password);
    await cti.app.inject({ method: 'POST', url: '/agents/me/sign-out', headers: session.bearer, payload: {} });
    await until(async () => ['logged_out', undefined].includes((await cti.acd.engine.agent(ag.id))?.state), 5000, 'agent signed out');
  }
}

it('race: B turns ready with a caller waiting while a transfer to B starts — B gets exactly one of the two', async () => {
  await cleanSlate();
  const emu = cti.emulator!;
  const [a, b] = e.agents as [(typeof e.agents)[0], (typeof e.agents)[1]];
  const aSession = await agentReady(cti.app, a);
  emu.world.phone(a.extension!).set({ kind: 'answer', afterMs: 100 });
  const phoneB = emu.world.phone(b.extension!).set({ kind: 'manual' });
  const caller1 = await queueCaller(cti, '13800138301');
  await until(async () => (await cti.acd.engine.agent(a.id))?.state === 'talking', 10_000, 'A talking');
  const caller2 = await queueCaller(cti, '13800138302');
  await until(async () => (await cti.acd.engine.position(caller2.uuid!)) !== null, 5000, 'caller 2 queued');

  const bSession = await login(cti.app, b.loginId, b.password);
  expect((await cti.app.inject({ method: 'POST', url: '/agents/me/sign-in', headers: bSession.bearer, payload: {} })).statusCode).toBe(200);
  // at once: B ready (the ACD offers caller 2 to B) and A transfers caller 1 to B
  const readyP = cti.app.inject({ method: 'POST', url: '/agents/me/ready', headers: bSession.bearer, payload: {} });
  const transferP = cti.app.inject({ method: 'POST', url: '/calls/transfer', headers: aSession.bearer, payload: { target: { kind: 'agent', agentId: b.id } } });
  expect((await readyP).statusCode).toBe(200);
  await until(() => phoneB.calls.some((c) => !c.ended), 5000, 'B phone rings');
  await sleep(500);
  expect(phoneB.calls.filter((c) => !c.ended)).toHaveLength(1);
  const snap = await cti.acd.engine.agent(b.id);
  if (snap?.callUuid === caller1.uuid) {
    // the transfer won: caller 2 still waits
    phoneB.answer();
    expect((await transferP).statusCode).toBe(200);
    expect(await offersTo(caller2.uuid!)).toEqual([]);
  } else {
    // the ACD won: the transfer is refused, B rings for caller 2 only
    const transfer = await transferP;
    expect(transfer.statusCode).toBe(409);
    expect(transfer.json()).toMatchObject({ code: 'agent_unavailable' });
    expect(snap?.callUuid).toBe(caller2.uuid);
    expect(await offersTo(caller2.uuid!)).toEqual([b.id]);
  }
  caller1.hangup();
  caller2.hangup();
});
