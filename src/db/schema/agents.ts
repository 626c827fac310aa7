// Agent state history: one row per finished period (state held from started_at to ended_at), so not-ready time
// by reason can be totalled per agent per day. Rows are written when a period ends, in batches.
import { pgTable, text, uuid, timestamp, bigserial, bigint, boolean, index, primaryKey } from 'drizzle-orm/pg-core';
import { tenants } from './core.js';

export const agentStateLog = pgTable(
  'agent_state_log',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    /** users.id; no FK so the history outlives a deleted user */
    agentId: uuid('agent_id').notNull(),
    state: text('state').notNull(),
    /** not_ready reason (小休, 就餐, 培训, 会议, 忙碌, 未接, 话机离线 …); empty otherwise */
    reason: text('reason'),
    startedAt: timestamp('started_at', { withTimezone: true, precision: 3 }).notNull(),
    endedAt: timestamp('ended_at', { withTimezone: true, precision: 3 }).notNull(),
    durationMs: bigint('duration_ms', { mode: 'number' }).notNull(),
  },
  (t) => [
    index('agent_state_log_agent_idx').on(t.tenantId, t.agentId, t.startedAt),
    index('agent_state_log_tenant_idx').on(t.tenantId, t.startedAt),
  ],
);

export type AgentStateLogRow = typeof agentStateLog.$inferInsert;

/**
 * Each agent's CURRENT state (one row per agent, upserted in the state-log writer's batches): who is signed in,
 * ready / not ready with which reason, on which phone or mobile number, with auto-answer or not. Redis holds the
 * live state; this is what routing is rebuilt from when Redis lost its data while the CTI restarted too.
 */
export const agentCurrentState = pgTable(
  'agent_current_state',
  {
    /** the routing state's Redis key prefix: deployments (or test runs) sharing one database stay apart */
    redisPrefix: text('redis_prefix').notNull(),
    /** users.id; no FK, like the log */
    agentId: uuid('agent_id').notNull(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    state: text('state').notNull(),
    reason: text('reason'),
    since: timestamp('since', { withTimezone: true, precision: 3 }).notNull(),
    /** reserved/ringing/talking: the call and the CTI node that owns it (to free a reservation its owner left) */
    callUuid: text('call_uuid'),
    ownerNode: text('owner_node'),
    /** the endpoint chosen at sign-in for this shift */
    endpointType: text('endpoint_type'),
    endpointAddress: text('endpoint_address'),
    confirmKey: text('confirm_key'),
    gateway: text('gateway'),
    extension: text('extension'),
    autoAnswer: boolean('auto_answer'),
    updatedAt: timestamp('updated_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.redisPrefix, t.agentId] }), index('agent_current_state_tenant_idx').on(t.tenantId, t.state)],
);

export type AgentCurrentStateRow = typeof agentCurrentState.$inferSelect;
