// Prompt files named by flows as {file, text}: render the missing ones by TTS (make-prompts at set-up, and the
// IVR runtime at start so a fresh node never refuses its flows for want of a generated prompt).
// A generated file gets <file>.tts.txt with its text: when the flow's text changes it is rendered again; a file
// without that note is a real studio recording and is never overwritten.
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { scanFlowsDir } from '../ivr/flow-files.js';
import { resolvePromptPath } from '../ivr/validate.js';
import type { TtsService } from './service.js';

/** Every {file, text} prompt in the flows, read leniently so a flow with other errors still gets its prompts. */
export function wantedPromptFiles(flowsDir: string, promptsDir: string): Map<string, string> {
  const wanted = new Map<string, string>();
  for (const src of scanFlowsDir(flowsDir).sources) {
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

/** Render what is missing or stale; returns the files written. */
export async function ensurePromptFiles(flowsDir: string, promptsDir: string, tts: TtsService, concurrency = 4): Promise<string[]> {
  const todo = [...wantedPromptFiles(flowsDir, promptsDir)].filter(([file, text]) => {
    if (!fs.existsSync(file)) return true;
    const note = `${file}.tts.txt`;
    return fs.existsSync(note) && fs.readFileSync(note, 'utf8') !== text;
  });
  const done: string[] = [];
  const worker = async () => {
    for (let job = todo.shift(); job; job = todo.shift()) {
      const [file, text] = job;
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.rmSync(file, { force: true });
      await tts.renderTo(text, file);
      fs.writeFileSync(`${file}.tts.txt`, text);
      done.push(file);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return done;
}
