import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import pino from 'pino';
import { randomUUID } from 'node:crypto';
import { eq, inArray } from 'drizzle-orm';
import type pg from 'pg';
import { createPool, createDb, type Db } from '../../src/db/client.js';
import { cdrs, callLegEvents } from '../../src/db/schema/calls.js';
import { Queue } from 'bullmq';
import { CdrWriter, CDR_QUEUE, buildCdr, redisConnectionOptions, type CallRecord } from '../../src/calls/index.js';
import { TEST_DATABASE_URL, TEST_REDIS_URL, randomPrefix } from '../helpers/env.js';
import { PgInstance } from '../helpers/pg-instance.js';

const log = pino({ level: process.env.TEST_LOG ?? 'silent' });

function record(tenantId: string, over: Partial<CallRecord> = {}): CallRecord {
  const uuid = randomUUID();
  const t = Date.now() - 60_000;
  return {
    v: 1,
    uuid,
    tenantId,
    node: 'fs1',
    direction: 'inbound',
    state: 'ended',
    callerNumber: '13800000001',
    calleeNumber: '12345',
    did: '12345',
    times: { startAt: t, answerAt: t + 1000, queueEnterAt: t + 10_000, queueLeaveAt: t + 20_000, agentAnswerAt: t + 20_000, endAt: t + 50_000 },
    legs: [{ uuid, role: 'caller', node: 'fs1', createdAt: t }],
    agentId: '0b7c4a8e-3a4f-4f21-9a6e-5d7a2c1e0f11',
    skillGroupId: 'not-a-uuid',
    recordingId: 'rec-1',
    lastIvrNode: 'menu',
    ivrPath: ['welcome', 'menu'],
    holdMs: 5000,
    hangupCause: 'NORMAL_CLEARING',
    hangupSide: 'caller',
    variables: { business: '咨询', final_state: 'talking' },
    legEvents: [
      { legUuid: uuid, role: 'caller', event: 'CHANNEL_PARK', at: t },
      { legUuid: uuid, role: 'caller', event: 'CHANNEL_HANGUP', at: t + 50_000, details: { cause: 'NORMAL_CLEARING' } },
    ],
    legEventSeq: 2,
    savedAt: Date.now(),
    ...over,
  };
}

