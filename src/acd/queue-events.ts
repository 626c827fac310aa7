// Queue events go to PostgreSQL in batches, never on the routing path; the previous-agent map is rebuilt from them.
import type pg from 'pg';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import { queueEvents, type QueueEventRow } from '../db/schema/index.js';
import { BatchedWriter } from './batched-writer.js';
import { insertMissing } from '../db/insert-missing.js';
import { bulkInsert } from '../db/bulk-insert.js';
import type { PreviousAgentRecord } from './engine.js';

/** spill: a Redis connection and key prefix for batches PostgreSQL refused (kept across restarts) */
export function createQueueEventWriter(db: Db, log?: Logger, spill?: { redis: Redis; prefix: string }): BatchedWriter<QueueEventRow> {
  return new BatchedWriter<QueueEventRow>({
    name: 'queue_events',
    log,
    write: async (rows) => {
      await bulkInsert(db, queueEvents, rows);
    },
    rewrite: async (rows) => {
      await insertMissing(db, queueEvents, rows, ['tenantId', 'at', 'callUuid', 'type', 'agentId']);
    },
    spill: spill && { redis: spill.redis, key: `${spill.prefix}:spill:queue_events`, revive: (r) => ({ ...r, at: new Date(r.at) }) },
  });
}

/** Each caller's last answering agent within the window (for AcdEngineOptions.loadPreviousAgents). */
export function previousAgentLoader(pool: pg.Pool) {
  return async (tenantId: string, windowMs: number): Promise<PreviousAgentRecord[]> => {
    const { rows } = await pool.query<{ caller_number: string; agent_id: string; at: Date }>(
      `select distinct on (caller_number) caller_number, agent_id, at
         from queue_events
        where tenant_id = $1 and type = 'answer' and caller_number is not null and agent_id is not null
          and at > now() - make_interval(secs => $2::double precision / 1000)
        order by caller_number, at desc`,
      [tenantId, windowMs],
    );
    return rows.map((r) => ({ callerNumber: r.caller_number, agentId: r.agent_id, at: r.at.getTime() }));
  };
}
