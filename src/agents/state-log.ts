// Agent state periods in PostgreSQL: written in batches as they end, totalled per agent per day.
import type pg from 'pg';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import { agentStateLog, type AgentStateLogRow } from '../db/schema/index.js';
import { BatchedWriter, type SpillOptions } from '../acd/batched-writer.js';
import { insertMissing } from '../db/insert-missing.js';
import { bulkInsert } from '../db/bulk-insert.js';

/** spill: a Redis connection and key prefix for batches PostgreSQL refused (kept across restarts) */
export function createAgentStateLogWriter(
  db: Db,
  log?: Logger,
  spill?: { redis: Redis; prefix: string } & Pick<SpillOptions<AgentStateLogRow>, 'leaseMs' | 'hooks'>,
): BatchedWriter<AgentStateLogRow> {
  return new BatchedWriter<AgentStateLogRow>({
    name: 'agent_state_log',
    log,
    write: async (rows) => {
      await bulkInsert(db, agentStateLog, rows);
    },
    rewrite: async (rows) => {
      await insertMissing(db, agentStateLog, rows, ['tenantId', 'agentId', 'startedAt', 'state']);
    },
    spill: spill && {
      redis: spill.redis,
      key: `${spill.prefix}:spill:agent_state_log`,
      leaseMs: spill.leaseMs,
      hooks: spill.hooks,
      revive: (r) => ({ ...r, startedAt: new Date(r.startedAt), endedAt: new Date(r.endedAt) }),
    },
  });
}

export interface StateTotal {
  agentId: string;
  state: string;
  /** '' for states without a reason */
  reason: string;
  totalMs: number;
  periods: number;
}

/**
 * Time per agent, state and reason within one calendar day in `timezone`; periods crossing midnight are
 * clipped to the day. Not-ready time by reason (seed 002 (6)) is the rows with state 'not_ready'.
 */
export async function stateTotalsForDay(
  pool: pg.Pool,
  tenantId: string,
  day: string,
  opts: { timezone?: string; agentId?: string; state?: string } = {},
): Promise<StateTotal[]> {
  const { rows } = await pool.query<{ agent_id: string; state: string; reason: string; total_ms: string; periods: number }>(
    `with bounds as (
       select ($2::date)::timestamp at time zone $3 as d0,
              ($2::date + 1)::timestamp at time zone $3 as d1
     )
     select agent_id, state, coalesce(reason, '') as reason,
            round(sum(extract(epoch from (least(ended_at, d1) - greatest(started_at, d0))) * 1000))::bigint as total_ms,
            count(*)::int as periods
       from agent_state_log, bounds
      where tenant_id = $1 and started_at < d1 and ended_at > d0
        and ($4::uuid is null or agent_id = $4::uuid)
        and ($5::text is null or state = $5::text)
      group by agent_id, state, coalesce(reason, '')
      order by agent_id, state, reason`,
    [tenantId, day, opts.timezone ?? 'Asia/Shanghai', opts.agentId ?? null, opts.state ?? null],
  );
  return rows.map((r) => ({ agentId: r.agent_id, state: r.state, reason: r.reason, totalMs: Number(r.total_ms), periods: r.periods }));
}
