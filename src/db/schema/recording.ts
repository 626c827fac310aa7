// Call recordings (src/recording): one row per recorded agent leg, its pause/resume marks, and who played or
// downloaded it. Files live under RECORDINGS_DIR; paths here are relative to it, so the directory can move.
import { sql } from 'drizzle-orm';
import { pgTable, text, uuid, integer, smallint, bigint, timestamp, bigserial, index, check } from 'drizzle-orm/pg-core';
import { tenants, users } from './core.js';

/**
 * recording: uuid_record started, no RECORD_STOP yet · stopped: the WAV is final (compression pending or failed) ·
 * compressed: the compressed file is verified and the WAV deleted · failed: the switch refused to record
 */
export const RECORDING_STATUSES = ['recording', 'stopped', 'compressed', 'failed'] as const;
export type RecordingStatus = (typeof RECORDING_STATUSES)[number];

export const recordings = pgTable(
  'recordings',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    /** the call (caller leg UUID = cdrs.call_uuid) */
    callUuid: text('call_uuid').notNull(),
    /** the channel uuid_record runs on */
    legUuid: text('leg_uuid').notNull(),
    agentId: uuid('agent_id'),
    groupId: uuid('group_id'),
    direction: text('direction').notNull().default('inbound'),
    callerNumber: text('caller_number'),
    calleeNumber: text('callee_number'),
    fsNode: text('fs_node'),
    startedAt: timestamp('started_at', { withTimezone: true }).notNull(),
    endedAt: timestamp('ended_at', { withTimezone: true }),
    /** from the switch's record_ms when it reports it, else ended - started */
    durationMs: integer('duration_ms'),
    /** size of the WAV as the switch wrote it */
    sizeBytes: bigint('size_bytes', { mode: 'number' }),
    /** relative to RECORDINGS_DIR; the file is gone once status = compressed */
    wavPath: text('wav_path').notNull(),
    compressedPath: text('compressed_path'),
    compressedSizeBytes: bigint('compressed_size_bytes', { mode: 'number' }),
    /** format of the file playback serves: wav until compressed, then opus */
    format: text('format').notNull().default('wav'),
    status: text('status', { enum: RECORDING_STATUSES }).notNull().default('recording'),
    /** 2 = RECORD_STEREO (caller left, agent right) */
    channels: smallint('channels').notNull().default(2),
    compressAttempts: integer('compress_attempts').notNull().default(0),
    compressError: text('compress_error'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('recordings_tenant_started_idx').on(t.tenantId, t.startedAt),
    index('recordings_tenant_agent_started_idx').on(t.tenantId, t.agentId, t.startedAt),
    index('recordings_tenant_group_started_idx').on(t.tenantId, t.groupId, t.startedAt),
    index('recordings_tenant_caller_idx').on(t.tenantId, t.callerNumber),
    index('recordings_tenant_callee_idx').on(t.tenantId, t.calleeNumber),
    index('recordings_call_idx').on(t.callUuid),
    index('recordings_leg_idx').on(t.legUuid),
    check('recordings_status_ck', sql`${t.status} in ('recording', 'stopped', 'compressed', 'failed')`),
  ],
);

export const RECORDING_MARK_KINDS = ['pause', 'resume'] as const;
export type RecordingMarkKind = (typeof RECORDING_MARK_KINDS)[number];

/** Pause/resume for sensitive moments (a card number): who, when, and where in the file (masked = silence). */
export const recordingMarks = pgTable(
  'recording_marks',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    recordingId: uuid('recording_id')
      .notNull()
      .references(() => recordings.id, { onDelete: 'cascade' }),
    kind: text('kind', { enum: RECORDING_MARK_KINDS }).notNull(),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
    /** position in the recording (ms from its start) */
    offsetMs: integer('offset_ms').notNull(),
    userId: uuid('user_id').references(() => users.id, { onDelete: 'set null' }),
    reason: text('reason'),
  },
  (t) => [
    index('recording_marks_recording_idx').on(t.recordingId, t.at),
    check('recording_marks_kind_ck', sql`${t.kind} in ('pause', 'resume')`),
  ],
);

export const RECORDING_AUDIT_ACTIONS = ['play', 'download'] as const;
export type RecordingAuditAction = (typeof RECORDING_AUDIT_ACTIONS)[number];

/** Every playback and download of a recording. */
export const recordingAudit = pgTable(
  'recording_audit',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    recordingId: uuid('recording_id')
      .notNull()
      .references(() => recordings.id, { onDelete: 'cascade' }),
    userId: uuid('user_id').references(() => users.id, { onDelete: 'set null' }),
    action: text('action', { enum: RECORDING_AUDIT_ACTIONS }).notNull(),
    /** the Range header asked for, when any */
    range: text('range'),
    ip: text('ip'),
    userAgent: text('user_agent'),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('recording_audit_recording_idx').on(t.recordingId, t.at),
    index('recording_audit_tenant_at_idx').on(t.tenantId, t.at),
    check('recording_audit_action_ck', sql`${t.action} in ('play', 'download')`),
  ],
);

export type Recording = typeof recordings.$inferSelect;
export type NewRecording = typeof recordings.$inferInsert;
export type RecordingMark = typeof recordingMarks.$inferSelect;
export type RecordingAuditEntry = typeof recordingAudit.$inferSelect;
