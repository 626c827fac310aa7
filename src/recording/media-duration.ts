// Durations read from the files' own headers, for the compression check: a WAV's from its RIFF header (equal to
// ffprobe's), an Ogg Opus file's from its last page's granule position less the pre-skip (the audio's true length;
// ffprobe's is 6.5 ms more, it keeps the pre-skip). Each ffprobe
// was a process start of ~110 ms CPU, twice per recording, more than the encode itself; at 100 calls/s that is most
// of a core. Anything these cannot read exactly returns null, and the caller asks ffprobe.
import { open, type FileHandle } from 'node:fs/promises';

/** the last Ogg page is found in this many bytes from the end (a page is at most 65,307 bytes) */
const OGG_TAIL_BYTES = 65_536 + 27 + 255;
const OPUS_GRANULE_RATE = 48_000;

async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buf, 0, length, position);
  return buf.subarray(0, bytesRead);
}

/**
 * Duration of a PCM WAV in ms, from `fmt ` (byte rate) and the `data` chunk's size. A data size that is unset or
 * larger than the file (a writer that died before fixing the header) counts the bytes actually there.
 */
export async function wavDurationMs(file: string): Promise<number | null> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    const head = await readAt(fh, 0, Math.min(size, 64 * 1024));
    if (head.length < 12 || head.toString('latin1', 0, 4) !== 'RIFF' || head.toString('latin1', 8, 12) !== 'WAVE') return null;
    let byteRate = 0;
    for (let at = 12; at + 8 <= head.length; ) {
      const id = head.toString('latin1', at, at + 4);
      const len = head.readUInt32LE(at + 4);
      const body = at + 8;
      if (id === 'fmt ') {
        if (body + 16 > head.length) return null;
        byteRate = head.readUInt32LE(body + 8);
      } else if (id === 'data') {
        if (byteRate <= 0) return null;
        const present = size - body;
        const bytes = len === 0 || len === 0xffffffff || len > present ? present : len;
        return Math.round((bytes / byteRate) * 1000);
      }
      at = body + len + (len % 2); // chunks are word-aligned
    }
    return null;
  } finally {
    await fh.close();
  }
}

/** granule position of a page as a number (null for -1: no packet ends on the page) */
function granuleOf(page: Buffer, at: number): number | null {
  const lo = page.readUInt32LE(at + 6);
  const hi = page.readInt32LE(at + 10);
  if (hi === -1 && lo === 0xffffffff) return null;
  return hi * 2 ** 32 + lo;
}

/** byte length of the Ogg page starting at `at`, or null when no whole page header is there */
function pageLength(buf: Buffer, at: number): number | null {
  if (at + 27 > buf.length || buf.toString('latin1', at, at + 4) !== 'OggS' || buf[at + 4] !== 0) return null;
  const segments = buf[at + 26]!;
  if (at + 27 + segments > buf.length) return null;
  let len = 27 + segments;
  for (let i = 0; i < segments; i++) len += buf[at + 27 + i]!;
  return len;
}

/**
 * Duration of a single-stream Ogg Opus file in ms: (last granule − pre-skip) / 48 kHz. Null unless the file starts
 * with an OpusHead page and ends exactly on a whole page with a granule position.
 */
export async function oggOpusDurationMs(file: string): Promise<number | null> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    const head = await readAt(fh, 0, Math.min(size, 512));
    const firstLen = pageLength(head, 0);
    if (firstLen === null) return null;
    const packet = 27 + head[26]!;
    if (packet + 19 > head.length || head.toString('latin1', packet, packet + 8) !== 'OpusHead') return null;
    const serial = head.readUInt32LE(14);
    const preSkip = head.readUInt16LE(packet + 10);

    const tailStart = Math.max(0, size - OGG_TAIL_BYTES);
    const tail = await readAt(fh, tailStart, size - tailStart);
    // the last page: the last "OggS" whose page ends exactly at the end of the file
    for (let at = tail.lastIndexOf('OggS'); at >= 0; at = at > 0 ? tail.lastIndexOf('OggS', at - 1) : -1) {
      const len = pageLength(tail, at);
      if (len === null || at + len !== tail.length) continue;
      if (tail.readUInt32LE(at + 14) !== serial) return null;
      const granule = granuleOf(tail, at);
      if (granule === null || granule < preSkip) return null;
      return Math.round(((granule - preSkip) / OPUS_GRANULE_RATE) * 1000);
    }
    return null;
  } finally {
    await fh.close();
  }
}
