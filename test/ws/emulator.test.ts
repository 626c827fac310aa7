// The agent WebSocket on the real composition (startCti) and its emulated switch: an agent signs in and goes ready
// over the socket, a citizen dials 12345 and presses 1, the offer pops up with the caller and the IVR path, the
// desk phone answers, the socket drops mid-call without touching the call, the reconnect restores it, and the end
// of the call shows on the new socket.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { login } from '../http/fixture.js';
import { prepareE2eTenant, startTestCti, until, hasHeard, type E2eTenant, type StartedCti } from '../e2e/cti-fixture.js';
import { TestClient } from './fixture.js';

let e: E2eTenant;
let cti: StartedCti;

beforeAll(async () => {
  e = await prepareE2eTenant({ agentCount: 1 });
  cti = await startTestCti(e);
}, 30_000);

afterAll(async () => {
  await cti?.close();
  await e?.close();
});

it('sign in and ready over the socket, offer with screen pop, answer, drop and reconnect mid-call, call end', async () => {
  const emu = cti.emulator!;
  const [agent] = e.agents as [typeof e.agents[0]];
  const session = await login(cti.app, agent.loginId, agent.password);
  const wsUrl = `${cti.url!.replace(/^http/, 'ws')}/ws/agent`;
  const c = await TestClient.open(wsUrl, { protocols: ['hotline.v1', `bearer.${session.token}`] });
  await c.type('messages.unread');
  expect(await c.command('sign_in', { extension: agent.extension })).toMatchObject({ type: 'ack', state: { state: 'not_ready' } });
  expect(await c.command('ready')).toMatchObject({ type: 'ack', state: { state: 'ready' } });

  const phone = emu.world.phone(agent.extension!);
  phone.set({ kind: 'answer', afterMs: 300 });
  const caller = emu.world.dial({ from: '13800138000', to: '12345' });
  await until(() => hasHeard(caller, 'main-menu.wav'), 10_000, 'main menu');
  caller.press('1');

  const offer = await c.type('call.offer', () => true, 10_000);
  expect(offer).toMatchObject({ callUuid: caller.uuid, screenPop: { callerNumber: '13800138000', callerName: null, previousCalls: [] } });
  expect((offer.screenPop as { ivrPath: string[] }).ivrPath.length).toBeGreaterThan(0);
  await c.type('call.state', (f) => f.state === 'talking', 10_000);
  await until(() => Boolean(emu.emulator.channel(caller.uuid!)?.partner), 5000, 'bridge');

  // the agent's browser drops: the call stays bridged and the agent stays on it
  await c.close();
  await new Promise((r) => setTimeout(r, 300));
  expect(emu.emulator.channel(caller.uuid!)?.partner).toBeTruthy();
  expect((await cti.acd.engine.agent(agent.id))?.state).toBe('talking');

  const again = await TestClient.open(wsUrl, { token: session.token });
  expect(await again.type('agent.state')).toMatchObject({ state: 'talking', callUuid: caller.uuid });
  expect(await again.type('call.offer')).toMatchObject({ callUuid: caller.uuid, restored: true, screenPop: { callerNumber: '13800138000' } });
  expect(await again.type('call.state')).toMatchObject({ state: 'talking', restored: true });

  phone.current()!.hangup();
  const ended = await again.next((f) => f.type === 'call.state' && (f.state === 'wrap_up' || f.state === 'ended'), 10_000);
  expect(ended.callUuid).toBe(caller.uuid);
  await again.close();
});
