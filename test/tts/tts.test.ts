// TTS: the espeak-ng provider renders Mandarin into 8 kHz 16-bit mono WAV; TtsService caches by text hash, renders
// a sentence once even when asked concurrently, and works with any provider (a cloud one plugs in the same way).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, it, expect } from 'vitest';
import { EspeakNgProvider, TtsService, TtsError, type TtsProvider } from '../../src/tts/index.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'tts-'));
const haveEspeak = (() => {
  try {
    execFileSync('espeak-ng', ['--version']);
    execFileSync('sox', ['--version']);
    return true;
  } catch {
    return false;
  }
})();

/** A stand-in for a cloud provider: counts renders and takes a while, like a network call. */
class SlowProvider implements TtsProvider {
  readonly id = 'fake-cloud';
  renders: string[] = [];
  async render(text: string, outFile: string): Promise<void> {
    this.renders.push(text);
    await new Promise((r) => setTimeout(r, 50));
    fs.writeFileSync(outFile, `RIFF${text}`);
  }
}

describe('TtsService', () => {
  it('renders a sentence once; concurrent requests share the render', async () => {
    const provider = new SlowProvider();
    const tts = new TtsService({ provider, promptsDir: tmp() });
    const files = await Promise.all([tts.fileFor('您好，请稍候'), tts.fileFor('您好，请稍候'), tts.fileFor('  您好，请稍候 ')]);
    expect(new Set(files).size).toBe(1);
    expect(provider.renders).toEqual(['您好，请稍候']);
    expect(await tts.fileFor('您好，请稍候')).toBe(files[0]);
    expect(provider.renders).toHaveLength(1);
    expect(tts.renderCount).toBe(1);
    await tts.fileFor('另一句话');
    expect(provider.renders).toHaveLength(2);
    expect(path.relative(tts.cachePath('x'), files[0]!)).toMatch(/^\.\.\/[0-9a-f]{40}\.wav$/);
  });

  it('a cached file survives a restart (a new service instance does not render again)', async () => {
    const dir = tmp();
    const first = new SlowProvider();
    const file = await new TtsService({ provider: first, promptsDir: dir }).fileFor('工单已受理');
    const second = new SlowProvider();
    expect(await new TtsService({ provider: second, promptsDir: dir }).fileFor('工单已受理')).toBe(file);
    expect(second.renders).toEqual([]);
  });

  it('a failed render leaves no file behind and the next request retries', async () => {
    let fail = true;
    const provider: TtsProvider = {
      id: 'flaky',
      async render(_text, out) {
        fs.writeFileSync(out, 'partial');
        if (fail) throw new TtsError('boom');
        fs.writeFileSync(out, 'RIFFok');
      },
    };
    const tts = new TtsService({ provider, promptsDir: tmp() });
    await expect(tts.fileFor('重试')).rejects.toThrow('boom');
    expect(fs.existsSync(tts.cachePath('重试'))).toBe(false);
    expect(fs.readdirSync(path.dirname(tts.cachePath('重试')))).toEqual([]);
    fail = false;
    expect(fs.readFileSync(await tts.fileFor('重试'), 'utf8')).toBe('RIFFok');
  });

  it.skipIf(!haveEspeak)('espeak-ng renders Mandarin as 8 kHz 16-bit mono WAV', async () => {
    const tts = new TtsService({ provider: new EspeakNgProvider(), promptsDir: tmp() });
    const file = await tts.fileFor('您好，欢迎致电一二三四五政务服务便民热线。');
    const info = execFileSync('soxi', [file], { encoding: 'utf8' });
    expect(info).toMatch(/Channels\s+: 1/);
    expect(info).toMatch(/Sample Rate\s+: 8000/);
    expect(info).toMatch(/Precision\s+: 16-bit/);
    const seconds = Number(execFileSync('soxi', ['-D', file], { encoding: 'utf8' }));
    expect(seconds).toBeGreaterThan(1);
    // text with shell metacharacters is passed as one argument, never through a shell
    await expect(tts.fileFor('$(touch /tmp/pwned-tts) "引号" `反引号`')).resolves.toMatch(/\.wav$/);
    expect(fs.existsSync('/tmp/pwned-tts')).toBe(false);
  });
});

describe('scripts/make-prompts.ts', () => {
  it.skipIf(!haveEspeak)('renders the missing demo prompts, then is a no-op', () => {
    const prompts = tmp();
    const run = () =>
      execFileSync(process.execPath, ['--import', 'tsx', 'scripts/make-prompts.ts', '--prompts', prompts], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    run();
    const made = fs.readdirSync(path.join(prompts, 'demo')).filter((f) => f.endsWith('.wav'));
    expect(made).toContain('welcome.wav');
    expect(made).toContain('main-menu.wav');
    expect(made.length).toBeGreaterThanOrEqual(15);
    const mtime = fs.statSync(path.join(prompts, 'demo/welcome.wav')).mtimeMs;
    run();
    expect(fs.statSync(path.join(prompts, 'demo/welcome.wav')).mtimeMs).toBe(mtime);
    // a real studio recording (no .tts.txt note beside it) is never overwritten
    fs.writeFileSync(path.join(prompts, 'demo/goodbye.wav'), 'studio');
    fs.rmSync(path.join(prompts, 'demo/goodbye.wav.tts.txt'));
    run();
    expect(fs.readFileSync(path.join(prompts, 'demo/goodbye.wav'), 'utf8')).toBe('studio');
  }, 60_000);
});
