// Default offline Mandarin TTS: Debian's espeak-ng (voice cmn), resampled by sox to 8 kHz 16-bit mono WAV.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs/promises';
import { TtsError, type TtsProvider } from './provider.js';

const run = promisify(execFile);

export interface EspeakOptions {
  voice?: string;
  /** words per minute; espeak's default 175 is hurried for callers */
  speed?: number;
  espeakBin?: string;
  soxBin?: string;
}

export class EspeakNgProvider implements TtsProvider {
  readonly id: string;
  private readonly voice: string;
  private readonly speed: number;

  constructor(private readonly opts: EspeakOptions = {}) {
    this.voice = opts.voice ?? 'cmn';
    this.speed = opts.speed ?? 150;
    this.id = `espeak-ng-${this.voice}-${this.speed}`;
  }

  async render(text: string, outFile: string): Promise<void> {
    const raw = `${outFile}.espeak.wav`;
    try {
      // text goes as one argv element (no shell), so quotes or $ in it are harmless
      await run(this.opts.espeakBin ?? 'espeak-ng', ['-v', this.voice, '-s', String(this.speed), '-w', raw, '--', text], { timeout: 30_000 });
      // gain -n -3: normalise with headroom (espeak output clips when resampled)
      await run(this.opts.soxBin ?? 'sox', [raw, '-r', '8000', '-c', '1', '-b', '16', '-e', 'signed-integer', outFile, 'gain', '-n', '-3'], { timeout: 30_000 });
    } catch (err) {
      throw new TtsError(`espeak-ng/sox failed: ${(err as Error).message}`);
    } finally {
      await fs.rm(raw, { force: true });
    }
  }
}
