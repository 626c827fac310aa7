// Call detail records and the per-leg event log, written by src/calls when a call ends.
// Both are idempotent on the call: cdrs by call_uuid, call_leg_events by (call_uuid, seq), so a CDR replayed from the
// Redis buffer or re-finalized after a CTI restart never duplicates.
import { sql } from 'drizzle-orm';
import { pgTable, text, uuid, integer, boolean, timestamp, jsonb, bigserial, index, uniqueIndex } from 'drizzle-orm/pg-core';
import { tenants } from './core.js';

export const HANGUP_SIDES = ['caller', 'agent', 'system', 'unknown'] as const;
export type HangupSide = (typeof HANGUP_SIDES)[number];

export const cdrs = pgTable(
  'cdrs',
  {
    /** the caller leg's channel UUID: one CDR per call */
    callUuid: text('call_uuid').primaryKey(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    direction: text('direction').notNull().default('inbound'),
    callerNumber: text('caller_number'),
    calleeNumber: text('callee_number'),
    /** the hotline number dialled (12345, 96xxx) */
    did: text('did'),
    startAt: timestamp('start_at', { withTimezone: true }).notNull(),
    answerAt: timestamp('answer_at', { withTimezone: true }),
    queueEnterAt: timestamp('queue_enter_at', { withTimezone: true }),
    queueLeaveAt: timestamp('queue_leave_at', { withTimezone: true }),
    agentAnswerAt: timestamp('agent_answer_at', { withTimezone: true }),
    endAt: timestamp('end_at', { withTimezone: true }).notNull(),
    durationMs: integer('duration_ms').notNull(),
    /** end - agent answer, 0 when no agent answered */
    talkMs: integer('talk_ms').notNull().default(0),
    holdMs: integer('hold_ms').notNull().default(0),
    /** time in queue (queue leave or end - queue enter) */
    queueMs: integer('queue_ms').notNull().default(0),
    hangupCause: text('hangup_cause'),
    hangupSide: text('hangup_side', { enum: HANGUP_SIDES }).notNull().default('unknown'),
    /** the session state when the call ended (ringing = abandoned before answer, queued = abandoned in queue…) */
    finalState: text('final_state').notNull(),
    agentId: uuid('agent_id'),
    skillGroupId: uuid('skill_group_id'),
    recordingId: text('recording_id'),
    lastIvrNode: text('last_ivr_node'),
    ivrPath: jsonb('ivr_path').$type<string[]>().notNull().default(sql`'[]'::jsonb`),
    /** call variables kept for reports (satisfaction, business type, …) */
    variables: jsonb('variables').$type<Record<string, string>>().notNull().default(sql`'{}'::jsonb`),
    fsNode: text('fs_node'),
    ctiNode: text('cti_node'),
    /** true when the CDR was finalized after a CTI restart from the Redis record (end time approximate) */
    recovered: boolean('recovered').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('cdrs_tenant_start_idx').on(t.tenantId, t.startAt),
    index('cdrs_tenant_agent_start_idx').on(t.tenantId, t.agentId, t.startAt),
    index('cdrs_tenant_group_start_idx').on(t.tenantId, t.skillGroupId, t.startAt),
    index('cdrs_tenant_caller_idx').on(t.tenantId, t.callerNumber, t.startAt),
  ],
);

export const callLegEvents = pgTable(
  'call_leg_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    callUuid: text('call_uuid').notNull(),
    /** order within the call, from 0 */
    seq: integer('seq').notNull(),
    legUuid: text('leg_uuid').notNull(),
    /** caller, agent, consult, third-party, supervisor */
    role: text('role').notNull(),
    event: text('event').notNull(),
    at: timestamp('at', { withTimezone: true }).notNull(),
    details: jsonb('details').$type<Record<string, unknown>>(),
  },
  (t) => [
    uniqueIndex('call_leg_events_call_seq_uq').on(t.callUuid, t.seq),
    index('call_leg_events_tenant_at_idx').on(t.tenantId, t.at),
  ],
);

export type Cdr = typeof cdrs.$inferSelect;
export type NewCdr = typeof cdrs.$inferInsert;
export type CallLegEvent = typeof callLegEvents.$inferSelect;
export type NewCallLegEvent = typeof callLegEvents.$inferInsert;
