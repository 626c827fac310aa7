import { describe, it, expect, beforeAll, afterAll, beforeEach, afterEach } from 'vitest';
import { Redis } from 'ioredis';
import pino from 'pino';
import { eq } from 'drizzle-orm';
import type pg from 'pg';
import { createPool, createDb, type Db } from '../../src/db/client.js';
import { cdrs, callLegEvents } from '../../src/db/schema/calls.js';
import { EslCluster } from '../../src/esl/index.js';
import { CallTracker, CdrWriter, CallGoneError, type CallSession, type CallTask } from '../../src/calls/index.js';
import { TEST_DATABASE_URL, TEST_REDIS_URL, randomPrefix } from '../helpers/env.js';
import { PeerSwitch } from './peer-switch.js';

const log = pino({ level: process.env.TEST_LOG ?? 'silent' });
const until = async (cond: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> => {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('CallTracker over ESL (scripted switch)', () => {
  let pool: pg.Pool;
  let db: Db;
  let redis: Redis;
  const tenant = `t-calls-${Math.random().toString(36).slice(2, 8)}`;

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

  let sw: PeerSwitch;
  let prefix: string;
  let cluster: EslCluster;
  let tracker: CallTracker;
  let writer: CdrWriter;
  const newCalls: CallSession[] = [];

  const boot = async (): Promise<{ cluster: EslCluster; tracker: CallTracker; writer: CdrWriter }> => {
    const c = new EslCluster({ nodes: [{ host: '127.0.0.1', port: sw.peer.port, name: 'fs1' }], password: 'ClueCon', reconnect: { initialMs: 5, maxMs: 20 }, log });
    const w = new CdrWriter({ pool, redisUrl: TEST_REDIS_URL, prefix, log, maxRetryDelayMs: 200 });
    const t = new CallTracker({ esl: c, redis, redisPrefix: prefix, cdr: w, log, defaultTenant: tenant, ctiNode: 'cti-test', legSettleMs: 300 });
    t.onNewCall = (s) => {
      newCalls.push(s);
    };
    t.start();
    c.start();
    await c.waitConnected(3000);
    return { cluster: c, tracker: t, writer: w };
  };

  beforeEach(async () => {
    newCalls.length = 0;
    prefix = randomPrefix('calls');
    sw = new PeerSwitch();
    await sw.start();
    ({ cluster, tracker, writer } = await boot());
  });

  afterEach(async () => {
    await tracker.stop();
    await cluster.stop();
    await writer.close();
    await sw.close();
  });

  const cdrOf = async (uuid: string) => (await db.select().from(cdrs).where(eq(cdrs.callUuid, uuid)))[0];

  it('adopts a parked inbound call as a new session and calls onNewCall', async () => {
    const uuid = sw.park({ caller: '13800000001' });
    await until(() => newCalls.length === 1);
    const s = newCalls[0]!;
    expect(s.uuid).toBe(uuid);
    expect(s.state).toBe('ringing');
    expect(s.callerNumber).toBe('13800000001');
    expect(s.did).toBe('12345');
    expect(s.tenantId).toBe(tenant);
    expect(tracker.get(uuid)).toBe(s);
    expect(s.callerLeg?.role).toBe('caller');
    // a compact record is in Redis right away
    await until(async () => (await redis.exists(`${prefix}:call:${uuid}`)) === 1);
  });

  it('answers, plays, collects digits and records through sendmsg execute', async () => {
    sw.apps.play_and_get_digits = (arg) => ({ ms: 30, vars: { read_result: 'success', [arg.split(' ')[7]!]: '2' }, response: '_none_' });
    sw.apps.record = () => ({ ms: 30, vars: { record_ms: '2780', record_file_size: '44524', silence_hits_exhausted: 'true' } });
    const uuid = sw.park();
    await until(() => newCalls.length === 1);
    const s = newCalls[0]!;
    await s.media.answer();
    expect(s.transition('ivr')).toBe(true);
    const played = await s.media.play('/prompts/welcome.wav');
    expect(played).toEqual({ ok: true });
    const menu = await s.media.collectDigits({ prompt: '/prompts/menu.wav', minDigits: 1, maxDigits: 1, tries: 3, timeoutMs: 5000, validDigitsRegex: '[1-5]', variableName: 'menu_choice' });
    expect(menu).toEqual({ digits: '2' });
    const rec = await s.media.record({ path: '/rec/vm.wav', maxSeconds: 60, silenceSeconds: 3 });
    expect(rec).toMatchObject({ path: '/rec/vm.wav', durationMs: 2780, sizeBytes: 44524, endedBy: 'silence' });
    expect(sw.api[0]).toBe(`uuid_answer ${uuid}`);
    const apps = sw.executed.map((e) => `${e.app} ${e.arg}`);
    expect(apps).toEqual([
      'set playback_terminators=none',
      'playback /prompts/welcome.wav',
      'play_and_get_digits 1 1 3 5000 # /prompts/menu.wav silence_stream://250 menu_choice [1-5] 5000',
      'set playback_terminators=*#',
      'record /rec/vm.wav 60 200 3',
    ]);
    await s.media.startMusic('local_stream://moh');
    await s.media.stopMusic();
    expect(sw.api.slice(-2)).toEqual([`uuid_broadcast ${uuid} local_stream://moh aleg`, `uuid_break ${uuid} all`]);
  });

  it('rejects an unanswered call with uuid_kill CALL_REJECTED and never answers it', async () => {
    const uuid = sw.park();
    await until(() => newCalls.length === 1);
    await newCalls[0]!.media.reject();
    expect(sw.api).toEqual([`uuid_kill ${uuid} CALL_REJECTED`]);
    await until(async () => (await cdrOf(uuid)) !== undefined);
    const cdr = await cdrOf(uuid);
    expect(cdr).toMatchObject({ hangupCause: 'CALL_REJECTED', hangupSide: 'system', finalState: 'ringing', answerAt: null });
  });

  it('hangup mid-prompt: CallGoneError in the task, the task is killed, CDR has the last IVR node', async () => {
    sw.apps.playback = () => ({ ms: 10_000 });
    const uuid = sw.park({ caller: '13800000009' });
    await until(() => newCalls.length === 1);
    const s = newCalls[0]!;
    let caught: unknown;
    let killed = '';
    const task: CallTask = {
      name: 'ivr',
      async exec(session, media) {
        await media.answer();
        session.transition('ivr');
        session.markIvrNode('welcome');
        session.markIvrNode('main-menu');
        try {
          await media.play('/prompts/long.wav');
        } catch (err) {
          caught = err;
          throw err;
        }
      },
      kill(reason) {
        killed = reason;
      },
    };
    s.addTasks(task);
    const run = s.runTasks();
    await until(() => sw.executed.some((e) => e.app === 'playback'));
    sw.hangup(uuid, 'NORMAL_CLEARING', 'recv_bye');
    await run;
    expect(caught).toBeInstanceOf(CallGoneError);
    expect(killed).toBe('hangup');
    await until(async () => (await cdrOf(uuid)) !== undefined);
    const cdr = (await cdrOf(uuid))!;
    expect(cdr).toMatchObject({
      tenantId: tenant,
      callerNumber: '13800000009',
      did: '12345',
      hangupCause: 'NORMAL_CLEARING',
      hangupSide: 'caller',
      lastIvrNode: 'main-menu',
      ivrPath: ['welcome', 'main-menu'],
      finalState: 'ivr',
      ctiNode: 'cti-test',
      fsNode: 'fs1',
      recovered: false,
    });
    expect(cdr.answerAt).not.toBeNull();
    const legEvents = await db.select().from(callLegEvents).where(eq(callLegEvents.callUuid, uuid));
    expect(legEvents.map((e) => e.event)).toEqual(['CHANNEL_PARK', 'CHANNEL_ANSWER', 'CHANNEL_HANGUP']);
    // the Redis record is gone once the CDR is in
    await until(async () => (await redis.exists(`${prefix}:call:${uuid}`)) === 0);
    expect(tracker.get(uuid)).toBeUndefined();
  });

  it('media ops after hangup reject with CallGoneError at once', async () => {
    const uuid = sw.park();
    await until(() => newCalls.length === 1);
    const s = newCalls[0]!;
    sw.hangup(uuid, 'ORIGINATOR_CANCEL', 'recv_cancel');
    await until(() => s.ended);
    await expect(s.media.play('/x.wav')).rejects.toBeInstanceOf(CallGoneError);
    await expect(s.media.answer()).rejects.toBeInstanceOf(CallGoneError);
    await until(async () => (await cdrOf(uuid)) !== undefined);
    expect(await cdrOf(uuid)).toMatchObject({ hangupCause: 'ORIGINATOR_CANCEL', hangupSide: 'caller', finalState: 'ringing' });
  });

  it('kill -9 style restart: a new tracker over the same Redis re-adopts every parked call and loses no CDR', async () => {
    const uuids = [sw.park({ caller: '13800000011' }), sw.park({ caller: '13800000012' }), sw.park({ caller: '13800000013' })];
    await until(() => newCalls.length === 3);
    newCalls[0]!.transition('ivr');
    newCalls[0]!.markIvrNode('menu');
    newCalls[1]!.transition('queued');
    newCalls[1]!.setSkillGroup('7b0c1a62-5a1f-4c4e-9a55-000000000001');
    await tracker.whenIdle();
    await until(async () => (await redis.get(`${prefix}:call:${uuids[1]}`))?.includes('"queued"') ?? false);
    // "kill -9": the old tracker and its connection vanish without finalizing anything
    await cluster.stop();
    // meanwhile one caller hangs up unseen
    sw.vanish(uuids[2]!);
    newCalls.length = 0;
    const next = await boot();
    cluster = next.cluster;
    tracker = next.tracker;
    await writer.close();
    writer = next.writer;
    await until(() => tracker.get(uuids[0]!)?.adopted === true && tracker.get(uuids[1]!)?.adopted === true);
    const first = tracker.get(uuids[0]!)!;
    expect(first.state).toBe('ivr');
    expect(first.lastIvrNode).toBe('menu');
    expect(first.adopted).toBe(true);
    expect(tracker.get(uuids[1]!)!.state).toBe('queued');
    expect(newCalls.length).toBe(0); // re-adopted, not treated as new calls
    // the vanished call got its CDR
    await until(async () => (await cdrOf(uuids[2]!)) !== undefined);
    expect(await cdrOf(uuids[2]!)).toMatchObject({ recovered: true, callerNumber: '13800000013' });
    // the adopted calls still work and end with exactly one CDR each
    await first.media.play('/prompts/again.wav');
    sw.hangup(uuids[0]!);
    sw.hangup(uuids[1]!);
    await until(async () => (await cdrOf(uuids[0]!)) !== undefined && (await cdrOf(uuids[1]!)) !== undefined);
    expect(await cdrOf(uuids[1]!)).toMatchObject({ finalState: 'queued', skillGroupId: '7b0c1a62-5a1f-4c4e-9a55-000000000001' });
    const count = await pool.query('select count(*)::int as n from cdrs where call_uuid = any($1)', [uuids]);
    expect(count.rows[0].n).toBe(3);
    expect(await redis.smembers(`${prefix}:calls:fs1`)).toEqual([]);
  });

  it('a call that arrives while the resync is in flight is kept (the rows predate it)', async () => {
    await cluster.stop();
    sw.peer.apiDelayMs = (command) => (command === 'show channels as json' ? 300 : 0);
    newCalls.length = 0;
    const next = await boot();
    cluster = next.cluster;
    tracker = next.tracker;
    await writer.close();
    writer = next.writer;
    const uuid = sw.park({ caller: '13800000021' });
    await until(() => newCalls.length === 1);
    await new Promise((r) => setTimeout(r, 500));
    await tracker.whenIdle();
    expect(tracker.get(uuid)?.ended).toBe(false);
    expect(await cdrOf(uuid)).toBeUndefined();
  });

  it('draining: new calls are left alone, live ones finish, whenEmpty resolves after the last', async () => {
    const live = sw.park({ caller: '13800000040' });
    await until(() => newCalls.length === 1);
    tracker.acceptNewCalls = false;
    sw.park({ caller: '13800000041' });
    await new Promise((r) => setTimeout(r, 100));
    expect(newCalls.length).toBe(1);
    expect(tracker.size).toBe(1);
    let empty = false;
    const drained = tracker.whenEmpty().then(() => (empty = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(empty).toBe(false);
    sw.hangup(live);
    await drained;
    expect(tracker.size).toBe(0);
    const aborted = new AbortController();
    sw.park({ caller: '13800000042' });
    tracker.acceptNewCalls = true;
    const third = sw.park({ caller: '13800000043' });
    await until(() => tracker.get(third) !== undefined);
    const waiting = tracker.whenEmpty(aborted.signal);
    aborted.abort();
    await waiting;
  });

  it('a parked call that arrived while no CTI listened is picked up as a new call on connect', async () => {
    await cluster.stop();
    const uuid = sw.park({ caller: '13800000020' });
    const next = await boot();
    cluster = next.cluster;
    tracker = next.tracker;
    await writer.close();
    writer = next.writer;
    await until(() => newCalls.some((s) => s.uuid === uuid));
  });
});
