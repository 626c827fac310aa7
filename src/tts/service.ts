// TtsService: text → a cached WAV file under PROMPTS_DIR/tts/. The same sentence is rendered once; concurrent
// requests for the same text share one render; files appear atomically (rendered to a temp name, then renamed).
import fs from 'node:fs';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { TtsProvider } from './provider.js';

export interface TtsServiceOptions {
  provider: TtsProvider;
  /** PROMPTS_DIR; cached renders go to <promptsDir>/tts/<provider id>/ */
  promptsDir: string;
  log?: Logger;
}

export class TtsService {
  private readonly inFlight = new Map<string, Promise<string>>();
  private renders = 0;

  constructor(private readonly opts: TtsServiceOptions) {}

  get provider(): TtsProvider {
    return this.opts.provider;
  }

  /** How many times the provider actually rendered (cache misses); for tests and metrics. */
  get renderCount(): number {
    return this.renders;
  }

  /** Where the cached file for `text` lives (whether or not it exists yet). */
  cachePath(text: string): string {
    const hash = createHash('sha256').update(this.opts.provider.id).update('\0').update(normalise(text)).digest('hex').slice(0, 40);
    return path.resolve(this.opts.promptsDir, 'tts', this.opts.provider.id, `${hash}.wav`);
  }

  /** Absolute path of a WAV that says `text`, rendering it on the first request. */
  async fileFor(text: string): Promise<string> {
    const target = this.cachePath(text);
    return this.renderTo(text, target);
  }

  /** Render `text` to a given file unless it exists (make-prompts: named prompt files for the demo flows). */
  async renderTo(text: string, target: string): Promise<string> {
    if (fs.existsSync(target)) return target;
    const pending = this.inFlight.get(target);
    if (pending) return pending;
    const job = this.render(text, target).finally(() => this.inFlight.delete(target));
    this.inFlight.set(target, job);
    return job;
  }

  private async render(text: string, target: string): Promise<string> {
    await fs.promises.mkdir(path.dirname(target), { recursive: true });
    const tmp = `${target}.${randomBytes(4).toString('hex')}.tmp.wav`;
    const started = performance.now();
    try {
      this.renders++;
      await this.opts.provider.render(normalise(text), tmp);
      await fs.promises.rename(tmp, target);
    } finally {
      await fs.promises.rm(tmp, { force: true });
    }
    this.opts.log?.debug({ file: target, provider: this.opts.provider.id, ms: Math.round(performance.now() - started) }, 'tts rendered');
    return target;
  }
}

function normalise(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
