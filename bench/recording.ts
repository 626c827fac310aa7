// Recording compression throughput: minutes of audio per CPU-second for the whole job pipeline (ffmpeg WAV → Opus
// plus the two ffprobe verifications), and wall-clock throughput at 1 and 2 parallel jobs.
// Input: 8 kHz 16-bit stereo WAVs as RECORD_STEREO writes them, filled with syllable-modulated pink noise (denser
// than speech with pauses, so the figure errs on the slow side).
// Run: npx tsx bench/recording.ts   (BENCH_FILES, default 8; BENCH_SECONDS per file, default 120). Linux only: the
// ffmpeg/ffprobe CPU time is read from /proc/self/stat (cutime + cstime of reaped children).
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { compressWav, DEFAULT_ENCODER_ARGS } from '../src/recording/compressor.js';

const FILES = Number(process.env.BENCH_FILES ?? 8);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 120);
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

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-rec-'));
  try {
    const wavs: string[] = [];
    for (let i = 0; i < FILES; i++) {
      const wav = path.join(dir, `call-${i}.wav`);
      execFileSync('sox', ['-n', '-r', '8000', '-b', '16', '-c', '2', wav, 'synth', String(SECONDS), 'pinknoise', 'pinknoise', 'tremolo', '3.5', '90', 'vol', '0.5']);
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

await main();
