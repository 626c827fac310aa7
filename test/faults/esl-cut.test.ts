// The ESL connection between a CTI node (child process) and the switch (emulator, in the test process) is cut in
// the middle of a load of calls in the IVR, in a queue and talking, and stays down for a few seconds: meanwhile
// callers hang up everywhere, agents hang up on their callers, new callers arrive. When the link is back the CTI
// reconnects, reconciles with `show channels as json`, finalizes what ended while it was blind (one CDR each),
// keeps every live call and puts every agent in the right state.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { RunningEmulator, SimCaller } from '../../src/sim/index.js';
import { until, heardFiles, type E2eTenant } from '../e2e/cti-fixture.js';
import { ChildCti, EslLink, callCount, split, childEnv, shapeTenant, agentPhones, dialToMenu, agentStates, queueOrder , startFaultWorld, type FaultWorld } from './fault-fixture.js';

const TOTAL = callCount(200);
const { ivr: IVR, queue: QUEUE, talk: TALK } = split(TOTAL);
/** callers of each kind that hang up while the CTI is blind */
const GONE = Math.max(2, Math.round(TOTAL / 20));

let world: FaultWorld;
let e: E2eTenant;
let emu: RunningEmulator;
let pool: pg.Pool;
let redis: Redis;
let link: EslLink;
let node: ChildCti | undefined;

beforeAll(async () => {
  // talking agents and two idle ones (ready, in a group nobody calls)
  world = await startFaultWorld(TALK + 2);
  ({ e, emu, pool, redis } = world);
  link = new EslLink({ host: emu.host, port: emu.port });
  await link.listen();
}, 120_000);

afterAll(async () => {
  await node?.kill9();
  await link?.close();
  await world?.close();
});

