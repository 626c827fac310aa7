// Recording of agent calls over ESL (uuid_record), one row per recorded leg.
// - start: `uuid_setvar <leg> RECORD_STEREO true` (the leg's own voice on channel 1, its bridged partner on 2, as
//   trace 12b shows), then `uuid_record <leg> start <path>`; the row exists before the command, so a RECORD_STOP can
//   never arrive for an unknown recording.
// - pause/resume: `uuid_record <leg> mask|unmask <path>`. The switch (mod_commands.c, same build as the traces) writes
//   silence while masked, so the file keeps the call's timeline and the marks say where the gap is.
// - RECORD_START / RECORD_STOP finalize the row (duration, size) and queue the compression job. Every CTI node sees
//   the events; the conditional update lets exactly one of them finalize and enqueue.
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { and, desc, eq, isNull, lte, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import { isDatabaseUnavailable } from '../db/unavailable.js';
import { bulkInsert } from '../db/bulk-insert.js';
import { recordings, recordingMarks, type Recording } from '../db/schema/recording.js';
import { cdrs } from '../db/schema/calls.js';
import { tenantScope } from '../db/schema/core.js';
import type { EslCluster, EslNode, EslEvent } from '../esl/index.js';
import { writeAudit } from '../auth/audit.js';
import { relativeWavPath, resolveInside } from './paths.js';
import { readWavInfo } from './wav.js';

/** What the call layer knows when an agent answers. */
export interface RecordingTarget {
  /** the call (caller leg UUID, = cdrs.call_uuid) */
  callUuid: string;
  /** the channel to record: the agent's leg (its voice on channel 1, the caller on channel 2) */
  legUuid: string;
  tenantId: string;
  agentId?: string | null;
  groupId?: string | null;
  direction?: 'inbound' | 'outbound';
  callerNumber?: string | null;
  calleeNumber?: string | null;
}

/** Who asked for a pause/resume/stop (null userId = the system). */
export interface RecordingActor {
  userId?: string | null;
  reason?: string | null;
}

/** Queues a finished WAV for compression (RecordingCompressor implements it). */
export interface CompressionQueue {
  enqueue(recordingId: string, tenantId: string): Promise<void>;
}

export interface RecordingServiceOptions {
  db: Db;
  esl: EslCluster;
  /** RECORDINGS_DIR as this process sees it */
  recordingsDir: string;
  /** the same directory as FreeSWITCH sees it, when mounted elsewhere (default: recordingsDir) */
  switchRecordingsDir?: string;
  log: Logger;
  compression?: CompressionQueue;
  /** per ESL command (default 5000 ms) */
  commandTimeoutMs?: number;
  /** how long stop() waits for RECORD_STOP before finalizing from the file (default 3000 ms) */
  stopWaitMs?: number;
  /** RECORD_STEREO (default true) */
  stereo?: boolean;
  /** time zone of the date folders (default Asia/Shanghai) */
  timeZone?: string;
}

export type RecordingErrorCode = 'recording_not_found' | 'recording_not_active' | 'recording_already_paused' | 'recording_not_paused' | 'switch_refused';

/** A refusal the HTTP layer turns into a Chinese message (status in httpStatus). */
export class RecordingError extends Error {
  override name = 'RecordingError';
  constructor(
    readonly code: RecordingErrorCode,
    message: string,
    readonly httpStatus: number,
  ) {
    super(message);
  }
}

interface LiveRecording {
  id: string;
  tenantId: string;
  legUuid: string;
  node: EslNode;
  switchPath: string;
  startedAt: number;
  paused: boolean;
  stopped?: Promise<Recording | null>;
  onStop?: () => void;
}

export class RecordingService {
  private readonly log: Logger;
  private readonly live = new Map<string, LiveRecording>();
  /** recordings whose row insert is still in flight: their RECORD_START/STOP wait for it */
  private readonly rowInserts = new Map<string, Promise<unknown>>();
  /** recording folders known to exist (made by this process) */
  private readonly madeDirs = new Set<string>();
  /** switch path → recording id, for RECORD_* events */
  private readonly byPath = new Map<string, string>();
  /** rows of recordings started while PostgreSQL was down, inserted when it is back */
  private readonly unsavedRows = new Map<string, typeof recordings.$inferInsert>();
  private unsavedTimer: NodeJS.Timeout | null = null;
  private readonly onEvent = (ev: EslEvent): void => this.handleEvent(ev);
  private attached = false;

  constructor(private readonly opts: RecordingServiceOptions) {
    this.log = opts.log.child({ module: 'recording' });
  }

  /** Listen to RECORD_START / RECORD_STOP on the cluster (idempotent). */
  attach(): this {
    if (!this.attached) this.opts.esl.on('event', this.onEvent);
    this.attached = true;
    return this;
  }

  detach(): void {
    if (this.unsavedTimer) clearInterval(this.unsavedTimer);
    this.unsavedTimer = null;
    this.opts.esl.off('event', this.onEvent);
    this.attached = false;
  }

  private get timeoutMs(): number {
    return this.opts.commandTimeoutMs ?? 5000;
  }

  private switchPathOf(relative: string): string {
    const root = this.opts.switchRecordingsDir ?? path.resolve(this.opts.recordingsDir);
    return path.posix.join(root.split(path.sep).join('/'), relative);
  }

  private nodeFor(legUuid: string, nodeName?: string | null): EslNode {
    const { esl } = this.opts;
    const node = esl.nodeFor(legUuid) ?? (nodeName ? esl.byName(nodeName) : undefined) ?? (esl.nodes.length === 1 ? esl.nodes[0] : undefined);
    if (!node) throw new RecordingError('recording_not_active', '通话不存在或已结束', 409);
    return node;
  }

  /** Start recording an answered agent leg; resolves with the recording id once the switch accepted. */
  async start(target: RecordingTarget): Promise<string> {
    const node = this.nodeFor(target.legUuid);
    const stereo = this.opts.stereo ?? true;
    const startedAt = new Date();
    const id = randomUUID();
    const relative = relativeWavPath(id, target.tenantId, startedAt, this.opts.timeZone);
    const row: typeof recordings.$inferInsert = {
      id,
      tenantId: target.tenantId,
      callUuid: target.callUuid,
      legUuid: target.legUuid,
      agentId: target.agentId ?? null,
      groupId: target.groupId ?? null,
      direction: target.direction ?? 'inbound',
      callerNumber: target.callerNumber ?? null,
      calleeNumber: target.calleeNumber ?? null,
      fsNode: node.name,
      startedAt,
      wavPath: relative,
      channels: stereo ? 2 : 1,
      status: 'recording',
    };
    // the row and the switch's recording start side by side: the conversation is recorded from its first second
    // even when PostgreSQL is slow or down (a failing insert could take seconds to fail). RECORD_START/STOP of this
    // recording wait for the insert (handleEvent)
    const inserting = (async () => {
      try {
        await bulkInsert(this.opts.db, recordings, [row]);
      } catch (err) {
        if (!isDatabaseUnavailable(err)) throw err;
        // every hotline call is recorded, database or not: the row goes in when PostgreSQL is back, and the
        // housekeeping sweep finalizes it from the WAV if its RECORD_STOP came meanwhile
        this.log.warn({ err: (err as Error).message, call: target.callUuid, recording: id }, 'database unavailable; recording row saved later');
        this.saveLater(row);
      }
    })();
    const inserted = inserting.then(
      () => this.rowInserts.delete(id),
      () => this.rowInserts.delete(id),
    );
    this.rowInserts.set(id, inserted);
    // FreeSWITCH creates missing folders itself only for some file modules; on a shared mount we make sure
    const dir = path.dirname(resolveInside(this.opts.recordingsDir, relative));
    // one folder per day and center: made once, not once per call
    if (!this.madeDirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      if (this.madeDirs.size > 1000) this.madeDirs.clear();
      this.madeDirs.add(dir);
    }
    const switchPath = this.switchPathOf(relative);
    const rec: LiveRecording = { id, tenantId: target.tenantId, legUuid: target.legUuid, node, switchPath, startedAt: startedAt.getTime(), paused: false };
    this.live.set(id, rec);
    this.byPath.set(switchPath, id);
    try {
      if (stereo) await node.bgapi(`uuid_setvar ${target.legUuid} RECORD_STEREO true`, { timeoutMs: this.timeoutMs });
      await node.bgapi(`uuid_record ${target.legUuid} start ${switchPath}`, { timeoutMs: this.timeoutMs });
    } catch (err) {
      this.forget(rec);
      await inserted;
      const unsaved = this.unsavedRows.get(id);
      if (unsaved) Object.assign(unsaved, { status: 'failed', endedAt: new Date() });
      else await this.opts.db.update(recordings).set({ status: 'failed', endedAt: new Date() }).where(eq(recordings.id, id)).catch(() => {});
      this.log.error({ err, call: target.callUuid, leg: target.legUuid }, 'recording could not be started');
      throw new RecordingError('switch_refused', '录音启动失败', 502);
    }
    try {
      await inserting;
    } catch (err) {
      // a row PostgreSQL refuses for good (not an outage): a recording nobody could find must not go on
      this.forget(rec);
      await node.bgapi(`uuid_record ${target.legUuid} stop ${switchPath}`, { timeoutMs: this.timeoutMs }).catch(() => {});
      throw err;
    }
    this.log.info({ call: target.callUuid, leg: target.legUuid, recording: id, path: switchPath }, 'recording started');
    return id;
  }

  private saveLater(row: typeof recordings.$inferInsert): void {
    this.unsavedRows.set(row.id!, row);
    if (this.unsavedTimer) return;
    this.unsavedTimer = setInterval(() => void this.saveUnsaved(), UNSAVED_RETRY_MS);
    this.unsavedTimer.unref();
  }

  /** Insert the rows of recordings started during a database outage (each once: the id is the key). */
  async saveUnsaved(): Promise<number> {
    let saved = 0;
    for (const [id, row] of this.unsavedRows) {
      try {
        await this.opts.db.insert(recordings).values(row).onConflictDoNothing({ target: recordings.id });
      } catch {
        return saved; // still down: the next round tries again
      }
      this.unsavedRows.delete(id);
      saved++;
      // its RECORD_STOP came while the row was missing: duration and size from the WAV
      if (!this.live.has(id)) {
        await this.finalizeFromFile({ id, tenantId: row.tenantId, wavPath: row.wavPath, startedAt: row.startedAt ?? new Date() }).catch(() => false);
      }
    }
    if (this.unsavedTimer) clearInterval(this.unsavedTimer);
    this.unsavedTimer = null;
    if (saved > 0) this.log.info({ saved }, 'recording rows of the database outage saved');
    return saved;
  }

  /**
   * Stop a recording (hang-up stops it by itself; this is for ending it while the call goes on). Waits for
   * RECORD_STOP, or finalizes from the file when the leg is already gone. Resolves with the final row.
   */
  async stop(recordingId: string, tenantId: string, actor: RecordingActor = {}): Promise<Recording | null> {
    const row = await this.get(tenantId, recordingId);
    if (row.status !== 'recording') return row;
    const rec = this.live.get(recordingId) ?? this.rehydrate(row);
    if (rec.stopped) return rec.stopped;
    const stopped = new Promise<void>((resolve) => (rec.onStop = resolve));
    rec.stopped = (async () => {
      try {
        await rec.node.bgapi(`uuid_record ${rec.legUuid} stop ${rec.switchPath}`, { timeoutMs: this.timeoutMs });
      } catch (err) {
        this.log.warn({ err: (err as Error).message, recording: recordingId }, 'uuid_record stop refused; finalizing from the file');
      }
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        stopped.then(() => false),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(true), this.opts.stopWaitMs ?? 3000))),
      ]);
      clearTimeout(timer);
      if (timedOut) await this.finalizeFromFile(row);
      if (actor.userId) {
        await writeAudit(this.opts.db, { tenantId, userId: actor.userId, action: 'recording.stop', target: recordingId }, this.log);
      }
      return this.find(tenantId, recordingId);
    })();
    return rec.stopped;
  }

  /** Mask the recording from now on (silence is written; the call goes on). Logged with who and when. */
  async pause(recordingId: string, tenantId: string, actor: RecordingActor = {}): Promise<void> {
    await this.mark(recordingId, tenantId, 'pause', actor);
  }

  async resume(recordingId: string, tenantId: string, actor: RecordingActor = {}): Promise<void> {
    await this.mark(recordingId, tenantId, 'resume', actor);
  }

  /** Whether the recording is masked right now (from the last mark, so any CTI node answers the same). */
  async isPaused(recordingId: string): Promise<boolean> {
    const [last] = await this.opts.db
      .select({ kind: recordingMarks.kind })
      .from(recordingMarks)
      .where(eq(recordingMarks.recordingId, recordingId))
      .orderBy(desc(recordingMarks.at), desc(recordingMarks.id))
      .limit(1);
    return last?.kind === 'pause';
  }

  private async mark(recordingId: string, tenantId: string, kind: 'pause' | 'resume', actor: RecordingActor): Promise<void> {
    const row = await this.get(tenantId, recordingId);
    if (row.status !== 'recording') throw new RecordingError('recording_not_active', '录音已结束', 409);
    const paused = await this.isPaused(recordingId);
    if (kind === 'pause' && paused) throw new RecordingError('recording_already_paused', '录音已暂停', 409);
    if (kind === 'resume' && !paused) throw new RecordingError('recording_not_paused', '录音未暂停', 409);
    const rec = this.live.get(recordingId) ?? this.rehydrate(row);
    const verb = kind === 'pause' ? 'mask' : 'unmask';
    try {
      await rec.node.bgapi(`uuid_record ${rec.legUuid} ${verb} ${rec.switchPath}`, { timeoutMs: this.timeoutMs });
    } catch (err) {
      this.log.error({ err, recording: recordingId, verb }, 'recording mask/unmask refused');
      throw new RecordingError('switch_refused', kind === 'pause' ? '暂停录音失败' : '恢复录音失败', 502);
    }
    rec.paused = kind === 'pause';
    const now = new Date();
    await this.opts.db.insert(recordingMarks).values({
      tenantId,
      recordingId,
      kind,
      at: now,
      offsetMs: Math.max(0, now.getTime() - row.startedAt.getTime()),
      userId: actor.userId ?? null,
      reason: actor.reason ?? null,
    });
    await writeAudit(
      this.opts.db,
      { tenantId, userId: actor.userId ?? null, action: `recording.${kind}`, target: recordingId, details: { call: row.callUuid, reason: actor.reason ?? null } },
      this.log,
    );
    this.log.info({ recording: recordingId, kind, user: actor.userId ?? null }, 'recording mark');
  }

  /** The row, tenant-scoped; RecordingError 404 when absent. */
  async get(tenantId: string, recordingId: string): Promise<Recording> {
    const row = await this.find(tenantId, recordingId);
    if (!row) throw new RecordingError('recording_not_found', '录音不存在', 404);
    return row;
  }

  private async find(tenantId: string, recordingId: string): Promise<Recording | null> {
    const rows = await this.opts.db.select().from(recordings).where(tenantScope(recordings.tenantId, tenantId, eq(recordings.id, recordingId))).limit(1);
    return rows[0] ?? null;
  }

  /** A recording started by another CTI node (or before a restart): enough to send commands for it. */
  private rehydrate(row: Recording): LiveRecording {
    const rec: LiveRecording = {
      id: row.id,
      tenantId: row.tenantId,
      legUuid: row.legUuid,
      node: this.nodeFor(row.legUuid, row.fsNode),
      switchPath: this.switchPathOf(row.wavPath),
      startedAt: row.startedAt.getTime(),
      paused: false,
    };
    this.live.set(rec.id, rec);
    this.byPath.set(rec.switchPath, rec.id);
    return rec;
  }

  private forget(rec: LiveRecording): void {
    this.live.delete(rec.id);
    this.byPath.delete(rec.switchPath);
  }

  // ------------------------------------------------------------------ events

  /** RECORD_START / RECORD_STOP from any switch; other events are ignored. */
  handleEvent(ev: EslEvent): void {
    if (ev.name !== 'RECORD_START' && ev.name !== 'RECORD_STOP') return;
    const file = ev.headers['Record-File-Path'];
    if (!file) return;
    const id = this.byPath.get(file) ?? this.idFromPath(file);
    if (!id) return;
    const inserting = this.rowInserts.get(id);
    if (inserting) {
      void inserting.then(() => this.handleEvent(ev));
      return;
    }
    const unsaved = this.unsavedRows.get(id);
    if (unsaved) {
      // its row is not in the database yet (outage): keep the switch's start time; saveUnsaved finalizes it
      if (ev.name === 'RECORD_START') unsaved.startedAt = eventTime(ev) ?? unsaved.startedAt;
      const rec = this.live.get(id);
      if (ev.name === 'RECORD_STOP' && rec) {
        this.forget(rec);
        rec.onStop?.();
      }
      return;
    }
    const work = ev.name === 'RECORD_START' ? this.onRecordStart(id, ev) : this.onRecordStop(id, ev);
    work.catch((err: unknown) => this.log.error({ err, recording: id, event: ev.name }, 'recording event not applied'));
  }

  /** Our files are named <recording id>.wav under <root>/calls/: recognise them even without in-memory state. */
  private idFromPath(file: string): string | undefined {
    const m = /\/calls\/\d{4}-\d{2}-\d{2}\/[^/]+\/([0-9a-f-]{36})\.wav$/.exec(file);
    return m?.[1];
  }

  /** the statements run for every recorded call, built once (drizzle's building cost more than the queries) */
  private preparedStatements?: ReturnType<typeof prepareRecordingStatements>;
  private prepared(): ReturnType<typeof prepareRecordingStatements> {
    return (this.preparedStatements ??= prepareRecordingStatements(this.opts.db));
  }

  private async onRecordStart(id: string, ev: EslEvent): Promise<void> {
    const at = eventTime(ev);
    if (!at) return;
    // the switch's own start time, so mark offsets match the file
    await this.prepared().setStartedAt.execute({ id, at });
  }

  private async onRecordStop(id: string, ev: EslEvent): Promise<void> {
    const h = ev.headers;
    const rec = this.live.get(id);
    if (rec) this.forget(rec);
    const endedAt = eventTime(ev) ?? new Date();
    const reported = (name: string): number | null => {
      const n = Number(h[name]);
      return h[name] !== undefined && Number.isFinite(n) ? n : null;
    };
    let durationMs = reported('variable_record_ms');
    let sizeBytes = reported('variable_record_file_size');
    // the switch reports both on RECORD_STOP (golden traces 05*, 12, 12b): the row is read only when one is missing
    if (durationMs === null || sizeBytes === null) {
      const [current] = await this.prepared().byId.execute({ id });
      if (!current) return;
      durationMs ??= Math.max(0, endedAt.getTime() - current.startedAt.getTime());
      if (sizeBytes === null) {
        const info = await readWavInfo(resolveInside(this.opts.recordingsDir, current.wavPath)).catch(() => null);
        if (info) {
          sizeBytes = info.sizeBytes;
          durationMs = info.durationMs;
        }
      }
    }
    const [done] = await this.prepared().stop.execute({ id, endedAt: endedAt.toISOString(), durationMs: Math.round(durationMs), sizeBytes });
    rec?.onStop?.();
    if (!done) return; // another CTI node finalized it (or the row is gone)
    this.log.info({ recording: id, durationMs, sizeBytes, cause: h['Record-Completion-Cause'] }, 'recording stopped');
    await this.enqueueCompression(id, done.tenantId);
  }

  /** When no RECORD_STOP comes (leg already gone, event lost): duration and size from the WAV itself. */
  async finalizeFromFile(row: Pick<Recording, 'id' | 'tenantId' | 'wavPath' | 'startedAt'>): Promise<boolean> {
    const info = await readWavInfo(resolveInside(this.opts.recordingsDir, row.wavPath)).catch(() => null);
    const updated = await this.opts.db
      .update(recordings)
      .set(
        info
          ? { status: 'stopped', endedAt: new Date(row.startedAt.getTime() + info.durationMs), durationMs: info.durationMs, sizeBytes: info.sizeBytes }
          : { status: 'failed', endedAt: new Date() },
      )
      .where(and(eq(recordings.id, row.id), eq(recordings.status, 'recording')))
      .returning({ id: recordings.id });
    const rec = this.live.get(row.id);
    if (rec) this.forget(rec);
    if (updated.length > 0 && !info) this.log.error({ recording: row.id }, 'no RECORD_STOP and no readable WAV: recording marked failed');
    if (updated.length > 0 && info) await this.enqueueCompression(row.id, row.tenantId);
    return updated.length > 0;
  }

  /**
   * Rows still `recording` whose RECORD_STOP nobody saw (every CTI was down when the call ended): when their leg no
   * longer exists on its switch, finalize them from the WAV. Run at start-up and now and then; returns how many.
   */
  async sweepOrphans(olderThanMs = 60_000, limit = 500): Promise<number> {
    const cutoff = new Date(Date.now() - olderThanMs);
    const rows = await this.opts.db
      .select()
      .from(recordings)
      .where(and(eq(recordings.status, 'recording'), lte(recordings.startedAt, cutoff)))
      .limit(limit);
    let finalized = 0;
    for (const row of rows) {
      const node = (row.fsNode ? this.opts.esl.byName(row.fsNode) : undefined) ?? this.opts.esl.nodeFor(row.legUuid);
      if (!node?.isConnected) continue; // cannot tell whether the leg is alive; try again later
      const exists = await node.bgapi(`uuid_exists ${row.legUuid}`, { timeoutMs: this.timeoutMs }).catch(() => null);
      if (exists === null || exists.trim() !== 'false') continue;
      if (await this.finalizeFromFile(row)) finalized++;
    }
    if (finalized > 0) this.log.warn({ finalized }, 'recordings finalized without RECORD_STOP');
    return finalized;
  }

  private async enqueueCompression(id: string, tenantId: string): Promise<void> {
    if (!this.opts.compression) return;
    try {
      await this.opts.compression.enqueue(id, tenantId);
    } catch (err) {
      // the WAV stays playable; RecordingCompressor.requeueStopped() picks it up later
      this.log.warn({ err: (err as Error).message, recording: id }, 'compression not queued');
    }
  }

  /** Recordings this process is tracking (started here or touched here) that have not stopped yet. */
  get activeCount(): number {
    return this.live.size;
  }
}

