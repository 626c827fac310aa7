// Two CTI nodes (child processes) share one switch (the emulator, in the test process), Redis and PostgreSQL. One
// is killed with SIGKILL while it holds calls in the IVR menu, in a queue and talking. Nobody calls adoptNode: the
// survivor notices the dead node's liveness key expire and takes its calls over by itself. The callers stay up,
// its waiting callers are offered to agents by the survivor, IVR callers go on, and each call ends with one CDR.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { RunningEmulator, SimCaller } from '../../src/sim/index.js';
import { until, heardFiles, type E2eTenant } from '../e2e/cti-fixture.js';
import { ChildCti, callCount, split, childEnv, shapeTenant, agentPhones, dialToMenu, queueOrder, startFaultWorld, cdrCounts, type FaultWorld } from './fault-fixture.js';

const TOTAL = callCount(30);
const { ivr: IVR, queue: QUEUE, talk: TALK } = split(TOTAL);

let world: FaultWorld;
let e: E2eTenant;
let emu: RunningEmulator;
let pool: pg.Pool;
let redis: Redis;
const nodes: ChildCti[] = [];

beforeAll(async () => {
  // talking agents, and one agent per waiting caller in the queue's group (not ready until after the takeover)
  world = await startFaultWorld(TALK + QUEUE);
  ({ e, emu, pool, redis } = world);
}, 120_000);

afterAll(async () => {
  for (const n of nodes) await n.kill9();
  await world?.close();
});

describe('two CTI nodes, one killed', () => {
  it('the survivor takes over the dead node’s calls by itself', async () => {
    const talkAgents = e.agents.slice(0, TALK);
    const queueAgents = e.agents.slice(TALK);
    await shapeTenant(e, pool, { consult: talkAgents.map((a) => a.id), complaint: queueAgents.map((a) => a.id) });
    agentPhones(emu, e.agents.map((a) => a.extension!));
    const a = new ChildCti(childEnv(e, emu, 'cti-a'));
    const b = new ChildCti(childEnv(e, emu, 'cti-b'));
    nodes.push(a, b);
    await Promise.all([a.ready, b.ready]);
    await a.signIn(e.agents.map((x) => ({ id: x.id, tenantId: e.tenant, extension: x.extension!, ready: talkAgents.includes(x) })));

    const talkers = await dialToMenu(emu, TALK, 13600000000);
    for (const c of talkers) c.press('1');
    await until(() => talkers.every((c) => Boolean(emu.emulator.channel(c.uuid!)?.partner)), 30_000, 'talkers bridged');
    const waiters = await dialToMenu(emu, QUEUE, 13700000000);
    for (const c of waiters) c.press('2');
    const complaint = e.groups.get('complaint')!;
    await until(async () => (await queueOrder(redis, e.prefix, complaint)).length === QUEUE, 30_000, 'waiters queued');
    const browsers = await dialToMenu(emu, IVR, 13800000000);
    const all: SimCaller[] = [...talkers, ...waiters, ...browsers];

    // which node holds which call is a race: kill the one holding more waiting callers
    const ownerOf = async (c: SimCaller) => redis.get(`${e.prefix}:claim:${c.uuid}`);
    const owners = new Map(await Promise.all(all.map(async (c) => [c.uuid!, await ownerOf(c)] as const)));
    expect([...owners.values()].every((o) => o === 'cti-a' || o === 'cti-b')).toBe(true);
    const onA = waiters.filter((c) => owners.get(c.uuid!) === 'cti-a').length;
    const [victim, survivor, victimId] = onA * 2 >= QUEUE ? [a, b, 'cti-a'] : [b, a, 'cti-b'];
    const theirs = (list: SimCaller[]) => list.filter((c) => owners.get(c.uuid!) === victimId);
    const deadCalls = theirs(all);
    expect(theirs(waiters).length).toBeGreaterThan(0);
    // the survivor's own waiters give up, so that whoever reaches an agent now is one of the dead node's
    for (const c of waiters) if (!theirs(waiters).includes(c)) c.hangup();
    await until(async () => (await queueOrder(redis, e.prefix, complaint)).length === theirs(waiters).length, 10_000, 'survivor waiters gone');
    const orderBefore = await queueOrder(redis, e.prefix, complaint);

    const killedAt = performance.now();
    await victim.kill9();
    let takenAt = 0;
    await until(async () => {
      const calls = new Map((await survivor.calls()).map((c) => [c.uuid, c]));
      if (deadCalls.every((c) => calls.get(c.uuid!)?.adopted)) takenAt = performance.now();
      return takenAt > 0;
    }, 20_000, 'the dead node’s calls taken over');
    console.log(`node takeover: ${deadCalls.length} calls of ${victimId} (${theirs(talkers).length} talking, ${theirs(waiters).length} waiting, ${theirs(browsers).length} in IVR) taken over ${Math.round(takenAt - killedAt)} ms after kill -9 (liveness TTL 5 s)`);

    // every caller still up; states as before; the queue order kept; claims name the survivor
    expect(all.filter((c) => c.ended && !waiters.includes(c)).map((c) => c.uuid)).toEqual([]);
    const states = new Map((await survivor.calls()).map((c) => [c.uuid, c.state]));
    for (const c of theirs(talkers)) expect(states.get(c.uuid!)).toBe('talking');
    for (const c of theirs(waiters)) expect(['queued', 'offering']).toContain(states.get(c.uuid!));
    for (const c of theirs(browsers)) expect(states.get(c.uuid!)).toBe('ivr');
    expect(await queueOrder(redis, e.prefix, complaint)).toEqual(orderBefore);
    const survivorId = victimId === 'cti-a' ? 'cti-b' : 'cti-a';
    for (const c of deadCalls) expect(await ownerOf(c)).toBe(survivorId);
    // exactly one survivor adopted (there is one; the claim left the dead node out of the set)
    expect(await redis.smembers(`${e.prefix}:nodes`)).toEqual([survivorId]);

    // queued callers are offered to agents by the survivor
    await survivor.signIn(queueAgents.map((x) => ({ id: x.id, tenantId: e.tenant, extension: x.extension!, ready: true })));
    await until(() => theirs(waiters).every((c) => Boolean(emu.emulator.channel(c.uuid!)?.partner)), 20_000, 'the dead node’s waiters bridged');
    // IVR callers: the flow restarted at its entry; a key leads to the next menu
    await until(() => theirs(browsers).every((c) => heardFiles(c.heard).filter((f) => f === 'main-menu.wav').length >= 2), 20_000, 'menu again');
    for (const c of theirs(browsers)) c.press('9');
    await until(() => theirs(browsers).every((c) => heardFiles(c.heard).includes('ticket-ask.wav')), 20_000, 'next menu');

    for (const c of all) if (!c.ended) c.hangup();
    const uuids = all.map((c) => c.uuid!);
    const cdrCount = () => cdrCounts(pool, uuids);
    await until(async () => (await cdrCount()).n >= TOTAL, 30_000, 'CDRs');
    await new Promise((r) => setTimeout(r, 500));
    expect(await cdrCount()).toEqual({ n: TOTAL, d: TOTAL });
    const byNode = await pool.query<{ cti_node: string; n: number }>('select cti_node, count(*)::int n from cdrs where call_uuid = any($1) group by 1', [deadCalls.map((c) => c.uuid!)]);
    expect(byNode.rows).toEqual([{ cti_node: survivorId, n: deadCalls.length }]);
  }, 180_000);
});
