// Spilled batches are written again after a database outage; the attempt that failed may have committed (its
// connection died around COMMIT). Writing them again must not store a row twice.
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { testDb, freshTenant } from '../acd/db.js';
import { TEST_REDIS_URL, randomPrefix } from '../helpers/env.js';
import { createQueueEventWriter } from '../../src/acd/queue-events.js';
import { createAgentStateLogWriter } from '../../src/agents/state-log.js';
import { insertMissing } from '../../src/db/insert-missing.js';
import { queueEvents, type QueueEventRow, type AgentStateLogRow } from '../../src/db/schema/index.js';

const { pool, db } = testDb();
const redis = new Redis(TEST_REDIS_URL);
const prefix = randomPrefix('spill');
afterAll(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
  await pool.end();
});

const count = async (sql: string, params: unknown[]) => (await pool.query<{ n: number }>(sql, params)).rows[0]!.n;

describe('writing a batch again after an outage', () => {
  it('queue events: a spilled batch that had in fact gone in adds only its missing rows', async () => {
    const tenant = await freshTenant(pool);
    const writer = createQueueEventWriter(db, undefined, { redis, prefix });
    const call = randomUUID();
    const agentId = randomUUID();
    const at = new Date('2026-11-23T08:00:00.123Z');
    const rows: QueueEventRow[] = [
      { tenantId: tenant, type: 'enqueue', callUuid: call, groupId: null, agentId: null, callerNumber: '13900000001', at, waitMs: null, talkMs: null, detail: null },
      { tenantId: tenant, type: 'offer', callUuid: call, groupId: null, agentId, callerNumber: '13900000001', at, waitMs: null, talkMs: null, detail: { attempt: 1 } },
    ];
    writer.push(rows[0]!);
    writer.push(rows[1]!);
    await writer.flush();
    expect(await count('select count(*)::int n from queue_events where call_uuid = $1', [call])).toBe(2);
    // the same batch once more, plus a row that really is new (another agent offered at the same instant)
    const other = { ...rows[1]!, agentId: randomUUID() };
    await redis.rpush(`${prefix}:spill:queue_events`, JSON.stringify([...rows, other]));
    expect(await writer.drainSpill()).toBe(1);
    const stored = await pool.query<{ type: string; agent_id: string | null; detail: unknown }>('select type, agent_id, detail from queue_events where call_uuid = $1 order by id', [call]);
    expect(stored.rows).toEqual([
      { type: 'enqueue', agent_id: null, detail: null },
      { type: 'offer', agent_id: agentId, detail: { attempt: 1 } },
      { type: 'offer', agent_id: other.agentId, detail: { attempt: 1 } },
    ]);
    await writer.close();
  });

  it('agent state periods: the same period twice is stored once', async () => {
    const tenant = await freshTenant(pool);
    const writer = createAgentStateLogWriter(db, undefined, { redis, prefix });
    const agentId = randomUUID();
    const period: AgentStateLogRow = { tenantId: tenant, agentId, state: 'talking', reason: null, startedAt: new Date(1_795_450_000_000), endedAt: new Date(1_795_450_030_000), durationMs: 30_000 };
    const next: AgentStateLogRow = { ...period, state: 'wrap_up', startedAt: period.endedAt, endedAt: new Date(1_795_450_040_000), durationMs: 10_000 };
    writer.push(period);
    await writer.flush();
    await redis.rpush(`${prefix}:spill:agent_state_log`, JSON.stringify([period, next]));
    await redis.rpush(`${prefix}:spill:agent_state_log`, JSON.stringify([period, next]));
    expect(await writer.drainSpill()).toBe(2);
    const stored = await pool.query<{ state: string; duration_ms: string }>('select state, duration_ms from agent_state_log where agent_id = $1 order by started_at', [agentId]);
    expect(stored.rows).toEqual([
      { state: 'talking', duration_ms: '30000' },
      { state: 'wrap_up', duration_ms: '10000' },
    ]);
    await writer.close();
  });

  it('insertMissing reports how many rows it added', async () => {
    const tenant = await freshTenant(pool);
    const row: QueueEventRow = { tenantId: tenant, type: 'abandon', callUuid: randomUUID(), groupId: null, agentId: null, callerNumber: null, at: new Date(), waitMs: 1234, talkMs: null, detail: null };
    expect(await insertMissing(db, queueEvents, [row], ['tenantId', 'at', 'callUuid', 'type', 'agentId'])).toBe(1);
    expect(await insertMissing(db, queueEvents, [row], ['tenantId', 'at', 'callUuid', 'type', 'agentId'])).toBe(0);
    expect(await count('select wait_ms n from queue_events where call_uuid = $1', [row.callUuid])).toBe(1234);
  });
});
