// Recording compression throughput: minutes of audio per CPU-second for the whole job pipeline (ffmpeg WAV → Opus
// plus the duration check, read from the files' headers), and wall-clock throughput at 1 and 2 parallel jobs.
// Input: 8 kHz 16-bit stereo WAVs as RECORD_STEREO writes them, filled with syllable-modulated pink noise (denser
// than speech with pauses, so the figure errs on the slow side).
// Run: npx tsx bench/recording.ts   (BENCH_FILES, default 8; BENCH_SECONDS per file, default 120). Linux only: the
// ffmpeg/ffprobe CPU time is read from /proc/self/stat (cutime + cstime of reaped children).
//
// Second part, the main event loop while recordings are compressed (RECORDING_COMPRESSION inline vs worker-thread):
// BENCH_LOOP_FILES recorded calls (default 60) of BENCH_LOOP_SECONDS (default 60) end at once and are queued; the
// real RecordingCompressor (BullMQ, PostgreSQL rows, ffmpeg) compresses them with
// RECORDING_COMPRESSION_CONCURRENCY (default cores − 1) while perf_hooks.monitorEventLoopDelay samples this process's
// loop. spawn() blocks for as long as the fork of the calling process takes, so a ballast of BENCH_BALLAST_MB
// (default 200, touched) stands in for a live CTI's heap. BENCH_PART=throughput|loop|all (default all).
// Storage: BENCH_DATABASE_URL (default database hotline_bench, as npm run bench creates it), BENCH_REDIS_URL.
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { randomBytes, randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { Queue } from 'bullmq';
import { pino } from 'pino';
import { applyMigrations, createDb, createPool, type Db } from '../src/db/client.js';
import { tenants } from '../src/db/schema/core.js';
import { recordings } from '../src/db/schema/recording.js';
import { redisConnectionOptions } from '../src/calls/cdr-writer.js';
import { relativeWavPath } from '../src/recording/paths.js';
import {
  compressWav,
  defaultCompressionConcurrency,
  DEFAULT_ENCODER_ARGS,
  RECORDING_COMPRESS_QUEUE,
  RecordingCompressor,
  type CompressionMode,
} from '../src/recording/compressor.js';
import { SpawnTimer } from './lib/spawn-timer.js';

const FILES = Number(process.env.BENCH_FILES ?? 8);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 120);
const PART = process.env.BENCH_PART ?? 'all';
const LOOP_FILES = Number(process.env.BENCH_LOOP_FILES ?? 60);
const LOOP_SECONDS = Number(process.env.BENCH_LOOP_SECONDS ?? 60);
const BALLAST_MB = Number(process.env.BENCH_BALLAST_MB ?? 200);
const CONCURRENCY = Number(process.env.RECORDING_COMPRESSION_CONCURRENCY ?? defaultCompressionConcurrency());
const DB_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://hotline:hotline@127.0.0.1:5432/hotline_bench';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** CPU seconds of this process plus every child it has waited for. */
function cpuSeconds(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  // after "pid (comm) ": state is field 3, so utime..cstime (fields 14-17) are at indexes 11-14
  const [utime, stime, cutime, cstime] = fields.slice(11, 15).map(Number) as [number, number, number, number];
  return (utime + stime + cutime + cstime) / CLK_TCK;
}

async function runBatch(wavs: string[], outDir: string, parallel: number, encoderArgs = DEFAULT_ENCODER_ARGS): Promise<{ wallS: number; cpuS: number; bytes: number }> {
  const cpu0 = cpuSeconds();
  const t0 = performance.now();
  let next = 0;
  let bytes = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < wavs.length) {
        const wav = wavs[next++]!;
        const r = await compressWav(wav, path.join(outDir, `${path.basename(wav, '.wav')}-${parallel}.opus`), { encoderArgs });
        bytes += r.sizeBytes;
      }
    }),
  );
  return { wallS: (performance.now() - t0) / 1000, cpuS: cpuSeconds() - cpu0, bytes };
}

/** 8 kHz 16-bit stereo, as RECORD_STEREO writes it; syllable-modulated pink noise on both channels */
function makeCallWav(file: string, seconds: number): void {
  execFileSync('sox', ['-n', '-r', '8000', '-b', '16', '-c', '2', file, 'synth', String(seconds), 'pinknoise', 'pinknoise', 'tremolo', '3.5', '90', 'vol', '0.5']);
}

