// 代答 of a call the ACD is offering, on the real composition and its emulated switch: agent A's phone rings for the
// offer, colleague B picks the caller up. The ACD withdraws A's offer (A's phone stops, A ready without a miss), B is
// talking in the routing state (no second offer to B), the queue events and the CDR say B answered.
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

it('B picks up the call ringing at A: the offer is withdrawn, A ready (no miss), B talking, answer logged for B', async () => {
  const emu = cti.emulator!;
  const [a, b] = e.agents as [(typeof e.agents)[0], (typeof e.agents)[1]];
  await agentReady(cti.app, a);
  const bSession = await login(cti.app, b.loginId, b.password);
  expect((await cti.app.inject({ method: 'POST', url: '/agents/me/sign-in', headers: bSession.bearer, payload: {} })).statusCode).toBe(200);
  const phoneA = emu.world.phone(a.extension!).set({ kind: 'manual' });
  emu.world.phone(b.extension!).set({ kind: 'answer', afterMs: 100 });

  const caller = await queueCaller(cti, '13800138111');
  await until(async () => (await cti.acd.engine.agent(a.id))?.state === 'ringing', 10_000, 'A ringing');
  const ringingAtA = phoneA.current()!;

  const res = await cti.app.inject({ method: 'POST', url: '/calls/pickup', headers: bSession.bearer, payload: { callUuid: caller.uuid } });
  expect(res.statusCode).toBe(200);
  const { legUuid } = res.json() as { legUuid: string };
  const lines = emu.emulator.commands.map((c) => c.line);
  expect(lines).toContainEqual(expect.stringContaining(`'&intercept(${caller.uuid})'`));
  // the withdrawn offer: A's ringing leg is cancelled by the ACD (or picked off by the switch)
  await until(() => ringingAtA.ended, 5000, 'A stops ringing');
  expect(['ORIGINATOR_CANCEL', 'PICKED_OFF']).toContain(ringingAtA.endCause);
  await until(() => emu.emulator.channel(caller.uuid!)?.partner === legUuid, 5000, 'caller bridged to B');

  await until(async () => (await cti.acd.engine.agent(a.id))?.state === 'ready', 5000, 'A ready again');
  const snapA = await cti.acd.engine.agent(a.id);
  expect(snapA).toMatchObject({ state: 'ready', misses: 0, callUuid: null });
  expect(await cti.acd.engine.agent(b.id)).toMatchObject({ state: 'talking', callUuid: caller.uuid });
  // the caller stays with B: the offer's late result (if any) must not re-bridge the caller to A
  await sleep(500);
  expect(emu.emulator.channel(caller.uuid!)?.partner).toBe(legUuid);
  expect(phoneA.calls.filter((c) => !c.ended)).toHaveLength(0);

  caller.hangup();
  await until(async () => (await cti.acd.engine.agent(b.id))?.state !== 'talking', 5000, 'B leaves talking');
  await until(async () => {
    const r = await cti.ctx.pool.query<{ agent_id: string | null }>('select agent_id from cdrs where call_uuid = $1', [caller.uuid]);
    return r.rows[0]?.agent_id === b.id;
  }, 5000, 'CDR answered by B');
  await until(async () => {
    const r = await cti.ctx.pool.query<{ type: string; agent_id: string | null; detail: Record<string, unknown> | null }>(
      'select type, agent_id, detail from queue_events where call_uuid = $1 order by at, id', [caller.uuid]);
    const answers = r.rows.filter((x) => x.type === 'answer');
    if (answers.length === 0) return false;
    expect(answers).toEqual([expect.objectContaining({ agent_id: b.id, detail: expect.objectContaining({ pickup: true }) })]);
    expect(r.rows.filter((x) => x.type === 'no_answer' || x.type === 'reject')).toEqual([]);
    expect(r.rows.filter((x) => x.type === 'offer').map((x) => x.agent_id)).toEqual([a.id]);
    return true;
  }, 5000, 'queue events');
});

it('代答 with another caller waiting: A is not offered that caller while its first leg still rings, then is, and is ready at the end', async () => {
  const emu = cti.emulator!;
  const [a, b] = e.agents as [(typeof e.agents)[0], (typeof e.agents)[1]];
  // B signed in (maybe in wrap-up from the test above), not ready: only A takes queue calls
  const bSession = await login(cti.app, b.loginId, b.password);
  if (((await cti.acd.engine.agent(b.id))?.state ?? 'logged_out') === 'logged_out') {
    expect((await cti.app.inject({ method: 'POST', url: '/agents/me/sign-in', headers: bSession.bearer, payload: {} })).statusCode).toBe(200);
  }
  await cti.acd.engine.endWrapUp(b.id).catch(() => undefined);
  await cti.acd.engine.setNotReady(b.id, '小休');
  await until(async () => (await cti.acd.engine.agent(b.id))?.state === 'not_ready', 5000, 'B not ready');
  if (((await cti.acd.engine.agent(a.id))?.state ?? 'logged_out') === 'logged_out') await agentReady(cti.app, a);
  else await cti.acd.engine.setReady(a.id);
  const phoneA = emu.world.phone(a.extension!).set({ kind: 'manual' });
  emu.world.phone(b.extension!).set({ kind: 'answer', afterMs: 100 });

  const caller1 = await queueCaller(cti, '13800138112');
  await until(async () => (await cti.acd.engine.agent(a.id))?.callUuid === caller1.uuid && phoneA.current() !== undefined, 10_000, 'A ringing for caller 1');
  const firstLeg = phoneA.current()!;
  const caller2 = await queueCaller(cti, '13800138113');
  await until(async () => (await cti.acd.engine.position(caller2.uuid!)) !== null, 10_000, 'caller 2 waiting');

  // what A's phone experiences: is the first call still ringing when the second one arrives?
  let firstEndedWhenSecondRang: boolean | undefined;
  const secondAtA = phoneA.nextCall().then((c) => {
    firstEndedWhenSecondRang = firstLeg.ended;
    return c;
  });
  const res = await cti.app.inject({ method: 'POST', url: '/calls/pickup', headers: bSession.bearer, payload: { callUuid: caller1.uuid } });
  expect(res.statusCode).toBe(200);
  await until(() => firstLeg.ended, 5000, 'A stops ringing for caller 1');
  // the switch was told to cancel A's ringing leg
  expect(emu.emulator.commands.map((c) => c.line)).toContainEqual(expect.stringContaining(`uuid_kill ${firstLeg.uuid} ORIGINATOR_CANCEL`));
  expect(firstLeg.endCause).toBe('ORIGINATOR_CANCEL');

  const second = await secondAtA;
  expect(firstEndedWhenSecondRang).toBe(true);
  expect(phoneA.calls.filter((c) => !c.ended)).toEqual([second]);
  expect(await cti.acd.engine.agent(a.id)).toMatchObject({ callUuid: caller2.uuid, misses: 0 });

  // caller 2 gives up while A's phone rings: A is ready again, still without a miss
  caller2.hangup();
  await until(() => second.ended, 5000, 'A stops ringing for caller 2');
  await until(async () => (await cti.acd.engine.agent(a.id))?.state === 'ready', 5000, 'A ready');
  expect(await cti.acd.engine.agent(a.id)).toMatchObject({ state: 'ready', misses: 0, callUuid: null });
  caller1.hangup();
});
