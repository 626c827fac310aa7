// Reading recordings: the tenant-scoped search behind GET /recordings, and the public shape of a row.
import { and, count, desc, eq, gte, lte, or, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { recordings, recordingMarks, type Recording, type RecordingStatus } from '../db/schema/recording.js';
import { tenantScope } from '../db/schema/core.js';

export interface RecordingSearch {
  /** started at or after */
  from?: Date;
  /** started before or at */
  to?: Date;
  /** caller or callee */
  number?: string;
  caller?: string;
  callee?: string;
  agentId?: string;
  groupId?: string;
  callUuid?: string;
  minDurationMs?: number;
  maxDurationMs?: number;
  status?: RecordingStatus;
  /** 1-based */
  page?: number;
  pageSize?: number;
}

/** What leaves the server about a recording: no file system paths. */
export interface PublicRecording {
  id: string;
  callUuid: string;
  legUuid: string;
  agentId: string | null;
  groupId: string | null;
  direction: string;
  callerNumber: string | null;
  calleeNumber: string | null;
  startedAt: string;
  endedAt: string | null;
  durationMs: number | null;
  sizeBytes: number | null;
  compressedSizeBytes: number | null;
  format: string;
  status: RecordingStatus;
  channels: number;
}

export function toPublicRecording(r: Recording): PublicRecording {
  return {
    id: r.id,
    callUuid: r.callUuid,
    legUuid: r.legUuid,
    agentId: r.agentId,
    groupId: r.groupId,
    direction: r.direction,
    callerNumber: r.callerNumber,
    calleeNumber: r.calleeNumber,
    startedAt: r.startedAt.toISOString(),
    endedAt: r.endedAt?.toISOString() ?? null,
    durationMs: r.durationMs,
    sizeBytes: r.sizeBytes,
    compressedSizeBytes: r.compressedSizeBytes,
    format: r.format,
    status: r.status,
    channels: r.channels,
  };
}

export async function searchRecordings(
  db: Db,
  tenantId: string,
  q: RecordingSearch,
): Promise<{ items: PublicRecording[]; total: number; page: number; pageSize: number }> {
  const page = Math.max(1, q.page ?? 1);
  const pageSize = Math.min(200, Math.max(1, q.pageSize ?? 20));
  const conditions: (SQL | undefined)[] = [
    q.from ? gte(recordings.startedAt, q.from) : undefined,
    q.to ? lte(recordings.startedAt, q.to) : undefined,
    q.number ? or(eq(recordings.callerNumber, q.number), eq(recordings.calleeNumber, q.number)) : undefined,
    q.caller ? eq(recordings.callerNumber, q.caller) : undefined,
    q.callee ? eq(recordings.calleeNumber, q.callee) : undefined,
    q.agentId ? eq(recordings.agentId, q.agentId) : undefined,
    q.groupId ? eq(recordings.groupId, q.groupId) : undefined,
    q.callUuid ? eq(recordings.callUuid, q.callUuid) : undefined,
    q.minDurationMs !== undefined ? gte(recordings.durationMs, q.minDurationMs) : undefined,
    q.maxDurationMs !== undefined ? lte(recordings.durationMs, q.maxDurationMs) : undefined,
    q.status ? eq(recordings.status, q.status) : undefined,
  ];
  const where = tenantScope(recordings.tenantId, tenantId, ...conditions);
  const [rows, totals] = await Promise.all([
    db
      .select()
      .from(recordings)
      .where(where)
      .orderBy(desc(recordings.startedAt), desc(recordings.id))
      .limit(pageSize)
      .offset((page - 1) * pageSize),
    db.select({ n: count() }).from(recordings).where(where),
  ]);
  return { items: rows.map(toPublicRecording), total: totals[0]?.n ?? 0, page, pageSize };
}

export async function getRecording(db: Db, tenantId: string, id: string): Promise<Recording | null> {
  const rows = await db.select().from(recordings).where(tenantScope(recordings.tenantId, tenantId, eq(recordings.id, id))).limit(1);
  return rows[0] ?? null;
}

export async function listMarks(db: Db, tenantId: string, recordingId: string) {
  return db
    .select({ kind: recordingMarks.kind, at: recordingMarks.at, offsetMs: recordingMarks.offsetMs, userId: recordingMarks.userId, reason: recordingMarks.reason })
    .from(recordingMarks)
    .where(and(eq(recordingMarks.tenantId, tenantId), eq(recordingMarks.recordingId, recordingId)))
    .orderBy(recordingMarks.at, recordingMarks.id);
}