async function throughput(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-rec-'));
  try {
    const wavs: string[] = [];
    for (let i = 0; i < FILES; i++) {
      const wav = path.join(dir, `call-${i}.wav`);
      makeCallWav(wav, SECONDS);
      wavs.push(wav);
    }
    const wavBytes = (await Promise.all(wavs.map((w) => stat(w)))).reduce((a, s) => a + s.size, 0);
    const audioMin = (FILES * SECONDS) / 60;
    console.log(`input: ${FILES} × ${SECONDS} s stereo 8 kHz WAV = ${audioMin.toFixed(1)} min of audio, ${(wavBytes / 1e6).toFixed(1)} MB; ${os.cpus().length} CPU(s) ${os.cpus()[0]?.model ?? ''}`);
    // the default (libopus complexity 10), and complexity 5 for comparison: about half the CPU for a small quality cost
    const runs = [
      { label: 'default, parallel 1', parallel: 1, args: DEFAULT_ENCODER_ARGS },
      { label: 'default, parallel 2', parallel: 2, args: DEFAULT_ENCODER_ARGS },
      { label: 'complexity 5, parallel 1', parallel: 1, args: [...DEFAULT_ENCODER_ARGS.slice(0, -2), '-compression_level', '5', '-f', 'ogg'] },
    ];
    for (const { label, parallel, args } of runs) {
      const r = await runBatch(wavs, dir, parallel, args);
      console.log(
        `${label}: ${(audioMin / r.cpuS).toFixed(1)} min of audio per CPU-second · ` +
          `${(audioMin / r.wallS).toFixed(1)} min of audio per wall-second (${((FILES * SECONDS) / r.wallS).toFixed(0)}× real time) · ` +
          `CPU ${r.cpuS.toFixed(2)} s, wall ${r.wallS.toFixed(2)} s · output ${(r.bytes / 1e6).toFixed(2)} MB (${(wavBytes / r.bytes).toFixed(1)}:1)`,
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

interface LoopRun {
  mode: CompressionMode | 'idle';
  wallS: number;
  loop: { p50: number; p99: number; max: number; mean: number };
  spawns: { count: number; p50: number; max: number };
}

const pct = (sorted: number[], p: number): number => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : 0);

/** Queue `count` stopped recordings at once and measure this process's event loop until all are compressed. */
async function loopRun(mode: CompressionMode | 'idle', db: Db, tenant: string, template: string, root: string, count: number): Promise<LoopRun> {
  const dir = path.join(root, mode);
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = randomUUID();
    const startedAt = new Date();
    const relative = relativeWavPath(id, tenant, startedAt);
    await mkdir(path.dirname(path.join(dir, relative)), { recursive: true });
    await copyFile(template, path.join(dir, relative));
    await db.insert(recordings).values({
      id, tenantId: tenant, callUuid: randomUUID(), legUuid: randomUUID(), startedAt,
      endedAt: new Date(startedAt.getTime() + LOOP_SECONDS * 1000), durationMs: LOOP_SECONDS * 1000,
      sizeBytes: (await stat(template)).size, wavPath: relative, status: 'stopped',
    });
    ids.push(id);
  }
  const prefix = `bench:rec:${randomBytes(6).toString('hex')}`;
  const log = pino({ level: 'warn' });
  const compressor = new RecordingCompressor({
    db, redisUrl: REDIS_URL, prefix, recordingsDir: dir, log,
    worker: mode !== 'idle', mode: mode === 'idle' ? 'inline' : mode, databaseUrl: DB_URL, concurrency: CONCURRENCY,
  });
  const spawnTimer = new SpawnTimer().install();
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const t0 = performance.now();
  try {
    if (mode === 'idle') {
      await new Promise((r) => setTimeout(r, 10_000));
    } else {
      // 60 recorded calls end at once
      await Promise.all(ids.map((id) => compressor.enqueue(id, tenant)));
      while (compressor.stats.compressed + compressor.stats.failed < count) await new Promise((r) => setTimeout(r, 250));
      if (compressor.stats.failed > 0) throw new Error(`${compressor.stats.failed} compression jobs failed`);
    }
  } finally {
    h.disable();
    spawnTimer.uninstall();
    await compressor.close();
    const q = new Queue(RECORDING_COMPRESS_QUEUE, { connection: redisConnectionOptions(REDIS_URL), prefix });
    await q.obliterate({ force: true }).catch(() => {});
    await q.close();
  }
  const ms = (ns: number) => ns / 1e6;
  const spawns = spawnTimer.samplesMs.sort((a, b) => a - b);
  return {
    mode,
    wallS: (performance.now() - t0) / 1000,
    loop: { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max), mean: ms(h.mean) },
    spawns: { count: spawns.length, p50: pct(spawns, 50), max: spawns.at(-1) ?? 0 },
  };
}

async function loopDelay(): Promise<void> {
  // stands in for a live CTI's heap: fork (inside spawn) copies the page tables of everything mapped
  const ballast = Array.from({ length: Math.ceil(BALLAST_MB / 16) }, () => Buffer.allocUnsafe(16 * 1024 * 1024).fill(1));
  const root = await mkdtemp(path.join(os.tmpdir(), 'bench-rec-loop-'));
  const pool = createPool(DB_URL, 4);
  const db = createDb(pool);
  const tenant = `benchrec${randomBytes(3).toString('hex')}`;
  try {
    await applyMigrations(pool).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}: create the database (npm run bench does) or set BENCH_DATABASE_URL`);
    });
    await db.insert(tenants).values({ id: tenant, name: '录音压缩压测' });
    const template = path.join(root, 'template.wav');
    makeCallWav(template, LOOP_SECONDS);
    console.log(
      `\nevent loop of this process while ${LOOP_FILES} recorded calls of ${LOOP_SECONDS} s end at once and are compressed ` +
        `(concurrency ${CONCURRENCY}, ballast ${BALLAST_MB} MB, RSS ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB, load average ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} CPUs: other work shares this machine)`,
    );
    for (const mode of ['idle', 'inline', 'worker-thread'] as const) {
      const r = await loopRun(mode, db, tenant, template, root, mode === 'idle' ? 0 : LOOP_FILES);
      console.log(
        `${mode.padEnd(13)} loop delay p50 ${r.loop.p50.toFixed(1)} ms · p99 ${r.loop.p99.toFixed(1)} ms · max ${r.loop.max.toFixed(1)} ms · mean ${r.loop.mean.toFixed(2)} ms` +
          ` · spawn() on the main thread: ${r.spawns.count} calls, p50 ${r.spawns.p50.toFixed(1)} ms, max ${r.spawns.max.toFixed(1)} ms · wall ${r.wallS.toFixed(1)} s`,
      );
    }
  } finally {
    await pool.end();
    await rm(root, { recursive: true, force: true });
    ballast.length = 0;
  }
}

if (PART === 'all' || PART === 'throughput') await throughput();
if (PART === 'all' || PART === 'loop') await loopDelay();

