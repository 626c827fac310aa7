// Call-level behaviour against the ESL-level FreeSWITCH emulator (src/sim): real wire protocol, real event order.
import { describe, it, expect, beforeAll, afterAll, beforeEach, afterEach } from 'vitest';
import { Redis } from 'ioredis';
import pino from 'pino';
import { eq } from 'drizzle-orm';
import type pg from 'pg';
import { startEmulator, type RunningEmulator } from '../../src/sim/index.js';
import { createPool, createDb, type Db } from '../../src/db/client.js';
import { cdrs, callLegEvents } from '../../src/db/schema/calls.js';
import { EslCluster } from '../../src/esl/index.js';
import { CallTracker, CdrWriter, CallGoneError, type CallSession, type CallTask } from '../../src/calls/index.js';
import { TEST_DATABASE_URL, TEST_REDIS_URL, randomPrefix } from '../helpers/env.js';
import { PgInstance } from '../helpers/pg-instance.js';

const log = pino({ level: process.env.TEST_LOG ?? 'silent' });
const until = async (cond: () => boolean | Promise<boolean>, timeoutMs = 8000): Promise<void> => {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

const PROMPTS = {
  '/prompts/welcome.wav': 300,
  '/prompts/menu.wav': 400,
  '/prompts/invalid.wav': 200,
  '/prompts/long.wav': 20_000,
};

interface Cti {
  cluster: EslCluster;
  tracker: CallTracker;
  writer: CdrWriter;
  newCalls: CallSession[];
  stop(): Promise<void>;
}

async function startCti(emu: RunningEmulator, pool: pg.Pool, prefix: string, redis: Redis, tenant: string): Promise<Cti> {
  const cluster = new EslCluster({
    nodes: [{ host: emu.host, port: emu.port, name: 'fs1' }],
    password: emu.password,
    reconnect: { initialMs: 10, maxMs: 50 },
    log,
  });
  const writer = new CdrWriter({ pool, redisUrl: TEST_REDIS_URL, prefix, log, maxRetryDelayMs: 300 });
  const tracker = new CallTracker({ esl: cluster, redis, redisPrefix: prefix, cdr: writer, log, defaultTenant: tenant, ctiNode: 'cti-emu', legSettleMs: 300 });
  const newCalls: CallSession[] = [];
  tracker.onNewCall = (s) => {
    newCalls.push(s);
  };
  tracker.start();
  cluster.start();
  await cluster.waitConnected(5000);
  return {
    cluster,
    tracker,
    writer,
    newCalls,
    async stop() {
      await tracker.stop();
      await cluster.stop();
      await writer.close();
    },
  };
}

describe('calls on the FreeSWITCH emulator', () => {
  let pool: pg.Pool;
  let db: Db;
  let redis: Redis;
  const tenant = `t-emu-${Math.random().toString(36).slice(2, 8)}`;

  beforeAll(async () => {
    pool = createPool(TEST_DATABASE_URL, 4);
    db = createDb(pool);
    await pool.query('insert into tenants (id, name) values ($1, $2) on conflict do nothing', [tenant, '测试中心']);
    redis = new Redis(TEST_REDIS_URL);
  });

  afterAll(async () => {
    await redis.quit();
    await pool.end();
  });

  let emu: RunningEmulator;
  let cti: Cti;
  let prefix: string;

  beforeEach(async () => {
    prefix = randomPrefix('emu');
    emu = await startEmulator({ heartbeatSec: 1, mediaDurations: PROMPTS });
    cti = await startCti(emu, pool, prefix, redis, tenant);
  });

  afterEach(async () => {
    await cti.stop();
    await emu.close();
  });

  const cdrOf = async (uuid: string) => (await db.select().from(cdrs).where(eq(cdrs.callUuid, uuid)))[0];

  it('adopts a parked inbound call as a new session', async () => {
    const caller = emu.world.dial({ from: '13800000001' });
    await until(() => cti.newCalls.length === 1);
    const s = cti.newCalls[0]!;
    expect(s.uuid).toBe(caller.uuid);
    expect(s).toMatchObject({ state: 'ringing', callerNumber: '13800000001', did: '12345', node: 'fs1' });
    expect(emu.emulator.channel(s.uuid)?.answerState).not.toBe('answered');
    expect(cti.cluster.nodeFor(s.uuid)?.name).toBe('fs1');
  });

  it('answer, play, collectDigits (invalid then valid) and record against the emulator', async () => {
    const caller = emu.world.dial({ from: '13800000002' });
    await until(() => cti.newCalls.length === 1);
    const s = cti.newCalls[0]!;
    await s.media.answer();
    expect(emu.emulator.channel(s.uuid)?.answerState).toBe('answered');
    const t0 = Date.now();
    expect(await s.media.play('/prompts/welcome.wav')).toEqual({ ok: true });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    const collecting = s.media.collectDigits({
      prompt: '/prompts/menu.wav',
      invalidPrompt: '/prompts/invalid.wav',
      minDigits: 1,
      maxDigits: 1,
      tries: 3,
      timeoutMs: 3000,
      validDigitsRegex: '[1-5]',
      variableName: 'menu_choice',
    });
    await new Promise((r) => setTimeout(r, 100));
    caller.press('7');
    await new Promise((r) => setTimeout(r, 1200));
    caller.press('2');
    expect(await collecting).toEqual({ digits: '2', invalid: '7' });
    caller.speak(800);
    const rec = await s.media.record({ path: '/tmp/vm-test.wav', maxSeconds: 30, silenceSeconds: 1 });
    expect(rec.endedBy).toBe('silence');
    expect(rec.durationMs).toBeGreaterThan(0);
    // a menu with no input at all: null digits after the tries
    const none = await s.media.collectDigits({ prompt: '/prompts/welcome.wav', minDigits: 1, maxDigits: 1, tries: 1, timeoutMs: 300, variableName: 'menu2' });
    expect(none.digits).toBeNull();
    caller.hangup();
    await until(async () => (await cdrOf(s.uuid)) !== undefined);
  });

  it('a caller hanging up mid-prompt: CallGoneError, task killed, CDR with the last IVR node, exactly once', async () => {
    const caller = emu.world.dial({ from: '13800000003' });
    await until(() => cti.newCalls.length === 1);
    const s = cti.newCalls[0]!;
    let caught: unknown;
    let killedBy = '';
    const flow: CallTask = {
      name: 'ivr-flow',
      async exec(session, media) {
        await media.answer();
        session.transition('ivr');
        session.markIvrNode('welcome');
        await media.play('/prompts/welcome.wav');
        session.markIvrNode('long-notice');
        try {
          await media.play('/prompts/long.wav');
        } catch (err) {
          caught = err;
          throw err;
        }
      },
      kill(reason) {
        killedBy = reason;
      },
    };
    s.addTasks(flow);
    const run = s.runTasks();
    await until(() => s.lastIvrNode === 'long-notice');
    await new Promise((r) => setTimeout(r, 200));
    caller.hangup();
    await run;
    expect(caught).toBeInstanceOf(CallGoneError);
    expect(killedBy).toBe('hangup');
    await until(async () => (await cdrOf(s.uuid)) !== undefined);
    const cdr = (await cdrOf(s.uuid))!;
    expect(cdr).toMatchObject({
      hangupCause: 'NORMAL_CLEARING',
      hangupSide: 'caller',
      lastIvrNode: 'long-notice',
      ivrPath: ['welcome', 'long-notice'],
      finalState: 'ivr',
      fsNode: 'fs1',
    });
    expect(cdr.answerAt).not.toBeNull();
    const events = await db.select().from(callLegEvents).where(eq(callLegEvents.callUuid, s.uuid));
    expect(events.map((e) => e.event)).toContain('CHANNEL_HANGUP');
    await cti.tracker.whenIdle();
    expect(cti.writer.stats.written + cti.writer.stats.duplicates).toBe(1);
  });

  it('a recording cut short by the caller hanging up still reports its file (endedBy hangup)', async () => {
    const caller = emu.world.dial({ from: '13800000005' });
    await until(() => cti.newCalls.length === 1);
    const s = cti.newCalls[0]!;
    await s.media.answer();
    caller.speak();
    const recording = s.media.record({ path: '/tmp/vm-hangup.wav', maxSeconds: 30, silenceSeconds: 3 });
    await new Promise((r) => setTimeout(r, 700));
    caller.hangup();
    const rec = await recording;
    expect(rec.endedBy).toBe('hangup');
    expect(rec.durationMs).toBeGreaterThan(300);
  });

  it('bridge to an agent → talking; hold/unhold → held/talking; agent hangs up → CDR with agent side, talk and hold times', async () => {
    const caller = emu.world.dial({ from: '13800000006' });
    await until(() => cti.newCalls.length === 1);
    const s = cti.newCalls[0]!;
    const node = cti.cluster.nodeFor(s.uuid)!;
    await s.media.answer();
    s.transition('ivr');
    s.transition('queued');
    s.setSkillGroup('7b0c1a62-5a1f-4c4e-9a55-000000000002');
    await s.media.startMusic('local_stream://moh');
    const agentLeg = '5f0e8a52-1c1d-4d7e-8f00-00000000a001';
    cti.tracker.attachLeg(s, agentLeg, 'agent', { agentId: '0b7c4a8e-3a4f-4f21-9a6e-5d7a2c1e0f11' });
    s.setAgent('0b7c4a8e-3a4f-4f21-9a6e-5d7a2c1e0f11');
    s.transition('offering');
    const phone = emu.world.phone('1001').set({ kind: 'answer', afterMs: 200 });
    await node.bgapi(`originate {origination_uuid=${agentLeg},originate_timeout=10}user/1001 &park()`, { timeoutMs: 15_000 });
    await s.media.stopMusic();
    await node.bgapi(`uuid_bridge ${s.uuid} ${agentLeg}`);
    await until(() => s.state === 'talking');
    await node.api(`uuid_hold ${agentLeg}`);
    await until(() => s.state === 'held');
    await new Promise((r) => setTimeout(r, 300));
    await node.api(`uuid_hold off ${agentLeg}`);
    await until(() => s.state === 'talking');
    await new Promise((r) => setTimeout(r, 300));
    phone.hangup();
    await until(async () => (await cdrOf(s.uuid)) !== undefined);
    const cdr = (await cdrOf(s.uuid))!;
    expect(cdr).toMatchObject({
      hangupSide: 'agent',
      finalState: 'talking',
      agentId: '0b7c4a8e-3a4f-4f21-9a6e-5d7a2c1e0f11',
      skillGroupId: '7b0c1a62-5a1f-4c4e-9a55-000000000002',
    });
    expect(cdr.holdMs).toBeGreaterThanOrEqual(250);
    expect(cdr.talkMs).toBeGreaterThanOrEqual(250);
    expect(cdr.queueEnterAt).not.toBeNull();
    expect(cdr.agentAnswerAt).not.toBeNull();
    expect(caller.ended).toBe(true);
    const roles = await db.select().from(callLegEvents).where(eq(callLegEvents.callUuid, s.uuid));
    expect(roles.filter((e) => e.role === 'agent').map((e) => e.event)).toEqual(expect.arrayContaining(['CHANNEL_ANSWER', 'CHANNEL_HOLD', 'CHANNEL_UNHOLD', 'CHANNEL_HANGUP']));
  });

  it('rejects an unanswered call with CALL_REJECTED without answering it', async () => {
    const caller = emu.world.dial({ from: '13800000004' });
    await until(() => cti.newCalls.length === 1);
    await cti.newCalls[0]!.media.reject();
    await until(() => caller.ended);
    expect(caller.endCause).toBe('CALL_REJECTED');
    await until(async () => (await cdrOf(caller.uuid!)) !== undefined);
    expect(await cdrOf(caller.uuid!)).toMatchObject({ answerAt: null, hangupCause: 'CALL_REJECTED', hangupSide: 'system', finalState: 'ringing' });
  });

  it('an ESL reconnect keeps every live call exactly once (resync re-adopts)', async () => {
    const callers = Array.from({ length: 5 }, (_, i) => emu.world.dial({ from: `1380000010${i}` }));
    await until(() => cti.newCalls.length === 5);
    emu.emulator.dropConnections();
    await until(() => cti.cluster.nodes[0]!.health().reconnects === 1);
    await cti.tracker.whenIdle();
    await new Promise((r) => setTimeout(r, 200));
    expect(cti.tracker.size).toBe(5);
    expect(cti.newCalls.length).toBe(5);
    for (const c of callers) c.hangup();
    await until(async () => (await pool.query('select count(*)::int n from cdrs where call_uuid = any($1)', [callers.map((c) => c.uuid)])).rows[0].n === 5);
  });

  it('kill -9 style restart: a new CTI over the same Redis re-adopts every parked call and loses no CDR', async () => {
    const callers = Array.from({ length: 10 }, (_, i) => emu.world.dial({ from: `139000000${String(i).padStart(2, '0')}` }));
    await until(() => cti.newCalls.length === 10);
    // give each call some history worth keeping
    for (const [i, s] of cti.newCalls.entries()) {
      if (i % 2 === 0) {
        await s.media.answer();
        s.transition('ivr');
        s.markIvrNode(`node-${i}`);
      }
    }
    await cti.tracker.whenIdle();
    // the CTI dies without a goodbye: no finalization, its ESL socket just vanishes
    await cti.cluster.stop();
    await cti.writer.close();
    // two callers give up while no CTI is listening
    callers[8]!.hangup();
    callers[9]!.hangup();
    await until(() => callers[8]!.ended && callers[9]!.ended);
    const restarted = await startCti(emu, pool, prefix, redis, tenant);
    cti = restarted;
    const live = callers.slice(0, 8).map((c) => c.uuid!);
    await until(() => live.every((u) => restarted.tracker.get(u)?.adopted === true));
    expect(restarted.newCalls.length).toBe(0);
    expect(restarted.tracker.get(live[2]!)!.lastIvrNode).toBe('node-2');
    expect(restarted.tracker.get(live[2]!)!.state).toBe('ivr');
    // the two that vanished get their CDRs at once
    const gone = [callers[8]!.uuid!, callers[9]!.uuid!];
    await until(async () => (await pool.query('select count(*)::int n from cdrs where call_uuid = any($1)', [gone])).rows[0].n === 2);
    // the adopted calls are fully usable
    await restarted.tracker.get(live[0]!)!.media.play('/prompts/welcome.wav');
    for (const c of callers.slice(0, 8)) c.hangup();
    const all = callers.map((c) => c.uuid!);
    await until(async () => (await pool.query('select count(*)::int n from cdrs where call_uuid = any($1)', [all])).rows[0].n === 10);
    await restarted.tracker.whenIdle();
    const dup = await pool.query('select call_uuid, count(*) from cdrs where call_uuid = any($1) group by call_uuid having count(*) > 1', [all]);
    expect(dup.rows).toEqual([]);
    expect(await redis.smembers(`${prefix}:calls:fs1`)).toEqual([]);
    const nodeCdr = await cdrOf(live[4]!);
    expect(nodeCdr).toMatchObject({ lastIvrNode: 'node-4', finalState: 'ivr', recovered: false });
  });
});

describe('CDRs on the emulator while the private PostgreSQL is stopped', () => {
  let pgi: PgInstance;
  let pool: pg.Pool;
  let redis: Redis;
  let emu: RunningEmulator;
  let cti: Cti;
  const prefix = randomPrefix('emupg');

  beforeAll(async () => {
    pgi = await PgInstance.create();
    pool = createPool(pgi.url, 4);
    await pool.query("insert into tenants (id, name) values ('demo', '演示中心')");
    redis = new Redis(TEST_REDIS_URL);
    emu = await startEmulator({ heartbeatSec: 1, mediaDurations: PROMPTS });
    cti = await startCti(emu, pool, prefix, redis, 'demo');
  }, 120_000);

  afterAll(async () => {
    await cti?.stop();
    await emu?.close();
    await redis?.quit();
    await pool?.end();
    await pgi?.destroy();
  });

  it('buffers the CDRs of calls ending while the database is down and writes each once when it returns', async () => {
    const callers = Array.from({ length: 6 }, (_, i) => emu.world.dial({ from: `1370000000${i}` }));
    await until(() => cti.newCalls.length === 6);
    callers[0]!.hangup();
    await until(async () => (await pool.query('select count(*)::int n from cdrs')).rows[0].n === 1);
    await pgi.stop();
    for (const c of callers.slice(1)) c.hangup();
    await until(() => cti.tracker.size === 0);
    await cti.tracker.whenIdle();
    expect(cti.writer.stats.queued).toBe(5);
    expect(await cti.writer.backlog()).toBe(5);
    await new Promise((r) => setTimeout(r, 600));
    await pgi.start();
    await until(async () => (await cti.writer.backlog()) === 0, 20_000);
    const { rows } = await pool.query('select call_uuid, count(*)::int n from cdrs group by call_uuid');
    expect(rows).toHaveLength(6);
    expect(rows.every((r: { n: number }) => r.n === 1)).toBe(true);
    expect(new Set(rows.map((r: { call_uuid: string }) => r.call_uuid))).toEqual(new Set(callers.map((c) => c.uuid)));
  });
});
