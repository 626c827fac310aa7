// Compression of finished recordings: BullMQ queue `recording-compress` (job id = recording id, so a recording is
// never queued twice), ffmpeg WAV → Opus in Ogg, ffprobe check of the result, and only then the WAV is deleted.
//
// Why Opus (Ogg) and not MP3: Ogg pages carry sample-exact granule positions, so ffprobe's duration of the result
// matches the WAV to a few ms and the 1 % / 100 ms check is meaningful (an 8 kHz MP3 reports up to ~190 ms more:
// frame padding that ffprobe does not subtract). Opus at 24 kbit/s keeps both stereo channels intelligible for
// speech at ~1/10 of the WAV (8 kHz 16-bit stereo = 256 kbit/s); every current browser plays and seeks it.
import { spawn } from 'node:child_process';
import { rename, stat, unlink } from 'node:fs/promises';
import { Queue, Worker, UnrecoverableError, type Job } from 'bullmq';
import { and, eq, lt, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import { recordings } from '../db/schema/recording.js';
import { redisConnectionOptions } from '../calls/cdr-writer.js';
import { compressedPathFor, resolveInside } from './paths.js';
import type { CompressionQueue } from './recording-service.js';

export const RECORDING_COMPRESS_QUEUE = 'recording-compress';
export const COMPRESSED_FORMAT = 'opus';
export const COMPRESSED_EXTENSION = 'opus';

export interface CompressJob {
  recordingId: string;
  tenantId: string;
}

export interface CompressOptions {
  ffmpegPath?: string;
  ffprobePath?: string;
  /** encoder arguments after `-i <wav>` (default: libopus 24 kbit/s, voip tuning) */
  encoderArgs?: string[];
  /** tolerance of the duration check: the larger of these (defaults 100 ms and 1 %) */
  toleranceMs?: number;
  toleranceRatio?: number;
}

export const DEFAULT_ENCODER_ARGS = ['-c:a', 'libopus', '-b:a', '24k', '-application', 'voip', '-f', 'ogg'];

export class CompressionVerifyError extends Error {
  override name = 'CompressionVerifyError';
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited with ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`))));
  });
}

/** Container duration as ffprobe reports it (ms). */
export async function probeDurationMs(file: string, ffprobePath = 'ffprobe'): Promise<number> {
  const out = await run(ffprobePath, ['-v', 'error', '-show_entries', 'format=duration', '-of', 'default=noprint_wrappers=1:nokey=1', file]);
  const seconds = Number(out.trim());
  if (!Number.isFinite(seconds)) throw new CompressionVerifyError(`ffprobe gave no duration for ${file}`);
  return Math.round(seconds * 1000);
}

export interface CompressResult {
  wavDurationMs: number;
  durationMs: number;
  sizeBytes: number;
}

/**
 * Encode `wav` to `out` through a temporary file, verify duration and size, then move it into place. The WAV is
 * not touched; on any failure the temporary file is removed and nothing is left at `out`.
 */
export async function compressWav(wav: string, out: string, opts: CompressOptions = {}): Promise<CompressResult> {
  const ffmpeg = opts.ffmpegPath ?? 'ffmpeg';
  const ffprobe = opts.ffprobePath ?? 'ffprobe';
  const tmp = `${out}.part`;
  try {
    await run(ffmpeg, ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', '-i', wav, ...(opts.encoderArgs ?? DEFAULT_ENCODER_ARGS), tmp]);
    const [wavDurationMs, durationMs, st] = await Promise.all([probeDurationMs(wav, ffprobe), probeDurationMs(tmp, ffprobe), stat(tmp)]);
    const tolerance = Math.max(opts.toleranceMs ?? 100, wavDurationMs * (opts.toleranceRatio ?? 0.01));
    if (st.size <= 0) throw new CompressionVerifyError('compressed file is empty');
    if (Math.abs(durationMs - wavDurationMs) > tolerance) {
      throw new CompressionVerifyError(`compressed duration ${durationMs} ms differs from the WAV's ${wavDurationMs} ms by more than ${Math.round(tolerance)} ms`);
    }
    await rename(tmp, out);
    return { wavDurationMs, durationMs, sizeBytes: st.size };
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
}

export interface RecordingCompressorOptions extends CompressOptions {
  db: Db;
  redisUrl: string;
  /** BullMQ key prefix: the app's REDIS_PREFIX */
  prefix: string;
  recordingsDir: string;
  log: Logger;
  /** run a worker in this process (default true) */
  worker?: boolean;
  /** parallel ffmpeg processes (default 1: compression must not starve call handling of CPU) */
  concurrency?: number;
  attempts?: number;
  /** first retry delay; doubles per attempt (default 5000 ms) */
  backoffMs?: number;
}

export type CompressOutcome = 'compressed' | 'already' | 'not-ready';

export class RecordingCompressor implements CompressionQueue {
  private readonly queue: Queue<CompressJob>;
  private readonly worker: Worker<CompressJob> | null;
  private readonly log: Logger;
  readonly stats = { compressed: 0, failed: 0 };

