// Fault: Redis restarts WITHOUT its data (no persistence) while callers wait in a queue and agents are signed in,
// ready-less and talking. The CTI (the real composition on its emulator, a private redis-server) must not drop the
// calls in talk while Redis is away, notice the empty Redis when it is back, rebuild the routing state (groups from
// PostgreSQL, agents as the node knew them, its waiting callers with their arrival order) and go on: the queued
// callers are offered in order as an agent turns ready, nobody is offered twice, talking agents stay talking.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inArray } from 'drizzle-orm';
import { cdrs } from '../../src/db/schema/calls.js';
import type { OfferEvent, RoutingRebuild } from '../../src/acd/types.js';
import type { SimCaller } from '../../src/sim/index.js';
import { RedisInstance } from '../helpers/redis-instance.js';
import { prepareE2eTenant, startTestCti, agentReady, until, sleep, hasHeard, type E2eTenant, type StartedCti } from '../e2e/cti-fixture.js';
import { login } from '../http/fixture.js';

let e: E2eTenant;
let redisServer: RedisInstance;
let cti: StartedCti | undefined;

beforeAll(async () => {
  redisServer = await RedisInstance.create({ persist: false });
  e = await prepareE2eTenant({ agentCount: 3 });
});
afterAll(async () => {
  await cti?.close();
  await redisServer?.destroy();
  await e?.close();
});

