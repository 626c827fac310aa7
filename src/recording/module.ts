// The recording module assembled for src/main.ts: service on the ESL cluster, compression worker, routes, and the
// housekeeping (queue what a crash left uncompressed, finalize recordings whose RECORD_STOP nobody saw).
import path from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import type { AppContext } from '../app-context.js';
import type { EslCluster } from '../esl/index.js';
import { RecordingService } from './recording-service.js';
import { RecordingCompressor } from './compressor.js';
import { recordingRoutes } from './routes.js';

export interface RecordingModuleOptions {
  /** RECORDINGS_DIR as FreeSWITCH sees it, when it is mounted elsewhere on the switch */
  switchRecordingsDir?: string;
  /** run the compression worker in this process (default: unless RECORDING_COMPRESSION=off) */
  worker?: boolean;
  /** how often to look for recordings left without RECORD_STOP or uncompressed (default 5 min; 0 = never) */
  sweepIntervalMs?: number;
  /** do that housekeeping once at start-up too (default true) */
  housekeepingOnStart?: boolean;
}

export interface RecordingModule {
  service: RecordingService;
  compressor: RecordingCompressor;
  routes: FastifyPluginAsync;
  close(): Promise<void>;
}

export function startRecordingModule(ctx: AppContext, esl: EslCluster, opts: RecordingModuleOptions = {}): RecordingModule {
  const recordingsDir = path.resolve(ctx.env.RECORDINGS_DIR);
  const compressor = new RecordingCompressor({
    db: ctx.db,
    redisUrl: ctx.env.REDIS_URL,
    prefix: ctx.redisPrefix,
    recordingsDir,
    log: ctx.log,
    // off: this node only enqueues; `npm run worker:recording` (worker-main.ts) compresses
    worker: opts.worker ?? ctx.env.RECORDING_COMPRESSION !== 'off',
    mode: ctx.env.RECORDING_COMPRESSION === 'inline' ? 'inline' : 'worker-thread',
    databaseUrl: ctx.env.DATABASE_URL,
    concurrency: ctx.env.RECORDING_COMPRESSION_CONCURRENCY,
  });
  const service = new RecordingService({
    db: ctx.db,
    esl,
    recordingsDir,
    switchRecordingsDir: opts.switchRecordingsDir,
    log: ctx.log,
    compression: compressor,
    commandTimeoutMs: ctx.env.ESL_COMMAND_TIMEOUT_MS,
  }).attach();
  const housekeeping = async (): Promise<void> => {
    await service.sweepOrphans().catch((err: unknown) => ctx.log.warn({ err }, 'recording sweep failed'));
    await compressor.requeueStopped().catch((err: unknown) => ctx.log.warn({ err }, 'recording requeue failed'));
  };
  const interval = opts.sweepIntervalMs ?? 300_000;
  const timer = interval > 0 ? setInterval(() => void housekeeping(), interval) : null;
  timer?.unref();
  // at start-up: what a crash or a Redis outage left behind
  if (opts.housekeepingOnStart ?? true) void housekeeping();
  return {
    service,
    compressor,
    routes: recordingRoutes(ctx, { service }),
    async close() {
      if (timer) clearInterval(timer);
      service.detach();
      await compressor.close();
    },
  };
}
