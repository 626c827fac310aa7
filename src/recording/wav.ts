// Just enough RIFF/WAVE parsing to know a recording's length without a RECORD_STOP event (e.g. the CTI was down).
import { open } from 'node:fs/promises';

export interface WavInfo {
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
  dataBytes: number;
  durationMs: number;
  sizeBytes: number;
}

/** Reads the fmt and data chunk headers; a data size of 0 or 0xFFFFFFFF (still being written) falls back to the file size. */
export async function readWavInfo(file: string): Promise<WavInfo> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    const head = Buffer.alloc(Math.min(size, 4096));
    await fh.read(head, 0, head.length, 0);
    if (head.length < 12 || head.toString('ascii', 0, 4) !== 'RIFF' || head.toString('ascii', 8, 12) !== 'WAVE') {
      throw new Error(`not a WAV file: ${file}`);
    }
    let pos = 12;
    let channels = 0;
    let sampleRate = 0;
    let bitsPerSample = 0;
    let dataBytes = -1;
    let dataStart = 0;
    while (pos + 8 <= head.length) {
      const id = head.toString('ascii', pos, pos + 4);
      const len = head.readUInt32LE(pos + 4);
      if (id === 'fmt ' && pos + 24 <= head.length) {
        channels = head.readUInt16LE(pos + 10);
        sampleRate = head.readUInt32LE(pos + 12);
        bitsPerSample = head.readUInt16LE(pos + 22);
      } else if (id === 'data') {
        dataStart = pos + 8;
        dataBytes = len;
        break;
      }
      pos += 8 + len + (len % 2);
    }
    if (!channels || !sampleRate || !bitsPerSample || dataBytes < 0) throw new Error(`WAV without fmt/data chunk: ${file}`);
    if (dataBytes === 0 || dataBytes === 0xffffffff || dataStart + dataBytes > size) dataBytes = Math.max(0, size - dataStart);
    const bytesPerMs = (sampleRate * channels * (bitsPerSample / 8)) / 1000;
    return { channels, sampleRate, bitsPerSample, dataBytes, durationMs: Math.round(dataBytes / bytesPerMs), sizeBytes: size };
  } finally {
    await fh.close();
  }
}
