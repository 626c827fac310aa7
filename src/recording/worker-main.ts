// `npm run worker:recording`: a process that only compresses recordings, for a busy deployment whose CTI nodes run
// with RECORDING_COMPRESSION=off (they still queue the jobs and do the housekeeping that requeues unfinished rows).
// It needs the same DATABASE_URL, REDIS_URL, REDIS_PREFIX and RECORDINGS_DIR (the directory mounted here) as the CTI.
// Jobs run on this process's own event loop: nothing here is latency-sensitive.
import path from 'node:path';
import { pino } from 'pino';
import { loadEnvOrExit } from '../config/env.js';
import { createDb, createPool } from '../db/client.js';
import { RecordingCompressor, defaultCompressionConcurrency } from './compressor.js';

async function main(): Promise<void> {
  const env = loadEnvOrExit();
  const log = pino({ level: env.LOG_LEVEL });
  const concurrency = env.RECORDING_COMPRESSION_CONCURRENCY ?? defaultCompressionConcurrency();
  const pool = createPool(env.DATABASE_URL, concurrency + 1, { queryTimeoutMs: env.PG_QUERY_TIMEOUT_MS });
  const compressor = new RecordingCompressor({
    db: createDb(pool),
    redisUrl: env.REDIS_URL,
    prefix: env.REDIS_PREFIX,
    recordingsDir: path.resolve(env.RECORDINGS_DIR),
    log,
    mode: 'inline',
    concurrency,
  });
  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'recording worker stopping: finishing the running jobs');
    // BullMQ's close waits for the jobs in hand; an interrupted one would be retried by another worker anyway
    await compressor.close();
    await pool.end();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  log.info({ concurrency, recordingsDir: path.resolve(env.RECORDINGS_DIR), prefix: env.REDIS_PREFIX }, 'recording worker ready');
}

main().catch((err: unknown) => {
  pino().fatal({ err }, 'recording worker failed to start');
  process.exit(1);
});
