// kill -9 of a CTI node holding 500 live calls (40 % in the IVR menu, 40 % waiting in a queue no agent is free
// for, 20 % talking to agents), then a restart with the same NODE_ID. The switch (emulator) lives in the test
// process, so it outlives the CTI. Nothing may be lost: every channel stays up, waiting callers keep their order,
// agents' states are right within 2 s, IVR callers can go on pressing keys, and each call ends with one CDR.
// FAULT_CALLS=n runs it with n calls instead of 500.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { RunningEmulator, SimCaller } from '../../src/sim/index.js';
import { until, heardFiles, type E2eTenant } from '../e2e/cti-fixture.js';
import { ChildCti, callCount, split, childEnv, shapeTenant, agentPhones, dialToMenu, agentStates, queueOrder, startFaultWorld, cdrCounts, type FaultWorld } from './fault-fixture.js';

const TOTAL = callCount(500);
const { ivr: IVR, queue: QUEUE, talk: TALK } = split(TOTAL);

let world: FaultWorld;
let e: E2eTenant;
let emu: RunningEmulator;
let pool: pg.Pool;
let redis: Redis;
const nodes: ChildCti[] = [];

beforeAll(async () => {
  // talking agents, two idle-but-ready ones (a group nobody calls) and two not ready (the queue's members)
  world = await startFaultWorld(TALK + 4);
  ({ e, emu, pool, redis } = world);
}, 120_000);

afterAll(async () => {
  for (const n of nodes) await n.kill9();
  await world?.close();
});

describe(`kill -9 of a CTI node with ${TOTAL} live calls`, () => {
  it('loses no call, no queue place, no agent state and no CDR', async () => {
    const t0 = performance.now();
    const phases: string[] = [];
    let last = t0;
    const mark = (what: string): void => {
      phases.push(`${what} ${Math.round(performance.now() - last)}`);
      last = performance.now();
    };
    const talkAgents = e.agents.slice(0, TALK);
    const [ready1, ready2, away1, away2] = e.agents.slice(TALK) as [typeof e.agents[0], typeof e.agents[0], typeof e.agents[0], typeof e.agents[0]];
    await shapeTenant(e, pool, {
      consult: talkAgents.map((a) => a.id),
      complaint: [away1.id, away2.id],
      suggestion: [ready1.id, ready2.id],
    });
    agentPhones(emu, e.agents.map((a) => a.extension!));
    const env = childEnv(e, emu, 'cti-kill9');
    const first = new ChildCti(env);
    nodes.push(first);
    await first.ready;
    await first.signIn(e.agents.map((a) => ({ id: a.id, tenantId: e.tenant, extension: a.extension!, ready: a !== away1 && a !== away2 })));

    // talk: press 1 (consult), each reaches a free agent
    mark('setup');
    const talkers = await dialToMenu(emu, TALK, 13600000000);
    for (const c of talkers) c.press('1');
    await until(() => talkers.every((c) => Boolean(emu.emulator.channel(c.uuid!)?.partner)), 60_000, 'talkers bridged');
    // queue: press 2 (complaint), where nobody is ready; the order the ACD gives them is what must survive
    mark('talk');
    const waiters = await dialToMenu(emu, QUEUE, 13700000000);
    for (const c of waiters) c.press('2');
    const complaint = e.groups.get('complaint')!;
    await until(async () => (await queueOrder(redis, e.prefix, complaint)).length === QUEUE, 60_000, 'waiters queued');
    // IVR: in the main menu, no key yet
    mark('queue');
    const browsers = await dialToMenu(emu, IVR, 13800000000);
    const all: SimCaller[] = [...talkers, ...waiters, ...browsers];
    await until(async () => (await first.calls()).length === TOTAL, 30_000, 'every call tracked');
    mark('ivr');
    const loadedMs = performance.now() - t0;

    const orderBefore = await queueOrder(redis, e.prefix, complaint);
    const statesBefore = await agentStates(redis, e.prefix, e.agents.map((a) => a.id));
    for (const a of talkAgents) expect(statesBefore.get(a.id), a.extension!).toBe('talking');
    expect(statesBefore.get(ready1.id)).toBe('ready');
    expect(statesBefore.get(away1.id)).toBe('not_ready');

    mark('snapshot');
    await first.kill9();
    const channelsAtKill = emu.emulator.channels().length;

    // the restart, same NODE_ID
    const restartAt = performance.now();
    const second = new ChildCti(env);
    nodes.push(second);
    const { startupMs } = await second.ready;
    const readyAt = performance.now();
    let adoptedAt = 0;
    await until(async () => {
      const calls = await second.calls();
      if (calls.length === TOTAL && calls.every((c) => c.adopted)) adoptedAt ||= performance.now();
      return adoptedAt > 0;
    }, 60_000, 'every call re-adopted');
    // agent states: right within 2 s of the node being up
    let statesRightAt = 0;
    await until(async () => {
      const now = await agentStates(redis, e.prefix, e.agents.map((a) => a.id));
      if ([...statesBefore].every(([id, st]) => now.get(id) === st)) statesRightAt = performance.now();
      return statesRightAt > 0;
    }, 10_000, 'agent states');
    console.log(
      `kill9 ${TOTAL} calls (ivr ${IVR}, queue ${QUEUE}, talk ${TALK}): load ${Math.round(loadedMs)} ms; restart to ready ${Math.round(readyAt - restartAt)} ms ` +
        `(startCti ${startupMs} ms); all re-adopted ${Math.round(adoptedAt - restartAt)} ms after the restart; agent states right ` +
        `${Math.round(Math.max(0, statesRightAt - readyAt))} ms after ready`,
    );
    expect(statesRightAt - readyAt).toBeLessThan(2000);

    // no call dropped: every channel (callers and agents' legs) still up
    expect(all.filter((c) => c.ended).map((c) => c.uuid)).toEqual([]);
    expect(emu.emulator.channels().length).toBe(channelsAtKill);
    const byUuid = new Map((await second.calls()).map((c) => [c.uuid, c.state]));
    for (const c of talkers) expect(byUuid.get(c.uuid!), c.uuid).toBe('talking');
    for (const c of waiters) expect(['queued', 'offering']).toContain(byUuid.get(c.uuid!));
    for (const c of browsers) expect(byUuid.get(c.uuid!), c.uuid).toBe('ivr');
    expect(await queueOrder(redis, e.prefix, complaint)).toEqual(orderBefore);
    expect([...orderBefore].sort()).toEqual(waiters.map((c) => c.uuid!).sort());

    // IVR callers: the flow restarts at its entry; a key in the menu leads to the next menu (工单查询)
    await until(() => browsers.every((c) => heardFiles(c.heard).filter((f) => f === 'main-menu.wav').length >= 2), 60_000, 'menu again');
    mark('menu-again');
    for (const c of browsers) c.press('9');
    await until(() => browsers.every((c) => heardFiles(c.heard).includes('ticket-ask.wav')), 60_000, 'next menu after a key');

    // everyone hangs up: exactly one CDR per call
    mark('next-menu');
    for (const c of all) c.hangup();
    const uuids = all.map((c) => c.uuid!);
    const cdrCount = () => cdrCounts(pool, uuids);
    await until(async () => (await cdrCount()).n >= TOTAL, 60_000, 'CDRs');
    mark('cdrs');
    await new Promise((r) => setTimeout(r, 500));
    expect(await cdrCount()).toEqual({ n: TOTAL, d: TOTAL });
    await until(async () => (await second.calls()).length === 0, 10_000, 'tracker empty');
    console.log(`phases (ms): ${phases.join(', ')}`);
  }, 300_000);
});