  constructor(private readonly opts: RecordingCompressorOptions) {
    this.log = opts.log.child({ module: 'recording-compress' });
    const connection = redisConnectionOptions(opts.redisUrl);
    this.queue = new Queue<CompressJob>(RECORDING_COMPRESS_QUEUE, { connection, prefix: opts.prefix });
    this.queue.on('error', (err) => this.log.warn({ err: err.message }, 'compress queue error'));
    this.worker =
      opts.worker === false
        ? null
        : new Worker<CompressJob>(RECORDING_COMPRESS_QUEUE, (job) => this.runJob(job), {
            connection,
            prefix: opts.prefix,
            concurrency: opts.concurrency ?? 1,
          });
    this.worker?.on('error', (err) => this.log.warn({ err: err.message }, 'compress worker error'));
    this.worker?.on('failed', (job, err) => {
      if (!job) return;
      this.stats.failed++;
      const final = job.attemptsMade >= (job.opts.attempts ?? 1) || err instanceof UnrecoverableError;
      this.log[final ? 'error' : 'warn']({ recording: job.data.recordingId, attempt: job.attemptsMade, err: err.message }, final ? 'compression failed for good; the WAV is kept' : 'compression failed; will retry');
    });
  }

  async enqueue(recordingId: string, tenantId: string): Promise<void> {
    await this.queue.add(
      'compress',
      { recordingId, tenantId },
      {
        jobId: `rec-${recordingId}`,
        attempts: this.opts.attempts ?? 8,
        backoff: { type: 'exponential', delay: this.opts.backoffMs ?? 5000 },
        removeOnComplete: true,
        removeOnFail: 1000,
      },
    );
  }

  private async runJob(job: Job<CompressJob>): Promise<void> {
    const outcome = await this.compress(job.data.recordingId, job.data.tenantId);
    // still being recorded: retry later (the backoff covers a RECORD_STOP that is on its way)
    if (outcome === 'not-ready') throw new Error('recording not finished yet');
  }

  /** Compress one recording now (the job body; also used by the benchmark). */
  async compress(recordingId: string, tenantId: string): Promise<CompressOutcome> {
    const { db } = this.opts;
    const [row] = await db.select().from(recordings).where(and(eq(recordings.tenantId, tenantId), eq(recordings.id, recordingId))).limit(1);
    if (!row) throw new UnrecoverableError(`recording ${recordingId} not found`);
    if (row.status === 'compressed') return 'already';
    if (row.status !== 'stopped') return 'not-ready';
    const wav = resolveInside(this.opts.recordingsDir, row.wavPath);
    const relativeOut = compressedPathFor(row.wavPath, COMPRESSED_EXTENSION);
    const out = resolveInside(this.opts.recordingsDir, relativeOut);
    if (!(await stat(wav).catch(() => null))) {
      // nothing to retry on: the row needs a person (or the directory is not mounted here)
      await db.update(recordings).set({ compressError: 'WAV file missing', compressAttempts: sql`${recordings.compressAttempts} + 1` }).where(eq(recordings.id, recordingId));
      throw new UnrecoverableError(`WAV of recording ${recordingId} is missing: ${wav}`);
    }
    try {
      const result = await compressWav(wav, out, this.opts);
      const updated = await db
        .update(recordings)
        .set({
          status: 'compressed',
          format: COMPRESSED_FORMAT,
          compressedPath: relativeOut,
          compressedSizeBytes: result.sizeBytes,
          compressError: null,
          compressAttempts: sql`${recordings.compressAttempts} + 1`,
        })
        .where(and(eq(recordings.id, recordingId), eq(recordings.status, 'stopped')))
        .returning({ id: recordings.id });
      if (updated.length === 0) return 'already';
      // the row now points at the verified compressed file; only now may the original go
      await unlink(wav).catch((err: unknown) => this.log.warn({ err: (err as Error).message, recording: recordingId }, 'WAV not deleted'));
      this.stats.compressed++;
      this.log.info({ recording: recordingId, wavMs: result.wavDurationMs, ms: result.durationMs, bytes: result.sizeBytes }, 'recording compressed');
      return 'compressed';
    } catch (err) {
      await db
        .update(recordings)
        .set({ compressError: (err as Error).message.slice(0, 500), compressAttempts: sql`${recordings.compressAttempts} + 1` })
        .where(eq(recordings.id, recordingId));
      throw err;
    }
  }

  /**
   * Queue every finished, uncompressed recording (after a Redis outage, a crash between stop and enqueue, or jobs
   * that used up their attempts), except those that failed `maxAttempts` times overall: they need a person.
   */
  async requeueStopped(opts: { limit?: number; maxAttempts?: number; tenantId?: string } = {}): Promise<number> {
    const rows = await this.opts.db
      .select({ id: recordings.id, tenantId: recordings.tenantId })
      .from(recordings)
      .where(
        and(
          eq(recordings.status, 'stopped'),
          lt(recordings.compressAttempts, opts.maxAttempts ?? 50),
          opts.tenantId ? eq(recordings.tenantId, opts.tenantId) : undefined,
        ),
      )
      .orderBy(recordings.startedAt)
      .limit(opts.limit ?? 1000);
    for (const r of rows) {
      // a job that used up its attempts keeps its id in the failed set, where add() would ignore the new one
      const previous = await this.queue.getJob(`rec-${r.id}`);
      if (previous && (await previous.isFailed())) await previous.remove();
      await this.enqueue(r.id, r.tenantId);
    }
    return rows.length;
  }

  /** Jobs waiting, delayed (retry backoff) or running. */
  async backlog(): Promise<number> {
    const c = await this.queue.getJobCounts('waiting', 'delayed', 'active', 'prioritized');
    return Object.values(c).reduce((a, b) => a + b, 0);
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.worker?.close(), this.queue.close()]);
  }
}
