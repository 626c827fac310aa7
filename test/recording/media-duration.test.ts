// Durations read from WAV and Ogg Opus headers (the compression check) agree with ffprobe on files made by sox and
// ffmpeg, count the bytes present when a WAV header was never fixed, and return null for anything they cannot read
// exactly (then compressWav asks ffprobe).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { oggOpusDurationMs, wavDurationMs } from '../../src/recording/media-duration.js';
import { DEFAULT_ENCODER_ARGS } from '../../src/recording/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'media-duration-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const ffprobeMs = (file: string) =>
  Math.round(Number(execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'default=noprint_wrappers=1:nokey=1', file]).toString()) * 1000);
const soxWav = (file: string, seconds: number, rate = 8000, channels = 2) =>
  execFileSync('sox', ['-n', '-r', String(rate), '-b', '16', '-c', String(channels), file, 'synth', String(seconds), 'sine', '440']);
const ffmpegWav = (file: string, seconds: number, rate: number, channels: number) =>
  execFileSync('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `sine=f=440:d=${seconds}`, '-ar', String(rate), '-ac', String(channels), file]);
const toOpus = (wav: string, out: string) => execFileSync('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', '-i', wav, ...DEFAULT_ENCODER_ARGS, out]);

describe('WAV duration from the RIFF header', () => {
  it('equals ffprobe for sox and ffmpeg WAVs (stereo 8 kHz, mono 16 kHz, a LIST chunk before data)', async () => {
    const cases: [string, () => unknown][] = [];
    for (const s of [0.02, 1, 5.5, 19.85, 123.4]) {
      const f = path.join(dir, `sox-${s}.wav`);
      cases.push([f, () => soxWav(f, s)]);
    }
    for (const [s, rate, ch] of [[3.3, 16000, 1], [7, 8000, 2], [61.01, 48000, 1]] as const) {
      const f = path.join(dir, `ffmpeg-${s}-${rate}-${ch}.wav`);
      cases.push([f, () => ffmpegWav(f, s, rate, ch)]);
    }
    for (const [f, make] of cases) {
      make();
      expect({ f, ms: await wavDurationMs(f) }).toEqual({ f, ms: ffprobeMs(f) });
    }
    // ffmpeg writes a LIST chunk between fmt and data: the walk over the chunks must have skipped it
    expect((await readFile(path.join(dir, 'ffmpeg-7-8000-2.wav'))).includes('LIST')).toBe(true);
  });

  it('a header never fixed by its writer (data size 0, or larger than the file) counts the bytes present', async () => {
    const f = path.join(dir, 'unfixed.wav');
    soxWav(f, 4); // 8 kHz 16-bit stereo: 32,000 bytes a second
    const bytes = await readFile(f);
    const dataAt = bytes.indexOf('data');
    const zero = Buffer.from(bytes);
    zero.writeUInt32LE(0, dataAt + 4);
    await writeFile(f, zero);
    expect(await wavDurationMs(f)).toBe(4000);
    // cut mid-recording: the header still says 4 s, 1 s of audio is there
    await truncate(f, dataAt + 8 + 32_000);
    expect(await wavDurationMs(f)).toBe(1000);
  });

  it('null for what is not a PCM WAV header', async () => {
    const junk = path.join(dir, 'junk.wav');
    await writeFile(junk, 'RIFF garbage that is not audio');
    expect(await wavDurationMs(junk)).toBeNull();
    const ogg = path.join(dir, 'x.opus');
    soxWav(path.join(dir, 'x.wav'), 1);
    toOpus(path.join(dir, 'x.wav'), ogg);
    expect(await wavDurationMs(ogg)).toBeNull();
  });
});

describe('Ogg Opus duration from the last page', () => {
  it('equals the WAV it was encoded from; ffprobe says the same plus the 6.5 ms pre-skip it does not subtract', async () => {
    for (const s of [0.5, 1, 5, 19.85, 123.4]) {
      const wav = path.join(dir, `o-${s}.wav`);
      const opus = path.join(dir, `o-${s}.opus`);
      soxWav(wav, s);
      toOpus(wav, opus);
      const ms = await oggOpusDurationMs(opus);
      expect({ s, ms }).toEqual({ s, ms: Math.round(s * 1000) });
      expect([6, 7]).toContain(ffprobeMs(opus) - ms!); // 312 samples at 48 kHz, rounded either way
    }
  });

  it('null when the file does not end on a whole page, is not Opus, or is not Ogg', async () => {
    const wav = path.join(dir, 'c.wav');
    const opus = path.join(dir, 'c.opus');
    soxWav(wav, 3);
    toOpus(wav, opus);
    const whole = await readFile(opus);
    await writeFile(opus, whole.subarray(0, whole.length - 100));
    expect(await oggOpusDurationMs(opus)).toBeNull();
    expect(await oggOpusDurationMs(wav)).toBeNull();
    const mkv = path.join(dir, 'c.mka');
    execFileSync('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', '-i', wav, '-c:a', 'libopus', '-b:a', '24k', '-f', 'matroska', mkv]);
    expect(await oggOpusDurationMs(mkv)).toBeNull();
  });
});
