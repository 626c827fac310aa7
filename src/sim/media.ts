// Media sources: how long a prompt/tone plays (real WAV headers, tone_stream, silence_stream), and WAV writing.
import fs from 'node:fs';
import path from 'node:path';

export type MediaInfo =
  | { kind: 'file'; ms: number; type?: undefined }
  | { kind: 'tone'; ms: number; type: 'tone_stream' }
  | { kind: 'silence'; ms: number; type: 'silence_stream' }
  | { kind: 'endless'; ms: number; type: 'local_stream' }
  | { kind: 'missing'; ms: 0; type?: undefined };

/** Resolves media paths to durations. Known durations win over the file system (traces' /opt/fs-switch/sounds). */
export class MediaLibrary {
  readonly known = new Map<string, number>();
  constructor(known?: Record<string, number>, private readonly soundDirs: string[] = []) {
    if (known) for (const k in known) this.known.set(k, known[k]!);
  }

  info(src: string): MediaInfo {
    const s = src.trim();
    if (s.startsWith('tone_stream://')) return { kind: 'tone', ms: toneMs(s), type: 'tone_stream' };
    if (s.startsWith('silence_stream://')) {
      const ms = Number.parseInt(s.slice('silence_stream://'.length), 10);
      return { kind: 'silence', ms: Number.isFinite(ms) && ms > 0 ? ms : Infinity, type: 'silence_stream' };
    }
    if (s.startsWith('local_stream://')) return { kind: 'endless', ms: Infinity, type: 'local_stream' };
    const k = this.known.get(s) ?? this.known.get(path.basename(s));
    if (k !== undefined) return { kind: 'file', ms: k };
    const candidates = path.isAbsolute(s) ? [s] : this.soundDirs.map((d) => path.join(d, s));
    for (const c of candidates) {
      const ms = wavDurationMs(c);
      if (ms !== undefined) return { kind: 'file', ms };
    }
    return { kind: 'missing', ms: 0 };
  }
}

/** tone_stream://%(on,off,freq[,freq]);loops=N — one cycle is on+off ms; loops=-1 is endless */
export function toneMs(s: string): number {
  let total = 0;
  const re = /%\((\d+),(\d+),[^)]*\)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s))) total += Number(m[1]) + Number(m[2]);
  const loops = /loops=(-?\d+)/.exec(s);
  const n = loops ? Number(loops[1]) : 1;
  if (n < 0) return Infinity;
  return total * Math.max(1, n) || 1000;
}

/** duration of a PCM WAV from its header; undefined if absent or unreadable */
export function wavDurationMs(file: string): number | undefined {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const head = Buffer.alloc(4096);
    const n = fs.readSync(fd, head, 0, head.length, 0);
    if (n < 44 || head.toString('ascii', 0, 4) !== 'RIFF' || head.toString('ascii', 8, 12) !== 'WAVE') return undefined;
    let off = 12;
    let byteRate = 0;
    while (off + 8 <= n) {
      const id = head.toString('ascii', off, off + 4);
      const size = head.readUInt32LE(off + 4);
      if (id === 'fmt ') byteRate = head.readUInt32LE(off + 16);
      if (id === 'data') {
        const total = fs.fstatSync(fd).size;
        const dataSize = Math.min(size, total - off - 8);
        return byteRate ? (dataSize / byteRate) * 1000 : undefined;
      }
      off += 8 + size + (size & 1);
    }
    return undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** write an 8 kHz 16-bit PCM WAV: silence, or a sine per channel (Hz, 0 = silence) */
export function writeWav(file: string, ms: number, tones: number[] = [0]): number {
  const channels = Math.max(1, tones.length);
  const rate = 8000;
  const samples = Math.max(0, Math.round((ms * rate) / 1000));
  const dataSize = samples * channels * 2;
  const buf = Buffer.alloc(44 + dataSize);
  buf.write('RIFF', 0, 'ascii');
  buf.writeUInt32LE(36 + dataSize, 4);
  buf.write('WAVE', 8, 'ascii');
  buf.write('fmt ', 12, 'ascii');
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20);
  buf.writeUInt16LE(channels, 22);
  buf.writeUInt32LE(rate, 24);
  buf.writeUInt32LE(rate * channels * 2, 28);
  buf.writeUInt16LE(channels * 2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write('data', 36, 'ascii');
  buf.writeUInt32LE(dataSize, 40);
  if (tones.some((t) => t > 0)) {
    for (let i = 0; i < samples; i++) {
      for (let c = 0; c < channels; c++) {
        const f = tones[c] ?? 0;
        const v = f > 0 ? Math.round(8000 * Math.sin((2 * Math.PI * f * i) / rate)) : 0;
        buf.writeInt16LE(v, 44 + (i * channels + c) * 2);
      }
    }
  }
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, buf);
  } catch {
    // the real switch also records nothing to an unwritable path; events still fire
  }
  return buf.length;
}
