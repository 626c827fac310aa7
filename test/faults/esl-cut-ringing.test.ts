// The ESL link drops while an agent's phone rings for a queued caller, and the agent answers while the CTI is blind:
// the originate's result (BACKGROUND_JOB) is lost with the connection. When the link is back the CTI must find the
// agent's answered leg in `show channels` and connect the caller to it, instead of leaving the agent on a dead
// line and the caller waiting (or offering the caller to someone else).
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { RunningEmulator } from '../../src/sim/index.js';
import { until, type E2eTenant } from '../e2e/cti-fixture.js';
import { ChildCti, EslLink, childEnv, shapeTenant, dialToMenu, agentStates, startFaultWorld, type FaultWorld } from './fault-fixture.js';

let world: FaultWorld;
let e: E2eTenant;
let emu: RunningEmulator;
let pool: pg.Pool;
let redis: Redis;
let link: EslLink;
let node: ChildCti | undefined;

beforeAll(async () => {
  world = await startFaultWorld(2);
  ({ e, emu, pool, redis } = world);
  link = new EslLink({ host: emu.host, port: emu.port });
  await link.listen();
}, 120_000);

afterAll(async () => {
  await node?.kill9();
  await link?.close();
  await world?.close();
});

it('the agent answers while the CTI is blind: after the reconnect the caller is bridged to them, talking, one CDR', async () => {
  const [agent, other] = e.agents as [(typeof e.agents)[0], (typeof e.agents)[1]];
  await shapeTenant(e, pool, { consult: [agent.id, other.id] });
  const phone = emu.world.phone(agent.extension!).set({ kind: 'manual' });
  node = new ChildCti({ ...childEnv(e, emu, 'cti-esl-cut-ringing'), FREESWITCH_ESL: `127.0.0.1:${link.port}` });
  await node.ready;
  await node.signIn([{ id: agent.id, tenantId: e.tenant, extension: agent.extension!, ready: true }]);

  const [caller] = await dialToMenu(emu, 1, 13500000000);
  caller!.press('1');
  await until(() => phone.calls.some((c) => !c.ended), 15_000, 'agent phone rings');
  // the other agent becomes ready only now: a caller wrongly put back in the queue would be offered to them
  await node.signIn([{ id: other.id, tenantId: e.tenant, extension: other.extension!, ready: true }]);
  const otherPhone = emu.world.phone(other.extension!).set({ kind: 'answer', afterMs: 50 });

  link.cut();
  emu.emulator.dropConnections();
  phone.current()!.answer();
  await new Promise((r) => setTimeout(r, 2000));
  const agentLeg = phone.calls.find((c) => !c.ended)!;
  expect(agentLeg).toBeDefined();
  link.restore();

  await until(() => emu.emulator.channel(caller!.uuid!)?.partner === agentLeg.uuid, 20_000, 'caller bridged to the agent who answered').catch(async (err) => {
    throw new Error(`${String(err)}: caller partner ${emu.emulator.channel(caller!.uuid!)?.partner}, agent leg ${agentLeg.uuid} ended=${agentLeg.ended}, calls ${JSON.stringify(await node!.calls())}`);
  });
  await until(async () => (await node!.calls()).find((c) => c.uuid === caller!.uuid)?.state === 'talking', 10_000, 'call talking in the CTI');
  // the ACD hears the answer from the executor's recovery, which may come a moment after the bridge event
  await until(async () => (await agentStates(redis, e.prefix, [agent.id])).get(agent.id) === 'talking', 5000, 'agent talking in the ACD');
  expect(otherPhone.calls).toHaveLength(0);
  expect(agentLeg.ended).toBe(false);

  // the call goes on normally: the caller hangs up, the agent goes to wrap-up, one CDR naming the agent
  caller!.hangup();
  await until(async () => (await agentStates(redis, e.prefix, [agent.id])).get(agent.id) === 'wrap_up', 10_000, 'agent in wrap-up');
  await until(async () => (await pool.query('select 1 from cdrs where call_uuid = $1', [caller!.uuid])).rowCount === 1, 10_000, 'CDR');
  const cdr = (await pool.query<{ agent_id: string | null }>('select agent_id from cdrs where call_uuid = $1', [caller!.uuid])).rows;
  expect(cdr).toEqual([{ agent_id: agent.id }]);
  await until(() => agentLeg.ended, 5000, 'agent phone released');
}, 120_000);
