// The compression job body, kept free of BullMQ and Redis so a worker thread (compress-thread.ts) loads only this,
// drizzle and the schema: ffmpeg WAV → Opus in Ogg, the result's duration checked against the WAV's (both read from
// the files' headers, ffprobe only for formats those readers do not know), the row switched to it, and only then the
// WAV deleted.
//
// Why Opus (Ogg) and not MP3: Ogg pages carry sample-exact granule positions, so the result's duration matches the
// WAV's to the ms and the 1 % / 100 ms check is meaningful (an 8 kHz MP3 reports up to ~190 ms more:
// frame padding that ffprobe does not subtract). Opus at 24 kbit/s keeps both stereo channels intelligible for
// speech at ~1/10 of the WAV (8 kHz 16-bit stereo = 256 kbit/s); every current browser plays and seeks it.
import { spawn } from 'node:child_process';
import { rename, stat, unlink } from 'node:fs/promises';
import os from 'node:os';
import { UnrecoverableError } from 'bullmq';
import { and, eq, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import { recordings } from '../db/schema/recording.js';
import { compressedPathFor, resolveInside } from './paths.js';
import { oggOpusDurationMs, wavDurationMs as wavHeaderDurationMs } from './media-duration.js';

export const COMPRESSED_FORMAT = 'opus';
export const COMPRESSED_EXTENSION = 'opus';
export const DEFAULT_ENCODER_ARGS = ['-c:a', 'libopus', '-b:a', '24k', '-application', 'voip', '-f', 'ogg'];
/** ffmpeg/ffprobe run this much nicer than the CTI (like `nice -n 10`), so live calls win the CPU when both want it */
export const DEFAULT_NICENESS = 10;

export interface CompressOptions {
  ffmpegPath?: string;
  ffprobePath?: string;
  /** encoder arguments after `-i <wav>` (default: libopus 24 kbit/s, voip tuning) */
  encoderArgs?: string[];
  /** tolerance of the duration check: the larger of these (defaults 100 ms and 1 %) */
  toleranceMs?: number;
  toleranceRatio?: number;
  /** ffmpeg and ffprobe run this much nicer than this process (default 10, capped at 19; 0 = as inherited) */
  niceness?: number;
}

export class CompressionVerifyError extends Error {
  override name = 'CompressionVerifyError';
}

function run(cmd: string, args: string[], niceness: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    if (niceness > 0 && child.pid !== undefined) {
      try {
        os.setPriority(child.pid, Math.min(19, os.getPriority() + niceness));
      } catch {
        // the child may already have exited (a failed exec); its exit code tells the story
      }
    }
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited with ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`))));
  });
}

async function headerDurationOr(fromHeader: () => Promise<number | null>, probe: () => Promise<number>): Promise<number> {
  return (await fromHeader().catch(() => null)) ?? probe();
}

/** Container duration as ffprobe reports it (ms). */
export async function probeDurationMs(file: string, ffprobePath = 'ffprobe', niceness = DEFAULT_NICENESS): Promise<number> {
  const out = await run(ffprobePath, ['-v', 'error', '-show_entries', 'format=duration', '-of', 'default=noprint_wrappers=1:nokey=1', file], niceness);
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
  const niceness = opts.niceness ?? DEFAULT_NICENESS;
  const tmp = `${out}.part`;
  try {
    await run(ffmpeg, ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', '-i', wav, ...(opts.encoderArgs ?? DEFAULT_ENCODER_ARGS), tmp], niceness);
    // durations from the files' headers; ffprobe (a process start each) only for what those cannot read
    const [wavDurationMs, durationMs, st] = await Promise.all([
      headerDurationOr(() => wavHeaderDurationMs(wav), () => probeDurationMs(wav, ffprobe, niceness)),
      headerDurationOr(() => oggOpusDurationMs(tmp), () => probeDurationMs(tmp, ffprobe, niceness)),
      stat(tmp),
    ]);
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

export type CompressOutcome = 'compressed' | 'already' | 'not-ready';

export interface CompressRecordingDeps {
  db: Db;
  recordingsDir: string;
  log: Logger;
  compress?: CompressOptions;
}

/** Compress one recording now: the job body, wherever it runs (main thread, worker thread, worker process). */
export async function compressRecording(deps: CompressRecordingDeps, recordingId: string, tenantId: string): Promise<CompressOutcome> {
  const { db, recordingsDir, log } = deps;
  const [row] = await db.select().from(recordings).where(and(eq(recordings.tenantId, tenantId), eq(recordings.id, recordingId))).limit(1);
  if (!row) throw new UnrecoverableError(`recording ${recordingId} not found`);
  if (row.status === 'compressed') return 'already';
  if (row.status !== 'stopped') return 'not-ready';
  const wav = resolveInside(recordingsDir, row.wavPath);
  const relativeOut = compressedPathFor(row.wavPath, COMPRESSED_EXTENSION);
  const out = resolveInside(recordingsDir, relativeOut);
  if (!(await stat(wav).catch(() => null))) {
    // nothing to retry on: the row needs a person (or the directory is not mounted here)
    await db.update(recordings).set({ compressError: 'WAV file missing', compressAttempts: sql`${recordings.compressAttempts} + 1` }).where(eq(recordings.id, recordingId));
    throw new UnrecoverableError(`WAV of recording ${recordingId} is missing: ${wav}`);
  }
  try {
    const result = await compressWav(wav, out, deps.compress);
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
    await unlink(wav).catch((err: unknown) => log.warn({ err: (err as Error).message, recording: recordingId }, 'WAV not deleted'));
    log.info({ recording: recordingId, wavMs: result.wavDurationMs, ms: result.durationMs, bytes: result.sizeBytes }, 'recording compressed');
    return 'compressed';
  } catch (err) {
    await db
      .update(recordings)
      .set({ compressError: (err as Error).message.slice(0, 500), compressAttempts: sql`${recordings.compressAttempts} + 1` })
      .where(eq(recordings.id, recordingId));
    throw err;
  }
}
