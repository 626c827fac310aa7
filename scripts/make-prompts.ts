// Generates the prompt files the flows name with `{file, text}` when the file is missing (scripts/setup.sh runs it).
// Idempotent and quick: existing files are skipped; a fresh machine needs only espeak-ng and sox.
// A generated file gets a <file>.tts.txt beside it holding its text: when the flow's text changes it is rendered
// again; a file without that note is a real studio recording and is never overwritten.
// Usage: tsx scripts/make-prompts.ts [--dir ivr-flows] [--prompts var/prompts]
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { scanFlowsDir } from '../src/ivr/flow-files.js';
import { resolvePromptPath } from '../src/ivr/validate.js';
import { EspeakNgProvider, TtsService } from '../src/tts/index.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const dir = path.resolve(arg('--dir') ?? process.env.IVR_FLOWS_DIR ?? 'ivr-flows');
const promptsDir = path.resolve(arg('--prompts') ?? process.env.PROMPTS_DIR ?? 'var/prompts');

/** Every {file, text} prompt in the flows, read leniently so a flow with other errors still gets its prompts. */
function wantedPrompts(): Map<string, string> {
  const wanted = new Map<string, string>();
  for (const src of scanFlowsDir(dir).sources) {
    let doc: unknown;
    try {
      doc = parse(src.source);
    } catch {
      continue; // flows:check reports it
    }
    const nodes = (doc as { nodes?: Record<string, Record<string, unknown>> } | null)?.nodes ?? {};
    for (const node of Object.values(nodes)) {
      for (const field of ['prompt', 'retryPrompt', 'invalidPrompt']) {
        const p = node?.[field] as { file?: unknown; text?: unknown } | undefined;
        if (p && typeof p.file === 'string' && typeof p.text === 'string') wanted.set(resolvePromptPath(promptsDir, p.file), p.text);
      }
    }
  }
  return wanted;
}

async function main(): Promise<void> {
  const missing = [...wantedPrompts()].filter(([file, text]) => {
    if (!fs.existsSync(file)) return true;
    const note = `${file}.tts.txt`;
    return fs.existsSync(note) && fs.readFileSync(note, 'utf8') !== text;
  });
  if (missing.length === 0) {
    console.error('[make-prompts] all prompt files present');
    return;
  }
  const tts = new TtsService({ provider: new EspeakNgProvider(), promptsDir });
  const started = Date.now();
  const queue = [...missing];
  const worker = async () => {
    for (let job = queue.shift(); job; job = queue.shift()) {
      const [file, text] = job;
      fs.rmSync(file, { force: true });
      await tts.renderTo(text, file);
      fs.writeFileSync(`${file}.tts.txt`, text);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  console.error(`[make-prompts] rendered ${missing.length} prompt file(s) into ${promptsDir} in ${Date.now() - started} ms`);
}

main().catch((err) => {
  console.error(`[make-prompts] failed: ${(err as Error).message}`);
  process.exit(1);
});
