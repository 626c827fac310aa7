// The soft phone on the real composition and its emulated switch: an ACD offer rings the desk phone (agent state
// reserved → ringing, logged), the agent clicks answer on the socket (uuid_phone_event <leg> talk: the phone picks
// up, the caller is bridged), hold/retrieve push call.state, answer without an offer is a typed error; REST
// /calls/answer does the same; a colleague's pickup withdraws the ACD offer.
import { beforeAll, expect, it } from 'vitest';
import { login } from '../http/fixture.js';
import { until, sleep } from '../e2e/cti-fixture.js';
import { useComposedCti, queueCaller, type Composed } from '../control/composition.js';
import { TestClient } from './fixture.js';

const composed = useComposedCti(2);
let e: Composed['e'];
let cti: Composed['cti'];
beforeAll(() => {
  ({ e, cti } = composed);
});

const commandsLike = (re: RegExp) => cti.emulator!.emulator.commands.map((c) => c.line).filter((c) => re.test(c));

async function agentSocket(agent: (typeof e.agents)[number]) {
  const session = await login(cti.app, agent.loginId, agent.password);
  const c = await TestClient.open(`${cti.url!.replace(/^http/, 'ws')}/ws/agent`, { protocols: ['hotline.v1', `bearer.${session.token}`] });
  await c.type('messages.unread');
  expect(await c.command('sign_in', { extension: agent.extension })).toMatchObject({ type: 'ack' });
  return { c, session };
}

it('soft answer over the socket: ringing state, uuid_phone_event talk, caller bridged, hold pushes held', async () => {
  const emu = cti.emulator!;
  const [a] = e.agents as [(typeof e.agents)[0]];
  const { c, session } = await agentSocket(a);
  // answer without any offer: typed error, nothing sent to the switch
  expect(await c.command('answer')).toMatchObject({ type: 'error', code: 'no_call' });
  expect(await c.command('ready')).toMatchObject({ type: 'ack', state: { state: 'ready' } });

  const phone = emu.world.phone(a.extension!).set({ kind: 'manual' });
  const caller = await queueCaller(cti, '13800138001');
  const offer = await c.type('call.offer', () => true, 10_000);
  expect(offer.callUuid).toBe(caller.uuid);
  // the desk phone rings: reserved → ringing, on the socket and in the routing state
  await c.type('agent.state', (f) => f.state === 'ringing', 5000);
  expect((await cti.acd.engine.agent(a.id))?.state).toBe('ringing');
  const ringing = phone.current()!;
  expect(ringing.outbound?.answered).toBe(false);

  // the agent did not choose auto-answer: the offer asks the phone for nothing
  const offerOriginate = commandsLike(/originate /).find((l) => l.includes(`origination_uuid=${ringing.uuid}`));
  expect(offerOriginate).toContain(`hotline_agent=${a.id}`);
  expect(offerOriginate).not.toContain('sip_auto_answer');
  const ack = await c.command('answer');
  expect(ack).toMatchObject({ type: 'ack', callUuid: caller.uuid });
  expect(commandsLike(/^(bg)?api uuid_phone_event /)).toContainEqual(expect.stringContaining(`uuid_phone_event ${ringing.uuid} talk`));
  await until(() => ringing.phoneEvents.length > 0, 2000, 'NOTIFY at the phone');
  expect(ringing.phoneEvents).toEqual(['talk']);
  await until(() => emu.emulator.channel(caller.uuid!)?.partner === ringing.uuid, 5000, 'caller bridged to the agent leg');
  await c.type('call.state', (f) => f.state === 'talking', 5000);
  expect((await cti.acd.engine.agent(a.id))?.state).toBe('talking');

  // the ringing period is in the state log (reserved → ringing → talking)
  await until(async () => {
    const r = await cti.ctx.pool.query<{ state: string }>(`select state from agent_state_log where agent_id = $1 and state in ('reserved', 'ringing')`, [a.id]);
    return r.rows.some((x) => x.state === 'ringing') && r.rows.some((x) => x.state === 'reserved');
  }, 5000, 'state log rows');

  // a second answer while talking: nothing rings any more
  expect(await c.command('answer')).toMatchObject({ type: 'error', code: 'no_call' });

  // hold / retrieve over REST show on the socket as call.state
  const hold = await cti.app.inject({ method: 'POST', url: '/calls/hold', headers: session.bearer, payload: {} });
  expect(hold.statusCode).toBe(200);
  expect(await c.type('call.state', (f) => f.state === 'held', 3000)).toMatchObject({ callUuid: caller.uuid });
  const retrieve = await cti.app.inject({ method: 'POST', url: '/calls/retrieve', headers: session.bearer, payload: {} });
  expect(retrieve.statusCode).toBe(200);
  expect(await c.type('call.state', (f) => f.state === 'talking', 3000)).toMatchObject({ callUuid: caller.uuid });

  // soft hang-up ends the agent's leg
  expect(await c.command('hangup')).toMatchObject({ type: 'ack' });
  await until(() => ringing.ended, 5000, 'agent leg hung up');
  caller.hangup();
  await c.command('sign_out').catch(() => undefined);
  await c.close();
});