describe('Redis restarted without its data', () => {
  it('rebuilds routing from PostgreSQL and the node, keeps talking calls and queue order, no double offer', async () => {
    cti = await startTestCti(e, { env: { REDIS_URL: redisServer.url, DRAIN_TIMEOUT_MS: '0' } });
    const emu = cti.emulator!;
    const engine = cti.acd.engine;
    const offers: OfferEvent[] = [];
    engine.on('offer', (o) => offers.push(o));
    const rebuilds: RoutingRebuild[] = [];
    engine.on('routingRebuilt', (r) => rebuilds.push(r));
    const errors: Error[] = [];
    engine.on('error', (err) => errors.push(err));

    const [a1, a2, a3] = e.agents as [(typeof e.agents)[0], (typeof e.agents)[0], (typeof e.agents)[0]];
    for (const a of e.agents) emu.world.phone(a.extension!).set({ kind: 'answer', afterMs: 100 });
    const toQueue = async (from: string): Promise<SimCaller> => {
      const c = emu.world.dial({ from, to: '12345' });
      await until(() => hasHeard(c, 'main-menu.wav'), 10_000, `main menu ${from}`);
      c.press('1');
      return c;
    };
    const talkingWith = (c: SimCaller) => cti!.tracker.get(c.uuid!)?.state === 'talking';

    // two agents ready, each takes a caller: talking
    await agentReady(cti.app, a1);
    await agentReady(cti.app, a2);
    const talking = [await toQueue('13800007001'), await toQueue('13800007002')];
    await until(() => talking.every(talkingWith), 15_000, 'two calls in talk');
    // the third agent is signed in but not ready; three callers wait in the queue, in this order
    const a3Session = await login(cti.app, a3.loginId, a3.password);
    expect((await cti.app.inject({ method: 'POST', url: '/agents/me/sign-in', headers: a3Session.bearer, payload: {} })).statusCode).toBe(200);
    const queued: SimCaller[] = [];
    for (const n of ['13800007011', '13800007012', '13800007013']) {
      queued.push(await toQueue(n));
      await until(() => cti!.tracker.get(queued.at(-1)!.uuid!)?.state === 'queued', 10_000, `queued ${n}`);
      await sleep(20); // distinct arrival times
    }
    const groupId = e.groups.get('consult')!;
    expect((await engine.groupStats(groupId)).waiting).toBe(3);
    const agentOf = new Map(talking.map((c) => [c.uuid!, cti!.tracker.get(c.uuid!)!]));

    // Redis goes away (SIGKILL) for 2 s and comes back empty
    await redisServer.stop();
    await sleep(2000);
    expect(talking.every((c) => !c.ended && Boolean(emu.emulator.channel(c.uuid!)?.partner))).toBe(true);
    expect(queued.every((c) => !c.ended)).toBe(true);
    const downAt = Date.now();
    await redisServer.start();
    await until(() => rebuilds.length > 0, 15_000, 'routing rebuilt');
    const rebuiltAfterMs = Date.now() - downAt;
    const rebuild = rebuilds[0]!;
    console.log(`[redis-restart] rebuild ${JSON.stringify(rebuild)}; ${rebuiltAfterMs} ms after Redis was back`);
    expect(rebuild).toMatchObject({ agents: 3, waiting: 3, talking: 2, offering: 0 });
    expect(rebuild.groups).toBeGreaterThanOrEqual(e.groups.size);

    // the rebuilt state: talking agents still talking on their calls, the third not ready, the queue in its order
    const snap = async (id: string) => (await engine.agent(id))!;
    expect((await snap(a1.id)).state).toBe('talking');
    expect((await snap(a2.id)).state).toBe('talking');
    expect(new Set([(await snap(a1.id)).callUuid, (await snap(a2.id)).callUuid])).toEqual(new Set(talking.map((c) => c.uuid)));
    expect((await snap(a3.id)).state).toBe('not_ready');
    const stats = await engine.groupStats(groupId);
    expect(stats.waiting).toBe(3);
    expect(await engine.position(queued[0]!.uuid!)).toMatchObject({ position: 1 });
    expect(await engine.position(queued[2]!.uuid!)).toMatchObject({ position: 3 });
    expect(talking.every((c) => !c.ended && talkingWith(c))).toBe(true);
    expect(agentOf.size).toBe(2);

    // routing goes on: the third agent turns ready and gets the longest waiter, exactly once
    const offersBefore = offers.length;
    expect((await cti.app.inject({ method: 'POST', url: '/agents/me/ready', headers: a3Session.bearer, payload: {} })).statusCode).toBe(200);
    await until(() => talkingWith(queued[0]!), 15_000, 'first queued caller answered');
    // a talking agent's call ends: after wrap-up that agent is free again; end it early to take the next caller
    talking[0]!.hangup();
    await until(async () => (await snap(a1.id)).state === 'wrap_up', 10_000, 'agent 1 in wrap-up');
    const a1Session = await login(cti.app, a1.loginId, a1.password);
    expect((await cti.app.inject({ method: 'POST', url: '/agents/me/end-wrap-up', headers: a1Session.bearer, payload: {} })).statusCode).toBe(200);
    await until(() => talkingWith(queued[1]!), 15_000, 'second queued caller answered');
    expect(queued[2]!.ended).toBe(false);
    expect(cti.tracker.get(queued[2]!.uuid!)?.state).toBe('queued');

    const newOffers = offers.slice(offersBefore);
    const perCall = new Map<string, number>();
    for (const o of newOffers) perCall.set(o.callUuid, (perCall.get(o.callUuid) ?? 0) + 1);
    expect(Object.fromEntries(perCall)).toEqual({ [queued[0]!.uuid!]: 1, [queued[1]!.uuid!]: 1 });
    expect(newOffers.find((o) => o.callUuid === queued[0]!.uuid)!.agentIds).toEqual([a3.id]);
    // the agent who stayed talking through the outage was never offered anything
    expect(newOffers.some((o) => o.agentIds.includes(a2.id))).toBe(false);
    expect(talkingWith(talking[1]!)).toBe(true);

    // everyone hangs up: one CDR per call
    for (const c of [...talking, ...queued]) if (!c.ended) c.hangup();
    const uuids = [...talking, ...queued].map((c) => c.uuid!);
    await until(async () => (await cti!.ctx.db.select().from(cdrs).where(inArray(cdrs.callUuid, uuids))).length === uuids.length, 15_000, 'CDRs');
    const rows = await cti.ctx.db.select({ callUuid: cdrs.callUuid }).from(cdrs).where(inArray(cdrs.callUuid, uuids));
    expect(rows.length).toBe(uuids.length);
    expect(errors.filter((err) => !/ECONNREFUSED|Connection is closed|MaxRetriesPerRequest|max retries/i.test(err.message))).toEqual([]);
  }, 90_000);
});
