// Fault: an event flood. The switch writes 10,000 ESL events in one burst (1,250 calls, each created, parked,
// answered, two DTMF digits, hung up, completed and destroyed) to the CTI's ESL layer and call tracker. Nothing may be
// missed: every call gets its CDR (answered, with its hang-up cause), every logged leg event lands in
// call_leg_events in order (a call starts at its CHANNEL_PARK), and the heap (after forced GC) returns to its baseline once the calls are written.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import v8 from 'node:v8';
import vm from 'node:vm';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import pino from 'pino';
import type pg from 'pg';
import { createPool } from '../../src/db/client.js';
import { EslCluster } from '../../src/esl/index.js';
import { CallTracker, CdrWriter } from '../../src/calls/index.js';
import { ScriptedEslPeer } from '../helpers/scripted-esl-peer.js';
import { TEST_DATABASE_URL, TEST_REDIS_URL, randomPrefix } from '../helpers/env.js';
import { until, sleep } from '../e2e/cti-fixture.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const log = pino({ level: process.env.TEST_LOG ?? 'silent' });

const CALLS = 1250;
const EVENTS_PER_CALL = 8;

/** heapUsed after full collections (MB) */
async function settledHeapMb(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await sleep(50);
  }
  return process.memoryUsage().heapUsed / 2 ** 20;
}

