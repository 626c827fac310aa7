// BullMQ sandboxed processor of `recording-compress`, run in a worker thread (RECORDING_COMPRESSION=worker-thread):
// child_process.spawn blocks the calling thread while it forks (10-16 ms p50, up to 240 ms seen under load), so
// ffmpeg/ffprobe are spawned here and not on the CTI's event loop. Loaded through compress-thread.mjs, which
// brings in tsx: the thread may not inherit a TypeScript loader (vitest, plain node).
import { threadId, workerData } from 'node:worker_threads';
import type { SandboxedJob } from 'bullmq';
import { pino } from 'pino';
import { createDb, createPool, type Db } from '../db/client.js';
import { compressRecording, type CompressOptions } from './compress-job.js';
import type { CompressJob, CompressJobResult } from './compressor.js';

/** What RecordingCompressor hands each thread (workerData: structured-clone, so plain values only). */
export interface CompressThreadData {
  databaseUrl: string;
  recordingsDir: string;
  logLevel: string;
  compress: CompressOptions;
}

const data = workerData as CompressThreadData;
const log = pino({ level: data.logLevel, base: { module: 'recording-compress', thread: threadId } });
// one job at a time per thread (BullMQ gives each concurrent job its own thread): one connection is enough
let db: Db | null = null;

export default async function processCompressJob(job: SandboxedJob<CompressJob>): Promise<CompressJobResult> {
  db ??= createDb(createPool(data.databaseUrl, 1));
  const outcome = await compressRecording({ db, recordingsDir: data.recordingsDir, log, compress: data.compress }, job.data.recordingId, job.data.tenantId);
  // still being recorded: retry later (the backoff covers a RECORD_STOP that is on its way)
  if (outcome === 'not-ready') throw new Error('recording not finished yet');
  return { outcome, threadId };
}