function eventTime(ev: EslEvent): Date | null {
  const us = Number(ev.headers['Event-Date-Timestamp']);
  return Number.isFinite(us) && us > 0 ? new Date(Math.round(us / 1000)) : null;
}

/**
 * The call layer's hook when an agent answers: start recording the agent leg and put the id on the session, so the
 * CDR carries it (the first recording of a call is the CDR's; later ones, e.g. after a transfer, are found by
 * call_uuid). Never throws: a recording failure must not break the call.
 */
export async function recordAgentAnswer(
  service: RecordingService,
  session: {
    uuid: string;
    tenantId: string;
    direction: 'inbound' | 'outbound';
    callerNumber?: string;
    calleeNumber?: string;
    agentId?: string;
    skillGroupId?: string;
    recordingId?: string;
    setRecordingId(id: string | undefined): void;
    log: Logger;
  },
  agentLegUuid: string,
  agentId = session.agentId,
): Promise<string | null> {
  try {
    const id = await service.start({
      callUuid: session.uuid,
      legUuid: agentLegUuid,
      tenantId: session.tenantId,
      agentId: agentId ?? null,
      groupId: session.skillGroupId ?? null,
      direction: session.direction,
      callerNumber: session.callerNumber ?? null,
      calleeNumber: session.calleeNumber ?? null,
    });
    if (!session.recordingId) session.setRecordingId(id);
    return id;
  } catch (err) {
    session.log.error({ err }, 'call not recorded');
    return null;
  }
}