describe('ESL event flood', () => {
  let pool: pg.Pool;
  let redis: Redis;
  let peer: ScriptedEslPeer;
  let cluster: EslCluster;
  let tracker: CallTracker;
  let writer: CdrWriter;
  const tenant = `t-flood-${Math.random().toString(36).slice(2, 8)}`;
  const prefix = randomPrefix('flood');

  beforeAll(async () => {
    pool = createPool(TEST_DATABASE_URL, 4);
    await pool.query('insert into tenants (id, name) values ($1, $2) on conflict do nothing', [tenant, '压测中心']);
    redis = new Redis(TEST_REDIS_URL);
    peer = new ScriptedEslPeer();
    await peer.listen();
    cluster = new EslCluster({ nodes: [{ host: '127.0.0.1', port: peer.port, name: 'fs1' }], password: peer.password, log });
    writer = new CdrWriter({ pool, redisUrl: TEST_REDIS_URL, prefix, log });
    tracker = new CallTracker({ esl: cluster, redis, redisPrefix: prefix, cdr: writer, log, defaultTenant: tenant, ctiNode: 'cti-flood', legSettleMs: 50 });
    tracker.start();
    cluster.start();
    await cluster.waitConnected(5000);
    await peer.waitForConnections(1);
  });

  afterAll(async () => {
    await tracker?.stop();
    await cluster?.stop();
    await writer?.close();
    await peer?.close();
    await pool.query('delete from call_leg_events where tenant_id = $1', [tenant]).catch(() => {});
    await pool.query('delete from cdrs where tenant_id = $1', [tenant]).catch(() => {});
    redis?.disconnect();
    await pool?.end();
  });

  /** the 8 events of one short call, as the switch sends them */
  const callEvents = (uuid: string, caller: string, digits: [string, string]): Record<string, string>[] => {
    const created = Date.now() * 1000;
    const base = (name: string, answered: boolean): Record<string, string> => ({
      'Event-Name': name,
      'Core-UUID': 'peer-core',
      'Event-Date-Timestamp': String(Date.now() * 1000),
      'Unique-ID': uuid,
      'Call-Direction': 'inbound',
      'Channel-Name': `sofia/internal/${caller}@127.0.0.1`,
      'Caller-Caller-ID-Number': caller,
      'Caller-Destination-Number': '12345',
      'Caller-Channel-Created-Time': String(created),
      'Answer-State': answered ? 'answered' : 'ringing',
    });
    const hangup = { 'Hangup-Cause': 'NORMAL_CLEARING', variable_sip_hangup_disposition: 'recv_bye' };
    return [
      base('CHANNEL_CREATE', false),
      base('CHANNEL_PARK', false),
      { ...base('CHANNEL_ANSWER', true), 'Caller-Channel-Answered-Time': String(Date.now() * 1000) },
      { ...base('DTMF', true), 'DTMF-Digit': digits[0], 'DTMF-Duration': '2080', 'DTMF-Source': 'RTP' },
      { ...base('DTMF', true), 'DTMF-Digit': digits[1], 'DTMF-Duration': '2080', 'DTMF-Source': 'RTP' },
      { ...base('CHANNEL_HANGUP', true), ...hangup },
      { ...base('CHANNEL_HANGUP_COMPLETE', true), ...hangup },
      base('CHANNEL_DESTROY', true),
    ];
  };

  const burst = (n: number, tag: string): string[] => {
    const uuids: string[] = [];
    const frames: Record<string, string>[] = [];
    for (let i = 0; i < n; i++) {
      const uuid = randomUUID();
      uuids.push(uuid);
      frames.push(...callEvents(uuid, `138${tag}${String(i).padStart(5, '0')}`.slice(0, 11), [String(i % 10), String((i * 7) % 10)]));
    }
    // one burst: every frame written before the CTI gets a turn of the event loop
    for (const f of frames) peer.sendEvent(f);
    return uuids;
  };

  const countCdrs = async (uuids: string[]) =>
    (await pool.query<{ n: number }>('select count(*)::int n from cdrs where call_uuid = any($1)', [uuids])).rows[0]!.n;

  it('handles 10k events in one burst without missing any, and the heap returns to its baseline', async () => {
    // warm-up: code paths, pools and caches reach their steady size before the baseline is taken
    const warm = burst(50, '1');
    await until(async () => (await countCdrs(warm)) === warm.length, 20_000, 'warm-up CDRs');
    await until(() => tracker.size === 0, 10_000, 'warm-up calls ended');
    const baselineMb = await settledHeapMb();

    const received: Record<string, number> = {};
    const mine = new Set<string>();
    cluster.on('event', (ev) => {
      if (mine.has(ev.headers['Unique-ID'] ?? '')) received[ev.name] = (received[ev.name] ?? 0) + 1;
    });
    let peakMb = 0;
    const sampler = setInterval(() => (peakMb = Math.max(peakMb, process.memoryUsage().heapUsed / 2 ** 20)), 20);
    const t0 = Date.now();
    const uuids = burst(CALLS, '2');
    for (const u of uuids) mine.add(u);
    expect(uuids.length * EVENTS_PER_CALL).toBe(10_000);
    const total = () => Object.values(received).reduce((x, y) => x + y, 0);
    await until(() => total() === CALLS * EVENTS_PER_CALL, 60_000, 'every event through the ESL layer');
    const ingestMs = Date.now() - t0;
    await until(() => tracker.size === 0, 60_000, 'every call ended');
    await until(async () => (await countCdrs(uuids)) === CALLS, 60_000, 'a CDR for every call');
    const processedMs = Date.now() - t0;
    clearInterval(sampler);

    // every call: one CDR, answered, hung up normally
    const cdrRows = await pool.query<{ n: number; answered: number; normal: number }>(
      `select count(*)::int n, count(answer_at)::int answered, count(*) filter (where hangup_cause = 'NORMAL_CLEARING')::int normal
         from cdrs where call_uuid = any($1)`,
      [uuids],
    );
    expect(cdrRows.rows[0]).toEqual({ n: CALLS, answered: CALLS, normal: CALLS });
    // the ESL layer passed on every event of the burst, by name
    expect(received).toEqual({
      CHANNEL_CREATE: CALLS, CHANNEL_PARK: CALLS, CHANNEL_ANSWER: CALLS, DTMF: 2 * CALLS,
      CHANNEL_HANGUP: CALLS, CHANNEL_HANGUP_COMPLETE: CALLS, CHANNEL_DESTROY: CALLS,
    });
    // every logged leg event (park starts the call; answer, 2 × DTMF, hangup) in order, the digits as sent
    const legCounts = async () =>
      Object.fromEntries(
        (await pool.query<{ event: string; n: number }>('select event, count(*)::int n from call_leg_events where call_uuid = any($1) group by event', [uuids])).rows.map((r) => [r.event, r.n]),
      );
    await until(async () => Object.values(await legCounts()).reduce((a, b) => a + b, 0) >= CALLS * 5, 30_000, 'leg events written').catch(async (err) => {
      console.log('[flood] leg events', await legCounts());
      throw err;
    });
    const seqs = await pool.query<{ call_uuid: string; events: string[]; digits: string[] }>(
      `select call_uuid, array_agg(event order by seq) events,
              array_agg(details->>'digit' order by seq) filter (where event = 'DTMF') digits
         from call_leg_events where call_uuid = any($1) group by call_uuid`,
      [uuids],
    );
    expect(seqs.rows.length).toBe(CALLS);
    const index = new Map(uuids.map((u, i) => [u, i]));
    for (const r of seqs.rows) {
      expect(r.events).toEqual(['CHANNEL_PARK', 'CHANNEL_ANSWER', 'DTMF', 'DTMF', 'CHANNEL_HANGUP']);
      const i = index.get(r.call_uuid)!;
      expect(r.digits).toEqual([String(i % 10), String((i * 7) % 10)]);
    }

    const afterMb = await settledHeapMb();
    const report = {
      events: CALLS * EVENTS_PER_CALL, calls: CALLS, ingestMs, processedMs,
      eventsPerSecond: Math.round((CALLS * EVENTS_PER_CALL) / (ingestMs / 1000)),
      heapBaselineMb: +baselineMb.toFixed(1), heapPeakMb: +peakMb.toFixed(1), heapAfterMb: +afterMb.toFixed(1),
    };
    console.log(`[flood] ${JSON.stringify(report)}`);
    // what stays may only be the bounded bookkeeping (recently ended call ids, metric windows): < 8 MB for 1,250 calls
    expect(afterMb - baselineMb).toBeLessThan(8);
    expect(peakMb).toBeGreaterThan(baselineMb); // the sampler did see the flood
  }, 90_000);
});