async function until(cond: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('CDR record → row', () => {
  it('computes durations and keeps non-uuid ids as variables', () => {
    const r = record('x');
    const { cdr, legEvents } = buildCdr(r);
    expect(cdr).toMatchObject({
      durationMs: 50_000,
      talkMs: 25_000, // 30 s after the agent answered, minus 5 s on hold
      holdMs: 5000,
      queueMs: 10_000,
      finalState: 'talking',
      agentId: r.agentId,
      skillGroupId: null,
    });
    expect(cdr.variables).toEqual({ business: '咨询', skill_group_id: 'not-a-uuid' });
    expect(legEvents.map((e) => e.seq)).toEqual([0, 1]);
  });
});

describe('CdrWriter on the shared test database', () => {
  let pool: pg.Pool;
  let db: Db;
  let writer: CdrWriter;
  const tenant = `t-cdr-${Math.random().toString(36).slice(2, 8)}`;
  const prefix = randomPrefix('cdr');

  beforeAll(async () => {
    pool = createPool(TEST_DATABASE_URL, 10);
    db = createDb(pool);
    await pool.query('insert into tenants (id, name) values ($1, $2) on conflict do nothing', [tenant, '测试中心']);
    writer = new CdrWriter({ pool, redisUrl: TEST_REDIS_URL, prefix, log });
  });

  afterAll(async () => {
    await writer.close();
    await pool.end();
  });

  it('is idempotent on the call uuid (CDR and leg events)', async () => {
    const r = record(tenant);
    expect(await writer.write({ record: r })).toBe('written');
    expect(await writer.write({ record: r })).toBe('duplicate');
    expect(await writer.write({ record: { ...r, hangupCause: 'CHANGED' } })).toBe('duplicate');
    const rows = await db.select().from(cdrs).where(eq(cdrs.callUuid, r.uuid));
    expect(rows).toHaveLength(1);
    expect(rows[0]!.hangupCause).toBe('NORMAL_CLEARING');
    const legs = await db.select().from(callLegEvents).where(eq(callLegEvents.callUuid, r.uuid));
    expect(legs).toHaveLength(2);
  });

  it('writes a CDR and its leg events all or nothing; a refused one does not hold back its batch-mates', async () => {
    const good = record(tenant);
    const bad = record(tenant);
    // a leg event the database refuses (event is NOT NULL): the CDR must not be written without its legs.
    // It has to stay refused after its trip through Redis (JSON), so no NaN here: that comes back as null.
    bad.legEvents = [...bad.legEvents!, { legUuid: bad.uuid, role: 'caller', event: null as unknown as string, at: Date.now() }];
    const [goodResult, badResult] = await Promise.all([writer.write({ record: good }), writer.write({ record: bad })]);
    expect(goodResult).toBe('written');
    expect(badResult).toBe('queued'); // kept in Redis (failed set) for an operator, not lost
    // the buffer's worker tries it once more and gives up for good: one failed job, nothing waiting, nothing written
    const queue = new Queue(CDR_QUEUE, { connection: redisConnectionOptions(TEST_REDIS_URL), prefix });
    try {
      await until(async () => (await queue.getJobCounts('failed')).failed === 1);
      expect(await writer.backlog()).toBe(0);
      expect((await queue.getJob(`cdr-${bad.uuid}`))?.failedReason).toMatch(/null value in column "event"/);
    } finally {
      await queue.close();
    }
    expect(await db.select().from(cdrs).where(eq(cdrs.callUuid, bad.uuid))).toHaveLength(0);
    expect(await db.select().from(callLegEvents).where(eq(callLegEvents.callUuid, bad.uuid))).toHaveLength(0);
    expect(await db.select().from(callLegEvents).where(eq(callLegEvents.callUuid, good.uuid))).toHaveLength(2);
  });

  it('refuses a CDR whose time was lost (NaN) on both paths, instead of writing it at 1970 after the Redis trip', async () => {
    const r = record(tenant);
    r.legEvents = [...r.legEvents!, { legUuid: r.uuid, role: 'caller', event: 'CHANNEL_ANSWER', at: NaN }];
    expect(await writer.write({ record: r })).toBe('queued');
    // in Redis the NaN is null: the worker must refuse it too, not turn it into new Date(null)
    const queue = new Queue(CDR_QUEUE, { connection: redisConnectionOptions(TEST_REDIS_URL), prefix });
    try {
      await until(async () => Boolean(await (await queue.getJob(`cdr-${r.uuid}`))?.isFailed()));
    } finally {
      await queue.close();
    }
    expect(await db.select().from(cdrs).where(eq(cdrs.callUuid, r.uuid))).toHaveLength(0);
    expect(await db.select().from(callLegEvents).where(eq(callLegEvents.callUuid, r.uuid))).toHaveLength(0);
  });

  it('measures CDR write throughput', async () => {
    const n = 1000;
    const records = Array.from({ length: n }, () => record(tenant));
    const t0 = performance.now();
    const concurrency = 8;
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < n) await writer.write({ record: records[next++]! });
      }),
    );
    const perSec = Math.round(n / ((performance.now() - t0) / 1000));
    console.log(`[cdr] ${n} CDRs (+2 leg events each), ${concurrency} writers one at a time: ${perSec} CDRs/s`);
    const burst = Array.from({ length: 5000 }, () => record(tenant));
    const t1 = performance.now();
    const results = await Promise.all(burst.map((r) => writer.write({ record: r })));
    const burstPerSec = Math.round(burst.length / ((performance.now() - t1) / 1000));
    console.log(`[cdr] burst of ${burst.length} CDRs (batched): ${burstPerSec} CDRs/s`);
    expect(results.every((r) => r === 'written')).toBe(true);
    const c = await db.select({ id: cdrs.callUuid }).from(cdrs).where(inArray(cdrs.callUuid, [...records, ...burst].map((r) => r.uuid)));
    expect(c).toHaveLength(n + burst.length);
    expect(perSec).toBeGreaterThan(50);
  });
});

describe('CdrWriter while PostgreSQL is down (private instance)', () => {
  let pg1: PgInstance;
  let pool: pg.Pool;
  let writer: CdrWriter;
  const tenant = 'demo';

  beforeAll(async () => {
    pg1 = await PgInstance.create();
    pool = createPool(pg1.url, 4);
    await pool.query('insert into tenants (id, name) values ($1, $2)', [tenant, '演示中心']);
    writer = new CdrWriter({ pool, redisUrl: TEST_REDIS_URL, prefix: randomPrefix('cdrbuf'), log, maxRetryDelayMs: 300 });
  }, 120_000);

  afterAll(async () => {
    await writer?.close();
    await pool?.end();
    await pg1?.destroy();
  });

  it('buffers CDRs in Redis while the database is stopped and writes each exactly once when it is back', async () => {
    const before = record(tenant);
    expect(await writer.write({ record: before })).toBe('written');
    await pg1.stop();
    const during = Array.from({ length: 25 }, () => record(tenant));
    const results = await Promise.all(during.map((r) => writer.write({ record: r })));
    expect(results.every((x) => x === 'queued')).toBe(true);
    // the same call finalized twice while down (e.g. restart re-finalizing) is still one job
    expect(await writer.write({ record: during[0]! })).toBe('queued');
    expect(await writer.backlog()).toBe(25);
    await new Promise((r) => setTimeout(r, 500)); // a few failed retries while it is down
    await pg1.start();
    await until(async () => (await writer.backlog()) === 0);
    const uuids = [before, ...during].map((r) => r.uuid);
    const { rows } = await pool.query('select call_uuid, count(*)::int as n from cdrs where call_uuid = any($1) group by call_uuid', [uuids]);
    expect(rows).toHaveLength(26);
    expect(rows.every((r: { n: number }) => r.n === 1)).toBe(true);
    const legs = await pool.query('select count(*)::int as n from call_leg_events where call_uuid = any($1)', [uuids]);
    expect(legs.rows[0].n).toBe(52);
  });
});
