// IVR-side records: voicemails (after-hours complaints), keypress surveys, the malicious-number blacklist with its
// hits and agent proposals, and the per-center working calendar edited through the admin API.
import { sql } from 'drizzle-orm';
import {
  pgTable,
  text,
  uuid,
  integer,
  boolean,
  timestamp,
  jsonb,
  bigserial,
  date,
  index,
  uniqueIndex,
  primaryKey,
  check,
} from 'drizzle-orm/pg-core';
import { tenants } from './core.js';

/** A message recorded by a `voicemail` node; supervisors list and play them. */
export const voicemails = pgTable(
  'voicemails',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    callUuid: text('call_uuid').notNull(),
    callerNumber: text('caller_number').notNull(),
    /** the number the citizen dialled (12345, 96xxx) */
    destination: text('destination'),
    flowId: text('flow_id').notNull(),
    nodeId: text('node_id').notNull(),
    /** what the node said the message is, e.g. 投诉举报 */
    category: text('category'),
    startedAt: timestamp('started_at', { withTimezone: true }).notNull(),
    durationMs: integer('duration_ms').notNull(),
    filePath: text('file_path').notNull(),
    sizeBytes: integer('size_bytes').notNull(),
    endedBy: text('ended_by').notNull(),
    listenedAt: timestamp('listened_at', { withTimezone: true }),
    listenedBy: text('listened_by'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('voicemails_tenant_started_idx').on(t.tenantId, t.startedAt)],
);

/** One keypress rating (按键满意度) stored against the call. */
export const surveyResults = pgTable(
  'survey_results',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    callUuid: text('call_uuid').notNull(),
    callerNumber: text('caller_number').notNull(),
    /** the survey's name in the flow, e.g. satisfaction */
    survey: text('survey').notNull(),
    key: text('key').notNull(),
    /** the option's label, e.g. 满意 */
    label: text('label').notNull(),
    /** the option's score when the flow gives one (KPI: satisfied-or-better ratio) */
    score: integer('score'),
    /** the agent the caller rated, when the call layer knows it (variable agent.id) */
    agentId: text('agent_id'),
    flowId: text('flow_id').notNull(),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('survey_results_tenant_at_idx').on(t.tenantId, t.at),
    uniqueIndex('survey_results_call_survey_uq').on(t.tenantId, t.callUuid, t.survey),
  ],
);

export const BLACKLIST_MATCH = ['exact', 'prefix'] as const;
export type BlacklistMatchKind = (typeof BLACKLIST_MATCH)[number];

/** 恶意号码: a number or a prefix whose calls are rejected before answer. */
export const blacklistEntries = pgTable(
  'blacklist_entries',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    /** normalised digits (no +86, no separators) */
    number: text('number').notNull(),
    match: text('match', { enum: BLACKLIST_MATCH }).notNull().default('exact'),
    reason: text('reason').notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true }),
    /** user id (or "system") of who added it */
    createdBy: text('created_by').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    hitCount: integer('hit_count').notNull().default(0),
    lastHitAt: timestamp('last_hit_at', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('blacklist_entries_tenant_number_uq').on(t.tenantId, t.match, t.number),
    check('blacklist_entries_match_ck', sql`${t.match} in ('exact', 'prefix')`),
  ],
);

/** Every rejected call, for the log a supervisor reads. */
export const blacklistHits = pgTable(
  'blacklist_hits',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    entryId: uuid('entry_id').references(() => blacklistEntries.id, { onDelete: 'set null' }),
    callerNumber: text('caller_number').notNull(),
    callUuid: text('call_uuid'),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('blacklist_hits_tenant_at_idx').on(t.tenantId, t.at)],
);

export const PROPOSAL_STATUS = ['pending', 'approved', 'rejected'] as const;
export type BlacklistProposalStatus = (typeof PROPOSAL_STATUS)[number];

/** An agent flags a caller; a supervisor (or admin) approves it into the blacklist or rejects it. */
export const blacklistProposals = pgTable(
  'blacklist_proposals',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    number: text('number').notNull(),
    match: text('match', { enum: BLACKLIST_MATCH }).notNull().default('exact'),
    reason: text('reason').notNull(),
    callUuid: text('call_uuid'),
    proposedBy: text('proposed_by').notNull(),
    proposedAt: timestamp('proposed_at', { withTimezone: true }).notNull().defaultNow(),
    /** how long the entry should last once approved; null = no expiry */
    expiresInDays: integer('expires_in_days'),
    status: text('status', { enum: PROPOSAL_STATUS }).notNull().default('pending'),
    decidedBy: text('decided_by'),
    decidedAt: timestamp('decided_at', { withTimezone: true }),
    decisionNote: text('decision_note'),
    entryId: uuid('entry_id').references(() => blacklistEntries.id, { onDelete: 'set null' }),
  },
  (t) => [
    index('blacklist_proposals_tenant_status_idx').on(t.tenantId, t.status),
    check('blacklist_proposals_status_ck', sql`${t.status} in ('pending', 'approved', 'rejected')`),
  ],
);

/** Per-tenant blacklist policy: who may edit the list (seed 002 (9)). */
export const blacklistSettings = pgTable('blacklist_settings', {
  tenantId: text('tenant_id')
    .primaryKey()
    .references(() => tenants.id),
  /** 'admin' or 'admin+supervisor' */
  editors: text('editors').notNull().default('admin+supervisor'),
  updatedBy: text('updated_by'),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

/** The center's weekly hours as edited through the admin API; overrides ivr-flows/calendar/<tenant>.yaml. */
export const calendarSettings = pgTable('calendar_settings', {
  tenantId: text('tenant_id')
    .primaryKey()
    .references(() => tenants.id),
  timezone: text('timezone').notNull().default('Asia/Shanghai'),
  /** { mon: ["08:00-12:00", ...], ... } */
  weekly: jsonb('weekly').$type<Record<string, string[]>>().notNull(),
  /** follow the State Council holiday/调休 calendar (chinese-days) */
  official: boolean('official').notNull().default(true),
  /** hours on a 调休 make-up working day; null = Monday's hours */
  makeUpDayHours: jsonb('make_up_day_hours').$type<string[]>(),
  updatedBy: text('updated_by'),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

export const CALENDAR_DAY_KINDS = ['holiday', 'workday', 'closed'] as const;

/** A date-specific exception: an extra holiday, an extra working day (with its hours) or a closed day. */
export const calendarOverrides = pgTable(
  'calendar_overrides',
  {
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    day: date('day', { mode: 'string' }).notNull(),
    kind: text('kind', { enum: CALENDAR_DAY_KINDS }).notNull(),
    name: text('name'),
    /** working intervals on a workday; null = the make-up-day hours */
    hours: jsonb('hours').$type<string[]>(),
    updatedBy: text('updated_by'),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.day] }),
    check('calendar_overrides_kind_ck', sql`${t.kind} in ('holiday', 'workday', 'closed')`),
  ],
);

export type Voicemail = typeof voicemails.$inferSelect;
export type SurveyResult = typeof surveyResults.$inferSelect;
export type BlacklistEntry = typeof blacklistEntries.$inferSelect;
export type BlacklistProposal = typeof blacklistProposals.$inferSelect;
export type CalendarOverride = typeof calendarOverrides.$inferSelect;