describe(`ESL connection cut with ${TOTAL} live calls`, () => {
  it('reconnects, reconciles and recovers every call, CDR and agent', async () => {
    const talkAgents = e.agents.slice(0, TALK);
    const idle = e.agents.slice(TALK);
    await shapeTenant(e, pool, { consult: talkAgents.map((a) => a.id), suggestion: idle.map((a) => a.id) });
    agentPhones(emu, e.agents.map((a) => a.extension!));
    node = new ChildCti({ ...childEnv(e, emu, 'cti-esl-cut'), FREESWITCH_ESL: `127.0.0.1:${link.port}` });
    await node.ready;
    await node.signIn(e.agents.map((a) => ({ id: a.id, tenantId: e.tenant, extension: a.extension!, ready: true })));

    const talkers = await dialToMenu(emu, TALK, 13600000000);
    for (const c of talkers) c.press('1');
    await until(() => talkers.every((c) => Boolean(emu.emulator.channel(c.uuid!)?.partner)), 60_000, 'talkers bridged');
    const waiters = await dialToMenu(emu, QUEUE, 13700000000);
    for (const c of waiters) c.press('2'); // complaint: no member at all
    const complaint = e.groups.get('complaint')!;
    await until(async () => (await queueOrder(redis, e.prefix, complaint)).length === QUEUE, 60_000, 'waiters queued');
    const browsers = await dialToMenu(emu, IVR, 13800000000);
    await until(async () => (await node!.calls()).length === TOTAL, 30_000, 'every call tracked');
    const orderBefore = await queueOrder(redis, e.prefix, complaint);
    // who talks to whom: agent id by caller
    const agentOf = new Map<string, { id: string; ext: string }>();
    for (const c of talkers) {
      const partner = emu.emulator.channel(c.uuid!)!.partner;
      const agent = talkAgents.find((a) => emu.world.phone(a.extension!).current()?.uuid === partner)!;
      agentOf.set(c.uuid!, { id: agent.id, ext: agent.extension! });
    }

    // --- the cut: the switch drops the CTI and the link refuses reconnects for a while
    const cutAt = performance.now();
    link.cut();
    emu.emulator.dropConnections();
    const ivrGone = browsers.slice(0, GONE);
    const queueGone = waiters.slice(0, GONE);
    const callerHungUp = talkers.slice(0, GONE);
    const agentHungUp = talkers.slice(GONE, 2 * GONE);
    for (const c of [...ivrGone, ...queueGone, ...callerHungUp]) c.hangup();
    for (const c of agentHungUp) emu.world.phone(agentOf.get(c.uuid!)!.ext).current()!.hangup();
    const newcomers = Array.from({ length: GONE }, (_, i) => emu.world.dial({ from: String(13900000000 + i), to: '12345' }));
    const gone = [...ivrGone, ...queueGone, ...callerHungUp];
    await until(() => gone.every((c) => c.ended) && newcomers.every((c) => emu.emulator.channel(c.uuid!)?.state !== undefined), 10_000, 'changes while blind');
    await new Promise((r) => setTimeout(r, Math.max(0, 3000 - (performance.now() - cutAt))));
    expect(agentHungUp.every((c) => !c.ended)).toBe(true); // park_after_bridge keeps them
    link.restore();

    // --- reconnect + reconcile
    const all: SimCaller[] = [...talkers, ...waiters, ...browsers, ...newcomers];
    const uuids = all.map((c) => c.uuid!);
    const cdrRows = async () => (await pool.query<{ call_uuid: string; recovered: boolean }>('select call_uuid, recovered from cdrs where call_uuid = any($1)', [uuids])).rows;
    await until(async () => (await cdrRows()).length >= gone.length, 30_000, 'CDRs of the calls that ended while blind');
    const recoveredAt = performance.now();
    const calls = new Map((await node.calls()).map((c) => [c.uuid, c.state]));
    const rows = await cdrRows();
    expect(rows.map((r) => r.call_uuid).sort()).toEqual(gone.map((c) => c.uuid!).sort());
    expect(rows.every((r) => r.recovered)).toBe(true);
    for (const c of gone) expect(calls.has(c.uuid!)).toBe(false);
    for (const c of talkers.slice(2 * GONE)) expect(calls.get(c.uuid!), c.uuid).toBe('talking');
    for (const c of waiters.slice(GONE)) expect(['queued', 'offering']).toContain(calls.get(c.uuid!));
    for (const c of browsers.slice(GONE)) expect(calls.get(c.uuid!), c.uuid).toBe('ivr');
    // the queue: the same callers in the same order, less those who left
    expect(await queueOrder(redis, e.prefix, complaint)).toEqual(orderBefore.filter((u) => !queueGone.some((c) => c.uuid === u)));
    // newcomers were taken as new calls
    await until(() => newcomers.every((c) => heardFiles(c.heard).includes('main-menu.wav')), 30_000, 'newcomers served');
    // agents: those whose call ended unseen are in wrap-up, the others still talking, the idle ones ready
    const ended = [...callerHungUp, ...agentHungUp].map((c) => agentOf.get(c.uuid!)!.id);
    await until(async () => [...(await agentStates(redis, e.prefix, ended)).values()].every((st) => st === 'wrap_up'), 10_000, 'agents of unseen call ends in wrap-up').catch(() => {});
    const states = await agentStates(redis, e.prefix, e.agents.map((a) => a.id));
    for (const c of callerHungUp) expect(states.get(agentOf.get(c.uuid!)!.id), `agent of ${c.uuid} (caller hung up)`).toBe('wrap_up');
    for (const c of agentHungUp) expect(states.get(agentOf.get(c.uuid!)!.id), `agent of ${c.uuid} (agent hung up)`).toBe('wrap_up');
    for (const c of talkers.slice(2 * GONE)) expect(states.get(agentOf.get(c.uuid!)!.id)).toBe('talking');
    for (const a of idle) expect(states.get(a.id)).toBe('ready');
    // a caller whose agent left unseen gets the satisfaction survey, as when the CTI sees the hang-up
    await until(() => agentHungUp.every((c) => heardFiles(c.heard).includes('survey.wav')), 30_000, 'survey after an unseen agent hang-up');
    console.log(`ESL cut with ${TOTAL} calls: blind 3000 ms; ${gone.length} calls ended while blind finalized ${Math.round(recoveredAt - cutAt)} ms after the cut`);

    // the end: one CDR per call, none doubled
    for (const c of all) if (!c.ended) c.hangup();
    await until(async () => (await cdrRows()).length >= all.length, 60_000, 'every CDR');
    await new Promise((r) => setTimeout(r, 500));
    const final = await cdrRows();
    expect(final).toHaveLength(all.length);
    expect(new Set(final.map((r) => r.call_uuid)).size).toBe(all.length);
  }, 240_000);
});
