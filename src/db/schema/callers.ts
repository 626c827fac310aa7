// The caller directory behind the agent's screen pop (registered citizens and enterprises), and the agents' text
// messages (seed 002 (5)), kept so an agent can read the day's history after reconnecting.
import { sql } from 'drizzle-orm';
import { pgTable, text, uuid, boolean, timestamp, bigserial, index, uniqueIndex, check } from 'drizzle-orm/pg-core';
import { tenants } from './core.js';

export const CALLER_KINDS = ['citizen', 'enterprise'] as const;
export type CallerKind = (typeof CALLER_KINDS)[number];

export const callers = pgTable(
  'callers',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    /** the number as the switch presents it (caller id) */
    number: text('number').notNull(),
    name: text('name').notNull(),
    address: text('address'),
    kind: text('kind', { enum: CALLER_KINDS }).notNull().default('citizen'),
    /** VIP callers get the group's priority boost */
    vip: boolean('vip').notNull().default(false),
    /** when the citizen or enterprise registered with the center (shown in the screen pop, seed 002 (1)) */
    registeredAt: timestamp('registered_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('callers_tenant_number_uq').on(t.tenantId, t.number),
    check('callers_kind_ck', sql`${t.kind} in ('citizen','enterprise')`),
  ],
);

export const MESSAGE_TARGETS = ['agent', 'group', 'all'] as const;
export type MessageTarget = (typeof MESSAGE_TARGETS)[number];

/** One text message; `to_kind` says whether it went to one agent, a skill group's members or the whole center. */
export const agentMessages = pgTable(
  'agent_messages',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    /** users.id of the sender; no FK so the history outlives a deleted user */
    fromUserId: uuid('from_user_id').notNull(),
    /** the sender's name when sent (the history shows it even after a rename) */
    fromName: text('from_name').notNull(),
    toKind: text('to_kind', { enum: MESSAGE_TARGETS }).notNull(),
    toAgentId: uuid('to_agent_id'),
    toGroupId: uuid('to_group_id'),
    text: text('text').notNull(),
    sentAt: timestamp('sent_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (t) => [
    index('agent_messages_tenant_sent_idx').on(t.tenantId, t.sentAt),
    index('agent_messages_to_agent_idx').on(t.tenantId, t.toAgentId, t.sentAt),
    check('agent_messages_to_kind_ck', sql`${t.toKind} in ('agent','group','all')`),
  ],
);

export type CallerRow = typeof callers.$inferSelect;
export type AgentMessageRow = typeof agentMessages.$inferSelect;
