// ACD tables: skill groups (queues) per center, their members, the agents' reachable endpoints, and the queue
// event log the paid KPIs (人工接通率, 20秒接通率, 呼损率) are computed from. Routing state itself lives in Redis.
import { sql } from 'drizzle-orm';
import {
  pgTable,
  text,
  uuid,
  integer,
  smallint,
  boolean,
  doublePrecision,
  timestamp,
  jsonb,
  bigserial,
  index,
  uniqueIndex,
  primaryKey,
  check,
} from 'drizzle-orm/pg-core';
import { tenants, users } from './core.js';

export const ACD_STRATEGIES = [
  'longest_idle',
  'round_robin',
  'ring_all',
  'fewest_calls',
  'sequential',
  'random',
  'best_proficiency',
] as const;
export type AcdStrategy = (typeof ACD_STRATEGIES)[number];

export const OVERFLOW_KINDS = ['group', 'voicemail', 'callback', 'goodbye'] as const;
export type OverflowKind = (typeof OVERFLOW_KINDS)[number];

/** Where a caller goes when a queue limit is hit. `group` needs groupId; `goodbye` plays prompt then hangs up. */
export interface OverflowTarget {
  kind: OverflowKind;
  groupId?: string;
  prompt?: string;
}

export const skillGroups = pgTable(
  'skill_groups',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    name: text('name').notNull(),
    /** short reference IVR flows use (`skillGroup: consult`); unique per tenant */
    code: text('code'),
    strategy: text('strategy', { enum: ACD_STRATEGIES }).notNull().default('longest_idle'),
    /** added to every call's priority in this group; compared across groups for agents in several */
    priority: integer('priority').notNull().default(0),
    /** priority points a waiting call gains per second, so long waiters overtake newer high-priority calls */
    agingRate: doublePrecision('aging_rate').notNull().default(0),
    vipBoost: integer('vip_boost').notNull().default(10),
    musicOnHold: text('music_on_hold'),
    /** 0 = no position / estimated-wait announcements */
    announceIntervalMs: integer('announce_interval_ms').notNull().default(0),
    /** null = no limit */
    maxWaitMs: integer('max_wait_ms'),
    overflowOnWait: jsonb('overflow_on_wait').$type<OverflowTarget>(),
    maxQueueLength: integer('max_queue_length'),
    overflowOnLength: jsonb('overflow_on_length').$type<OverflowTarget>(),
    noAnswerTimeoutMs: integer('no_answer_timeout_ms').notNull().default(20_000),
    /** after-call work in ms (never rounded to seconds) */
    wrapUpMs: integer('wrap_up_ms').notNull().default(10_000),
    /** 首问负责制: offer a returning caller to their previous agent first */
    previousAgentEnabled: boolean('previous_agent_enabled').notNull().default(true),
    previousAgentWindowMs: integer('previous_agent_window_ms').notNull().default(7 * 24 * 3600 * 1000),
    /** how long to wait for a busy previous agent before falling back to the group */
    previousAgentWaitMs: integer('previous_agent_wait_ms').notNull().default(30_000),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('skill_groups_tenant_name_uq').on(t.tenantId, t.name),
    uniqueIndex('skill_groups_tenant_code_uq').on(t.tenantId, t.code).where(sql`${t.code} is not null`),
    check(
      'skill_groups_strategy_ck',
      sql`${t.strategy} in ('longest_idle','round_robin','ring_all','fewest_calls','sequential','random','best_proficiency')`,
    ),
    check('skill_groups_aging_ck', sql`${t.agingRate} >= 0`),
  ],
);

export const skillGroupMembers = pgTable(
  'skill_group_members',
  {
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    groupId: uuid('group_id')
      .notNull()
      .references(() => skillGroups.id, { onDelete: 'cascade' }),
    agentId: uuid('agent_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** 1 (novice) to 5 (expert); used by best_proficiency */
    proficiency: smallint('proficiency').notNull().default(3),
    /** order for sequential (top-down) and round-robin */
    position: integer('position').notNull().default(0),
  },
  (t) => [
    primaryKey({ columns: [t.groupId, t.agentId] }),
    index('skill_group_members_agent_idx').on(t.tenantId, t.agentId),
    check('skill_group_members_proficiency_ck', sql`${t.proficiency} between 1 and 5`),
  ],
);

export const AGENT_ENDPOINT_TYPES = ['sip', 'mobile'] as const;
export type AgentEndpointType = (typeof AGENT_ENDPOINT_TYPES)[number];

/** The phones an agent may sign in with for a shift: a desk SIP extension or a mobile number (移动终端座席). */
export const agentEndpoints = pgTable(
  'agent_endpoints',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    agentId: uuid('agent_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    type: text('type', { enum: AGENT_ENDPOINT_TYPES }).notNull(),
    /** SIP user (extension) or the mobile number */
    address: text('address').notNull(),
    /** mobile only: carrier gateway name used to reach the number */
    gateway: text('gateway'),
    /** mobile only: the key the agent presses to accept (group_confirm_key), so voicemail cannot take the call */
    confirmKey: text('confirm_key'),
    isDefault: boolean('is_default').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('agent_endpoints_uq').on(t.tenantId, t.agentId, t.type, t.address),
    check('agent_endpoints_type_ck', sql`${t.type} in ('sip','mobile')`),
  ],
);

export const QUEUE_EVENT_TYPES = [
  'enqueue',
  'offer',
  'answer',
  'no_answer',
  'reject',
  'abandon',
  'overflow',
  'transfer',
  'complete',
] as const;
export type QueueEventType = (typeof QUEUE_EVENT_TYPES)[number];

/** Append-only; written in batches off the routing path. agent_id has no FK so history outlives deleted users. */
export const queueEvents = pgTable(
  'queue_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    at: timestamp('at', { withTimezone: true, precision: 3 }).notNull(),
    type: text('type', { enum: QUEUE_EVENT_TYPES }).notNull(),
    callUuid: text('call_uuid').notNull(),
    groupId: uuid('group_id'),
    agentId: uuid('agent_id'),
    callerNumber: text('caller_number'),
    /** ms since the call entered the queue (answer, abandon, overflow, no_answer) */
    waitMs: integer('wait_ms'),
    /** ms of talk (complete) */
    talkMs: integer('talk_ms'),
    detail: jsonb('detail').$type<Record<string, unknown>>(),
  },
  (t) => [
    index('queue_events_tenant_at_idx').on(t.tenantId, t.at),
    index('queue_events_group_at_idx').on(t.tenantId, t.groupId, t.at),
    index('queue_events_agent_at_idx').on(t.tenantId, t.agentId, t.at),
    index('queue_events_caller_idx').on(t.tenantId, t.callerNumber, t.at),
    check('queue_events_type_ck', sql`${t.type} in ('enqueue','offer','answer','no_answer','reject','abandon','overflow','transfer','complete')`),
  ],
);

export type SkillGroupRow = typeof skillGroups.$inferSelect;
export type NewSkillGroupRow = typeof skillGroups.$inferInsert;
export type SkillGroupMemberRow = typeof skillGroupMembers.$inferSelect;
export type AgentEndpointRow = typeof agentEndpoints.$inferSelect;
export type QueueEventRow = typeof queueEvents.$inferInsert;