/** For CDRs already written without it: set cdrs.recording_id when still empty. */
export async function linkCdrRecording(db: Db, tenantId: string, callUuid: string, recordingId: string): Promise<boolean> {
  const rows = await db
    .update(cdrs)
    .set({ recordingId })
    .where(and(eq(cdrs.tenantId, tenantId), eq(cdrs.callUuid, callUuid), isNull(cdrs.recordingId)))
    .returning({ id: cdrs.callUuid });
  return rows.length > 0;
}

/** how often rows of recordings started during a database outage are tried again */
const UNSAVED_RETRY_MS = 5000;

function prepareRecordingStatements(db: Db) {
  return {
    byId: db.select().from(recordings).where(eq(recordings.id, sql.placeholder('id'))).limit(1).prepare('recording_by_id'),
    setStartedAt: db
      .update(recordings)
      .set({ startedAt: sql`${sql.placeholder('at')}::timestamptz` })
      .where(and(eq(recordings.id, sql.placeholder('id')), eq(recordings.status, 'recording')))
      .prepare('recording_set_started_at'),
    stop: db
      .update(recordings)
      .set({
        status: 'stopped',
        endedAt: sql`${sql.placeholder('endedAt')}::timestamptz`,
        durationMs: sql`${sql.placeholder('durationMs')}::integer`,
        sizeBytes: sql`${sql.placeholder('sizeBytes')}::bigint`,
      })
      .where(and(eq(recordings.id, sql.placeholder('id')), eq(recordings.status, 'recording')))
      .returning({ tenantId: recordings.tenantId })
      .prepare('recording_stop'),
  };
}
