import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { bulkInsert } from '../../src/db/bulk-insert.js';
import { cdrs, callLegEvents } from '../../src/db/schema/calls.js';
import { queueEvents } from '../../src/db/schema/acd.js';
import { makeTestContext, createTestTenant, type TestContext } from '../http/fixture.js';

let t: TestContext;
let tenant: string;
beforeAll(async () => {
  t = await makeTestContext();
  tenant = await createTestTenant(t.ctx);
});
afterAll(async () => {
  await t?.close();
});

const cdr = (over: Partial<typeof cdrs.$inferInsert> = {}): typeof cdrs.$inferInsert => ({
  callUuid: randomUUID(), tenantId: tenant, callerNumber: '13800000001', startAt: new Date('2026-11-23T08:00:00.123Z'),
  endAt: new Date('2026-11-23T08:01:00.456Z'), durationMs: 60_333, finalState: 'ended', ivrPath: ['welcome', 'menu'],
  variables: { satisfaction: '满意' }, agentId: null, ...over,
});

describe('bulkInsert', () => {
  it('writes every type the hot tables use: timestamps to the ms, jsonb arrays and objects, nulls, Chinese text', async () => {
    const row = cdr();
    await bulkInsert(t.ctx.db, cdrs, [row]);
    const [got] = await t.ctx.db.select().from(cdrs).where(eq(cdrs.callUuid, row.callUuid));
    expect(got).toMatchObject({ startAt: row.startAt, endAt: row.endAt, durationMs: 60_333, ivrPath: ['welcome', 'menu'], variables: { satisfaction: '满意' }, agentId: null });
    // columns no row gives take their defaults
    expect(got).toMatchObject({ direction: 'inbound', talkMs: 0, hangupSide: 'unknown', recovered: false });
  });

  it('on conflict do nothing + returning: only the new rows come back, on a pool client as on the db', async () => {
    const old = cdr();
    await bulkInsert(t.ctx.db, cdrs, [old]);
    const fresh = cdr();
    const client = await t.ctx.pool.connect();
    try {
      const ids = await bulkInsert(client, cdrs, [old, fresh], { onConflictDoNothing: ['callUuid'], returning: 'callUuid' });
      expect(ids).toEqual([fresh.callUuid]);
    } finally {
      client.release();
    }
    const legs = [0, 1].map((seq) => ({ tenantId: tenant, callUuid: fresh.callUuid, seq, legUuid: fresh.callUuid, role: 'caller', event: 'DTMF', at: new Date(), details: { digit: String(seq) } }));
    await bulkInsert(t.ctx.db, callLegEvents, legs, { onConflictDoNothing: ['callUuid', 'seq'] });
    await bulkInsert(t.ctx.db, callLegEvents, legs, { onConflictDoNothing: ['callUuid', 'seq'] });
    expect((await t.ctx.db.select().from(callLegEvents).where(eq(callLegEvents.callUuid, fresh.callUuid))).map((r) => r.details)).toEqual([{ digit: '0' }, { digit: '1' }]);
  });

  it('rows that leave out a defaulted column another row gives keep the default (not null)', async () => {
    const a = cdr({ talkMs: 5000 });
    const b = cdr();
    await bulkInsert(t.ctx.db, cdrs, [a, b]);
    const got = await t.ctx.db.select({ id: cdrs.callUuid, talkMs: cdrs.talkMs }).from(cdrs).where(eq(cdrs.tenantId, tenant));
    expect(got.find((r) => r.id === a.callUuid)?.talkMs).toBe(5000);
    expect(got.find((r) => r.id === b.callUuid)?.talkMs).toBe(0);
  });

  it('a nullable column some rows leave out is null for them; a bad row fails the whole statement', async () => {
    const call = randomUUID();
    await bulkInsert(t.ctx.db, queueEvents, [
      { tenantId: tenant, at: new Date(), type: 'enqueue', callUuid: call, callerNumber: '13800000002' },
      { tenantId: tenant, at: new Date(), type: 'abandon', callUuid: call, waitMs: 1200 },
    ]);
    const got = await t.ctx.db.select().from(queueEvents).where(eq(queueEvents.callUuid, call));
    expect(got.map((r) => [r.type, r.callerNumber, r.waitMs]).sort()).toEqual([['abandon', null, 1200], ['enqueue', '13800000002', null]]);
    await expect(bulkInsert(t.ctx.db, queueEvents, [
      { tenantId: tenant, at: new Date(), type: 'enqueue', callUuid: randomUUID() },
      { tenantId: tenant, at: new Date(), type: 'nonsense' as 'enqueue', callUuid: call },
    ])).rejects.toThrow(/insert into "queue_events"/);
    expect(await t.ctx.db.select().from(queueEvents).where(eq(queueEvents.callUuid, call))).toHaveLength(2);
  });
});
