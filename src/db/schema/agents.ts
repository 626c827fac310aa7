// Agent state history: one row per finished period (state held from started_at to ended_at), so not-ready time
// by reason can be totalled per agent per day. Rows are written when a period ends, in batches.
import { pgTable, text, uuid, timestamp, bigserial, bigint, index } from 'drizzle-orm/pg-core';
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
