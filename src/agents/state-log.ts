// Agent state periods in PostgreSQL: written in batches as they end, totalled per agent per day.
import type pg from 'pg';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import { sql } from 'drizzle-orm';
import { agentStateLog, agentCurrentState, type AgentStateLogRow, type AgentCurrentStateRow } from '../db/schema/index.js';
import { BatchedWriter, type SpillOptions } from '../acd/batched-writer.js';
import { insertMissing } from '../db/insert-missing.js';
import { bulkInsert } from '../db/bulk-insert.js';

/**
 * A change of an agent's current state (one transition, or the endpoint chosen at sign-in). Fields left out are
 * kept as stored; `state` undefined = endpoint-only change (a new phone chosen while signed in).
 */
export type AgentCurrentStateUpdate = Partial<Omit<AgentCurrentStateRow, 'updatedAt' | 'since'>> & {
  redisPrefix: string;
  agentId: string;
  tenantId: string;
  since: Date;
};

/** One row of the agent-state writer: an ended period for the log, or a current-state update. */
export type AgentStateRecord = AgentStateLogRow | ({ kind: 'current' } & AgentCurrentStateUpdate);

function isCurrent(r: AgentStateRecord): r is { kind: 'current' } & AgentCurrentStateUpdate {
  return (r as { kind?: string }).kind === 'current';
}

/** Several updates of one agent in a batch become one upsert row (PostgreSQL updates a row once per statement). */
export function mergeCurrentUpdates(updates: AgentCurrentStateUpdate[]): AgentCurrentStateUpdate[] {
  const byAgent = new Map<string, AgentCurrentStateUpdate>();
  for (const u of updates) {
    const key = `${u.redisPrefix}|${u.agentId}`;
    const prev = byAgent.get(key);
    if (!prev) {
      byAgent.set(key, { ...u });
      continue;
    }
    const merged: AgentCurrentStateUpdate = { ...prev };
    for (const [k, v] of Object.entries(u)) if (v !== undefined) (merged as Record<string, unknown>)[k] = v;
    // an endpoint-only update does not move the state's start
    if (u.state === undefined) merged.since = prev.since;
    byAgent.set(key, merged);
  }
  return [...byAgent.values()];
}

const keepIfNull = (col: string) => `${col} = coalesce(excluded.${col}, agent_current_state.${col})`;
const newerWins = (col: string) => `${col} = case when excluded.since >= agent_current_state.since then excluded.${col} else agent_current_state.${col} end`;
/**
 * How an update merges into the stored row: a row with a state carries the whole state (reason and call included,
 * null = none) and wins only if it is not older; endpoint fields are kept where the update leaves them out.
 */
const CURRENT_STATE_MERGE = [
  'tenant_id = excluded.tenant_id',
  ...['state', 'reason', 'call_uuid', 'owner_node'].map(newerWins),
  'since = greatest(excluded.since, agent_current_state.since)',
  ...['endpoint_type', 'endpoint_address', 'confirm_key', 'gateway', 'extension', 'auto_answer'].map(keepIfNull),
  'updated_at = now()',
].join(', ');

/** Upsert current states; an update older than the stored state (another node's batch was later) loses. */
export async function upsertCurrentStates(db: Db, updates: AgentCurrentStateUpdate[]): Promise<void> {
  if (updates.length === 0) return;
  const rows = mergeCurrentUpdates(updates).map((u) => ({
    redisPrefix: u.redisPrefix,
    agentId: u.agentId,
    tenantId: u.tenantId,
    // endpoint-only update of an unknown agent: stored signed out until a transition says otherwise
    state: u.state ?? 'logged_out',
    reason: u.reason ?? null,
    // endpoint-only: oldest possible, so the stored state (and its start) is kept
    since: u.state === undefined ? new Date(0) : u.since,
    callUuid: u.callUuid,
    ownerNode: u.ownerNode,
    endpointType: u.endpointType,
    endpointAddress: u.endpointAddress,
    confirmKey: u.confirmKey,
    gateway: u.gateway,
    extension: u.extension,
    autoAnswer: u.autoAnswer,
  }));
  await bulkInsert(db, agentCurrentState, rows, { onConflictDoUpdate: { target: ['redisPrefix', 'agentId'], set: CURRENT_STATE_MERGE } });
}

/**
 * The agent-state writer: ended periods for agent_state_log and current-state updates for agent_current_state,
 * in the same batches (no extra PostgreSQL round trip per transition).
 * spill: a Redis connection and key prefix for batches PostgreSQL refused (kept across restarts)
 */
export function createAgentStateLogWriter(
  db: Db,
  log?: Logger,
  spill?: { redis: Redis; prefix: string } & Pick<SpillOptions<AgentStateRecord>, 'leaseMs' | 'hooks'>,
): BatchedWriter<AgentStateRecord> {
  const split = (rows: AgentStateRecord[]) => {
    const periods: AgentStateLogRow[] = [];
    const current: AgentCurrentStateUpdate[] = [];
    for (const r of rows) {
      if (isCurrent(r)) {
        const { kind: _, ...u } = r;
        current.push(u);
      } else periods.push(r);
    }
    return { periods, current };
  };
  return new BatchedWriter<AgentStateRecord>({
    name: 'agent_state_log',
    log,
    write: async (rows) => {
      const { periods, current } = split(rows);
      if (periods.length) await bulkInsert(db, agentStateLog, periods);
      await upsertCurrentStates(db, current);
    },
    // the upsert is idempotent; periods a failed attempt stored are skipped
    rewrite: async (rows) => {
      const { periods, current } = split(rows);
      if (periods.length) await insertMissing(db, agentStateLog, periods, ['tenantId', 'agentId', 'startedAt', 'state']);
      await upsertCurrentStates(db, current);
    },
    spill: spill && {
      redis: spill.redis,
      key: `${spill.prefix}:spill:agent_state_log`,
      leaseMs: spill.leaseMs,
      hooks: spill.hooks,
      // batches spilled before current states existed hold periods only
      revive: (r) =>
        isCurrent(r) ? { ...r, since: new Date(r.since) } : { ...r, startedAt: new Date(r.startedAt), endedAt: new Date(r.endedAt) },
    },
  });
}

/** Agents not signed out, as last stored: the routing rebuild's source when Redis lost its data. */
export async function loadSignedInAgents(db: Db, redisPrefix: string): Promise<AgentCurrentStateRow[]> {
  return db
    .select()
    .from(agentCurrentState)
    .where(sql`${agentCurrentState.redisPrefix} = ${redisPrefix} and ${agentCurrentState.state} <> 'logged_out'`);
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
