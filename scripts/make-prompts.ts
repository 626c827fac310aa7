// Generates the prompt files the flows name with `{file, text}` when missing or when their text changed
// (scripts/setup.sh runs it). Idempotent and quick; a fresh machine needs only espeak-ng and sox.
// Usage: tsx scripts/make-prompts.ts [--dir ivr-flows] [--prompts var/prompts]
import path from 'node:path';
import { EspeakNgProvider, TtsService } from '../src/tts/index.js';
import { ensurePromptFiles } from '../src/tts/prompt-files.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const dir = path.resolve(arg('--dir') ?? process.env.IVR_FLOWS_DIR ?? 'ivr-flows');
const promptsDir = path.resolve(arg('--prompts') ?? process.env.PROMPTS_DIR ?? 'var/prompts');

async function main(): Promise<void> {
  const started = Date.now();
  const tts = new TtsService({ provider: new EspeakNgProvider(), promptsDir });
  const made = await ensurePromptFiles(dir, promptsDir, tts);
  if (made.length === 0) console.error('[make-prompts] all prompt files present');
  else console.error(`[make-prompts] rendered ${made.length} prompt file(s) into ${promptsDir} in ${Date.now() - started} ms`);
}

main().catch((err) => {
  console.error(`[make-prompts] failed: ${(err as Error).message}`);
  process.exit(1);
});
