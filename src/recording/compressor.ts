// Compression of finished recordings: BullMQ queue `recording-compress` (job id = recording id, so a recording is
// never queued twice). The job body (ffmpeg → Opus, ffprobe check, row update, WAV removal) is compress-job.ts; where
// it runs is the mode: `worker-thread` (default) spawns ffmpeg from a worker thread, off the CTI's event loop;
// `inline` runs it on the caller's loop (tests, the standalone worker process); `off` here means no worker at all
// (another process, `npm run worker:recording`, consumes the queue).
import os from 'node:os';
import { Queue, Worker, UnrecoverableError, type Job } from 'bullmq';
import { and, eq, lt } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import { recordings } from '../db/schema/recording.js';
import { redisConnectionOptions } from '../calls/cdr-writer.js';
import { compressRecording, type CompressOptions, type CompressOutcome, type CompressRecordingDeps } from './compress-job.js';
import type { CompressThreadData } from './compress-thread.js';
import type { CompressionQueue } from './recording-service.js';

export {
  compressWav,
  probeDurationMs,
  compressRecording,
  CompressionVerifyError,
  COMPRESSED_FORMAT,
  COMPRESSED_EXTENSION,
  DEFAULT_ENCODER_ARGS,
  DEFAULT_NICENESS,
} from './compress-job.js';
export type { CompressOptions, CompressResult, CompressOutcome, CompressRecordingDeps } from './compress-job.js';

export const RECORDING_COMPRESS_QUEUE = 'recording-compress';
/** the sandboxed processor's entry (plain .mjs: it registers tsx itself) */
const THREAD_PROCESSOR = new URL('./compress-thread.mjs', import.meta.url);

export type CompressionMode = 'inline' | 'worker-thread';

export interface CompressJob {
  recordingId: string;
  tenantId: string;
}

/** What a job returns (BullMQ's returnvalue): threadId 0 = the main thread. */
export interface CompressJobResult {
  outcome: Exclude<CompressOutcome, 'not-ready'>;
  threadId: number;
}

/** Parallel jobs when not configured: leave one core to call handling. */
export function defaultCompressionConcurrency(): number {
  return Math.max(1, os.availableParallelism() - 1);
}

export interface RecordingCompressorOptions extends CompressOptions {
  db: Db;
  redisUrl: string;
  /** BullMQ key prefix: the app's REDIS_PREFIX */
  prefix: string;
  recordingsDir: string;
  log: Logger;
  /** run a worker in this process (default true); false = only enqueue (another process compresses) */
  worker?: boolean;
  /** where the worker runs the job (default inline); worker-thread needs databaseUrl */
  mode?: CompressionMode;
  /** the worker thread's own connection (one per thread) */
  databaseUrl?: string;
  /** parallel jobs, each its own ffmpeg (and thread in worker-thread mode); default defaultCompressionConcurrency() */
  concurrency?: number;
  attempts?: number;
  /** first retry delay; doubles per attempt (default 5000 ms) */
  backoffMs?: number;
}

export class RecordingCompressor implements CompressionQueue {
  private readonly queue: Queue<CompressJob>;
  private readonly worker: Worker<CompressJob, CompressJobResult> | null;
  private readonly log: Logger;
  /** compressed: by compress() and this worker's jobs; lastThreadId: where the last job ran (0 = main thread) */
  readonly stats = { compressed: 0, failed: 0, lastThreadId: null as number | null };

  constructor(private readonly opts: RecordingCompressorOptions) {
    this.log = opts.log.child({ module: 'recording-compress' });
    const connection = redisConnectionOptions(opts.redisUrl);
    this.queue = new Queue<CompressJob>(RECORDING_COMPRESS_QUEUE, { connection, prefix: opts.prefix });
    this.queue.on('error', (err) => this.log.warn({ err: err.message }, 'compress queue error'));
    this.worker = opts.worker === false ? null : this.startWorker(connection);
    this.worker?.on('error', (err) => this.log.warn({ err: err.message }, 'compress worker error'));
    this.worker?.on('completed', (_job, result) => {
      this.stats.lastThreadId = result.threadId;
      if (result.outcome === 'compressed') this.stats.compressed++;
    });
    this.worker?.on('failed', (job, err) => {
      if (!job) return;
      this.stats.failed++;
      // from a worker thread the error arrives as a plain Error carrying the original name
      const final = job.attemptsMade >= (job.opts.attempts ?? 1) || err instanceof UnrecoverableError || err.name === 'UnrecoverableError';
      this.log[final ? 'error' : 'warn']({ recording: job.data.recordingId, attempt: job.attemptsMade, err: err.message }, final ? 'compression failed for good; the WAV is kept' : 'compression failed; will retry');
    });
  }

  private startWorker(connection: ReturnType<typeof redisConnectionOptions>): Worker<CompressJob, CompressJobResult> {
    const common = { connection, prefix: this.opts.prefix, concurrency: this.opts.concurrency ?? defaultCompressionConcurrency() };
    if ((this.opts.mode ?? 'inline') === 'inline') {
      return new Worker<CompressJob, CompressJobResult>(RECORDING_COMPRESS_QUEUE, (job) => this.runJob(job), common);
    }
    if (!this.opts.databaseUrl) throw new Error('RecordingCompressor: worker-thread mode needs databaseUrl');
    const { ffmpegPath, ffprobePath, encoderArgs, toleranceMs, toleranceRatio, niceness } = this.opts;
    const workerData: CompressThreadData = {
      databaseUrl: this.opts.databaseUrl,
      recordingsDir: this.opts.recordingsDir,
      logLevel: this.opts.log.level,
      compress: { ffmpegPath, ffprobePath, encoderArgs, toleranceMs, toleranceRatio, niceness },
    };
    return new Worker<CompressJob, CompressJobResult>(RECORDING_COMPRESS_QUEUE, THREAD_PROCESSOR, {
      ...common,
      useWorkerThreads: true,
      workerThreadsOptions: { workerData },
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

  private async runJob(job: Job<CompressJob>): Promise<CompressJobResult> {
    const outcome = await compressRecording(this.jobDeps(), job.data.recordingId, job.data.tenantId);
    // still being recorded: retry later (the backoff covers a RECORD_STOP that is on its way)
    if (outcome === 'not-ready') throw new Error('recording not finished yet');
    return { outcome, threadId: 0 };
  }

  private jobDeps(): CompressRecordingDeps {
    return { db: this.opts.db, recordingsDir: this.opts.recordingsDir, log: this.log, compress: this.opts };
  }

  /** Compress one recording now, on this thread (the job body; also used by tests and the benchmark). */
  async compress(recordingId: string, tenantId: string): Promise<CompressOutcome> {
    const outcome = await compressRecording(this.jobDeps(), recordingId, tenantId);
    if (outcome === 'compressed') this.stats.compressed++;
    return outcome;
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