it('REST /calls/answer: a phone without remote control ignores the NOTIFY; nothing ringing is 409', async () => {
  const emu = cti.emulator!;
  const [, b] = e.agents as [(typeof e.agents)[0], (typeof e.agents)[1]];
  const session = await login(cti.app, b.loginId, b.password);
  const none = await cti.app.inject({ method: 'POST', url: '/calls/answer', headers: session.bearer, payload: {} });
  expect(none.statusCode).toBe(409);
  expect(none.json()).toMatchObject({ code: 'nothing_to_answer' });

  for (const url of ['/agents/me/sign-in', '/agents/me/ready']) expect((await cti.app.inject({ method: 'POST', url, headers: session.bearer, payload: {} })).statusCode).toBe(200);
  const phone = emu.world.phone(b.extension!).set({ kind: 'manual' }).withoutRemoteControl();
  const caller = await queueCaller(cti, '13800138002');
  await until(() => Boolean(phone.current()), 10_000, 'agent phone rings');
  await until(async () => (await cti.acd.engine.agent(b.id))?.state === 'ringing', 5000, 'ringing state');
  const res = await cti.app.inject({ method: 'POST', url: '/calls/answer', headers: session.bearer, payload: {} });
  expect(res.statusCode).toBe(200);
  expect(res.json()).toMatchObject({ callUuid: caller.uuid, legUuid: phone.current()!.uuid });
  await sleep(300);
  // the NOTIFY reached the phone, which does not support it: still ringing, the agent must lift the handset
  expect(phone.current()!.phoneEvents).toEqual(['talk']);
  expect(phone.current()!.outbound?.answered).toBe(false);
  phone.answer();
  await until(async () => (await cti.acd.engine.agent(b.id))?.state === 'talking', 5000, 'talking');
  // hang up once the bridge is up (a caller gone within ms of the bridge is a tracker race, see the report)
  await until(() => emu.emulator.channel(caller.uuid!)?.partner === phone.current()?.uuid, 5000, 'bridged');
  await sleep(200);
  caller.hangup();
  await until(async () => (await cti.acd.engine.agent(b.id))?.state !== 'talking', 5000, `call ended (${JSON.stringify(await cti.acd.engine.agent(b.id))})`);
  await cti.app.inject({ method: 'POST', url: '/agents/me/sign-out', headers: session.bearer, payload: {} });
  phone.remoteControl = true;
});

it('auto-answer chosen at sign-in: the offer carries the auto-answer headers and the desk phone answers by itself', async () => {
  const emu = cti.emulator!;
  const [a] = e.agents as [(typeof e.agents)[0]];
  const { c } = await agentSocket(a);
  // signing in again during the shift changes the phone choice
  expect(await c.command('sign_in', { extension: a.extension, autoAnswer: true })).toMatchObject({ type: 'ack' });
  await cti.acd.engine.endWrapUp(a.id);
  expect(await c.command('ready')).toMatchObject({ type: 'ack', state: { state: 'ready' } });
  // the phone's user would never pick up: only the header makes it answer
  const phone = emu.world.phone(a.extension!).set({ kind: 'manual' });
  const caller = await queueCaller(cti, '13800138003');
  await c.type('call.state', (f) => f.state === 'talking' && f.callUuid === caller.uuid, 10_000);
  const leg = phone.calls[phone.calls.length - 1]!;
  const originate = commandsLike(/originate /).find((l) => l.includes(`origination_uuid=${leg.uuid}`));
  expect(originate).toContain('sip_auto_answer=true');
  expect(originate).toContain('sip_h_Call-Info=<sip:cti>;answer-after=0');
  expect(leg.phoneEvents).toEqual([]);
  await until(() => emu.emulator.channel(caller.uuid!)?.partner === leg.uuid, 5000, 'bridged');
  await sleep(200);
  caller.hangup();
  await c.close();
});
