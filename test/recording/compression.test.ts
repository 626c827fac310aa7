// The compression job on real WAVs made with sox: duration kept, original removed only after the check, failures
// keep the original and are retried with backoff (BullMQ on the test Redis).
import { describe, it, expect, beforeAll, afterAll, beforeEach, afterEach } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile, readFile, readdir, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { eq } from 'drizzle-orm';
import type pg from 'pg';
import { createPool, createDb, type Db } from '../../src/db/client.js';
import { tenants } from '../../src/db/schema/core.js';
import { recordings } from '../../src/db/schema/recording.js';
import { RecordingCompressor, compressWav, probeDurationMs, CompressionVerifyError, relativeWavPath, DEFAULT_ENCODER_ARGS } from '../../src/recording/index.js';
import { TEST_DATABASE_URL, TEST_REDIS_URL, randomPrefix } from '../helpers/env.js';
import { threadId } from 'node:worker_threads';

const log = pino({ level: process.env.TEST_LOG ?? 'silent' });
const until = async (cond: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> => {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
};

/** A stereo 8 kHz 16-bit WAV: caller 440 Hz left, agent 880 Hz right, as RECORD_STEREO writes them. */
function makeStereoWav(file: string, seconds: number): void {
  execFileSync('sox', ['-n', '-r', '8000', '-b', '16', '-c', '2', file, 'synth', String(seconds), 'sine', '440', 'sine', '880']);
}

describe('recording compression', () => {
  let pool: pg.Pool;
  let db: Db;
  const tenant = `tcmp${Math.random().toString(36).slice(2, 8)}`;
  let dir: string;
  const compressors: RecordingCompressor[] = [];

  beforeAll(async () => {
    pool = createPool(TEST_DATABASE_URL, 4);
    db = createDb(pool);
    await db.insert(tenants).values({ id: tenant, name: '压缩测试中心' });
  });

  afterAll(async () => {
    await pool.end();
  });

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'rec-cmp-'));
  });

  afterEach(async () => {
    await Promise.all(compressors.splice(0).map((c) => c.close()));
    await rm(dir, { recursive: true, force: true });
  });

  const newCompressor = (opts: Partial<ConstructorParameters<typeof RecordingCompressor>[0]> = {}) => {
    const c = new RecordingCompressor({ db, redisUrl: TEST_REDIS_URL, prefix: randomPrefix('cmp'), recordingsDir: dir, log, worker: false, ...opts });
    compressors.push(c);
    return c;
  };

  /** A stopped recording row with its WAV on disk. */
  async function stoppedRecording(seconds: number, content?: Buffer): Promise<{ id: string; wav: string }> {
    const id = randomUUID();
    const startedAt = new Date();
    const relative = relativeWavPath(id, tenant, startedAt);
    const wav = path.join(dir, relative);
    await mkdir(path.dirname(wav), { recursive: true });
    if (content) await writeFile(wav, content);
    else makeStereoWav(wav, seconds);
    const size = (await stat(wav)).size;
    await db.insert(recordings).values({
      id,
      tenantId: tenant,
      callUuid: randomUUID(),
      legUuid: randomUUID(),
      startedAt,
      endedAt: new Date(startedAt.getTime() + seconds * 1000),
      durationMs: seconds * 1000,
      sizeBytes: size,
      wavPath: relative,
      status: 'stopped',
    });
    return { id, wav };
  }
  const rowOf = async (id: string) => (await db.select().from(recordings).where(eq(recordings.id, id)))[0]!;

  it('round-trip on a real 5 s stereo WAV: Opus with the duration kept, row updated, WAV removed', async () => {
    const { id, wav } = await stoppedRecording(5);
    const wavSize = (await stat(wav)).size;
    expect(await probeDurationMs(wav)).toBe(5000);
    expect(await newCompressor().compress(id, tenant)).toBe('compressed');

    const row = await rowOf(id);
    expect(row).toMatchObject({ status: 'compressed', format: 'opus', compressError: null, compressAttempts: 1 });
    const opus = path.join(dir, row.compressedPath!);
    expect(row.compressedPath).toMatch(/\.opus$/);
    expect(existsSync(wav)).toBe(false);
    const ms = await probeDurationMs(opus);
    expect(Math.abs(ms - 5000)).toBeLessThanOrEqual(50);
    const st = await stat(opus);
    expect(row.compressedSizeBytes).toBe(st.size);
    expect(st.size).toBeGreaterThan(0);
    expect(st.size).toBeLessThan(wavSize / 5);
    const channels = execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=channels,codec_name', '-of', 'csv=p=0', opus]).toString().trim();
    expect(channels).toBe('opus,2');
    // nothing else left behind (no .part)
    expect(await readdir(path.dirname(opus))).toEqual([path.basename(opus)]);
    // a second run is a no-op
    expect(await newCompressor().compress(id, tenant)).toBe('already');
  });

  it('a result that fails verification (duration cut) keeps the original WAV and leaves no compressed file', async () => {
    const { id, wav } = await stoppedRecording(5);
    const truncating = newCompressor({ encoderArgs: ['-t', '2', ...DEFAULT_ENCODER_ARGS] });
    await expect(truncating.compress(id, tenant)).rejects.toBeInstanceOf(CompressionVerifyError);
    expect(existsSync(wav)).toBe(true);
    expect(await probeDurationMs(wav)).toBe(5000);
    expect(await readdir(path.dirname(wav))).toEqual([path.basename(wav)]);
    const row = await rowOf(id);
    expect(row).toMatchObject({ status: 'stopped', format: 'wav', compressedPath: null, compressAttempts: 1 });
    expect(row.compressError).toMatch(/differs from the WAV/);
  });

  it('an unreadable WAV fails in ffmpeg and is kept', async () => {
    const { id, wav } = await stoppedRecording(1, Buffer.from('RIFF garbage that is not audio'));
    await expect(newCompressor().compress(id, tenant)).rejects.toThrow(/ffmpeg exited/);
    expect(existsSync(wav)).toBe(true);
    expect((await rowOf(id)).status).toBe('stopped');
  });

  it('compressWav alone: the tolerance is the larger of 100 ms and 1 %', async () => {
    const wav = path.join(dir, 'a.wav');
    makeStereoWav(wav, 20);
    const out = path.join(dir, 'a.opus');
    // cutting 150 ms of 20 s is within 1 % (200 ms)
    const ok = await compressWav(wav, out, { encoderArgs: ['-t', '19.85', ...DEFAULT_ENCODER_ARGS] });
    expect(ok.wavDurationMs).toBe(20_000);
    expect(Math.abs(ok.durationMs - 19_850)).toBeLessThanOrEqual(30);
    await expect(compressWav(wav, path.join(dir, 'b.opus'), { encoderArgs: ['-t', '19.7', ...DEFAULT_ENCODER_ARGS] })).rejects.toBeInstanceOf(CompressionVerifyError);
    expect(existsSync(path.join(dir, 'b.opus'))).toBe(false);
  });

  it('worker-thread mode: the job runs in a worker thread (not this one), compresses with the duration kept, updates the row and removes the WAV', async () => {
    const { id, wav } = await stoppedRecording(4);
    const threaded = newCompressor({ worker: true, mode: 'worker-thread', databaseUrl: TEST_DATABASE_URL, concurrency: 1 });
    await threaded.enqueue(id, tenant);
    await until(async () => (await rowOf(id)).status === 'compressed', 30_000);
    await until(() => threaded.stats.compressed === 1);
    expect(threaded.stats.lastThreadId).not.toBeNull();
    expect(threaded.stats.lastThreadId).not.toBe(threadId);
    expect(threaded.stats.lastThreadId).not.toBe(0);
    const row = await rowOf(id);
    expect(row).toMatchObject({ format: 'opus', compressError: null, compressAttempts: 1 });
    expect(existsSync(wav)).toBe(false);
    expect(Math.abs((await probeDurationMs(path.join(dir, row.compressedPath!))) - 4000)).toBeLessThanOrEqual(50);
  });

  it('worker-thread mode: a missing WAV fails for good at once (UnrecoverableError crosses the thread), a bad encode is retried and keeps the WAV', async () => {
    const gone = await stoppedRecording(1);
    await rm(gone.wav);
    const bad = await stoppedRecording(3);
    const threaded = newCompressor({ worker: true, mode: 'worker-thread', databaseUrl: TEST_DATABASE_URL, attempts: 3, backoffMs: 50, encoderArgs: ['-t', '1', ...DEFAULT_ENCODER_ARGS] });
    await threaded.enqueue(gone.id, tenant);
    await threaded.enqueue(bad.id, tenant);
    await until(async () => (await rowOf(bad.id)).compressAttempts === 3, 30_000);
    await until(async () => (await threaded.backlog()) === 0);
    // 1 (missing, not retried) + 3 (verification failures); the counter follows the threads' reports
    await until(() => threaded.stats.failed >= 4);
    expect(threaded.stats.failed).toBe(4);
    expect(await rowOf(gone.id)).toMatchObject({ status: 'stopped', compressError: 'WAV file missing', compressAttempts: 1 });
    expect((await rowOf(bad.id)).compressError).toMatch(/differs from the WAV/);
    expect(existsSync(bad.wav)).toBe(true);
    expect(threaded.stats.compressed).toBe(0);
  });

  it('ffmpeg runs 10 nicer than the CTI (calls win the CPU), or as inherited with niceness 0; ffprobe only for an output the header readers do not know, also nicer', async () => {
    const niceLog = path.join(dir, 'nice.log');
    // wrappers that run the real tool, then note their own nice value (field 19 of /proc/<pid>/stat)
    const wrapper = async (tool: string) => {
      const file = path.join(dir, `${tool}-wrapper.sh`);
      await writeFile(file, `#!/bin/sh\n${tool} "$@"\nrc=$?\necho "${tool} $(cut -d' ' -f19 /proc/$$/stat)" >> ${niceLog}\nexit $rc\n`, { mode: 0o755 });
      return file;
    };
    const tools = { ffmpegPath: await wrapper('ffmpeg'), ffprobePath: await wrapper('ffprobe') };
    const wav = path.join(dir, 'n.wav');
    makeStereoWav(wav, 1);
    await compressWav(wav, path.join(dir, 'n.opus'), tools);
    const base = os.getPriority();
    const nicer = Math.min(19, base + 10);
    // the WAV's and the Opus file's durations come from their headers: one process per recording
    expect((await readFile(niceLog, 'utf8')).trim().split('\n')).toEqual([`ffmpeg ${nicer}`]);
    await rm(niceLog);
    // Opus in Matroska: only ffprobe knows its duration
    const mka = await compressWav(wav, path.join(dir, 'n.mka'), { ...tools, encoderArgs: ['-c:a', 'libopus', '-b:a', '24k', '-f', 'matroska'] });
    expect(Math.abs(mka.durationMs - 1000)).toBeLessThanOrEqual(20);
    expect((await readFile(niceLog, 'utf8')).trim().split('\n')).toEqual([`ffmpeg ${nicer}`, `ffprobe ${nicer}`]);
    await rm(niceLog);
    await compressWav(wav, path.join(dir, 'm.opus'), { ...tools, niceness: 0 });
    expect((await readFile(niceLog, 'utf8')).trim().split('\n')).toContain(`ffmpeg ${base}`);
  });

  it('RECORDING_COMPRESSION=off: the CTI only queues, and npm run worker:recording (a separate process) compresses, then stops cleanly on SIGTERM', async () => {
    const { id, wav } = await stoppedRecording(3);
    const prefix = randomPrefix('cmp-proc');
    const worker = spawn(path.resolve('node_modules/.bin/tsx'), ['src/recording/worker-main.ts'], {
      env: { ...process.env, DATABASE_URL: TEST_DATABASE_URL, REDIS_URL: TEST_REDIS_URL, REDIS_PREFIX: prefix, RECORDINGS_DIR: dir, LOG_LEVEL: 'info', RECORDING_COMPRESSION_CONCURRENCY: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    worker.stdout.on('data', (d: Buffer) => (output += d.toString()));
    worker.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => worker.on('exit', (code) => resolve(code)));
    try {
      await until(() => output.includes('recording worker ready'), 30_000);
      const cti = newCompressor({ prefix, worker: false });
      await cti.enqueue(id, tenant);
      await until(async () => (await rowOf(id)).status === 'compressed', 30_000);
      await until(() => !existsSync(wav));
      expect(cti.stats.compressed).toBe(0); // not this process
      // the worker logs after it updated the row: its line may reach the pipe a moment later
      await until(() => output.includes('recording compressed'), 5000).catch(() => {});
      expect(output).toContain('recording compressed');
      worker.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (worker.exitCode === null) worker.kill('SIGKILL');
    }
  });

  it('the BullMQ worker retries with backoff, keeps the WAV after the last attempt, and requeueStopped finishes it later', async () => {
    const { id, wav } = await stoppedRecording(3);
    const prefix = randomPrefix('cmp-retry');
    const failing = newCompressor({ worker: true, prefix, attempts: 3, backoffMs: 50, encoderArgs: ['-t', '1', ...DEFAULT_ENCODER_ARGS] });
    await failing.enqueue(id, tenant);
    await failing.enqueue(id, tenant); // same job id: queued once
    await until(async () => (await rowOf(id)).compressAttempts === 3);
    await until(async () => (await failing.backlog()) === 0);
    // the counter moves when the worker thread's failure reaches the main thread, a tick after the row
    await until(() => failing.stats.failed >= 3);
    expect(failing.stats.failed).toBe(3);
    expect(existsSync(wav)).toBe(true);
    expect((await rowOf(id)).status).toBe('stopped');
    await failing.close();

    // the same queue (prefix) with a working encoder: the failed job is replaced and succeeds
    const working = newCompressor({ worker: true, prefix });
    // (the earlier tests' rows of this tenant are requeued too; their files are gone, so those jobs fail for good)
    expect(await working.requeueStopped({ tenantId: tenant })).toBeGreaterThanOrEqual(1);
    await until(async () => (await rowOf(id)).status === 'compressed');
    // the row is switched to the compressed file first, the WAV deleted right after
    await until(() => !existsSync(wav));
    // the counter moves once the unlink's promise settles, a tick after the file is gone
    await until(() => working.stats.compressed === 1);
    expect(working.stats.compressed).toBe(1);
  });
});
