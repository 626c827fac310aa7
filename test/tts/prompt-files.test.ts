// ensurePromptFiles: renders the {file, text} prompts a flow names when missing, again when the text changes,
// and never overwrites a studio recording (a file without its .tts.txt note).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it, expect } from 'vitest';
import { TtsService, ensurePromptFiles, type TtsProvider } from '../../src/tts/index.js';

const flow = (text: string) => `name: f\nstart: a\nnodes:\n  a:\n    type: hangup\n    prompt: { file: t1/bye.wav, text: "${text}" }\n`;

describe('ensurePromptFiles', () => {
  it('renders missing, re-renders changed text, keeps studio recordings', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-'));
    const flows = path.join(root, 'flows');
    const prompts = path.join(root, 'prompts');
    fs.mkdirSync(path.join(flows, 't1'), { recursive: true });
    fs.writeFileSync(path.join(flows, 't1/main.yaml'), flow('再见'));
    const rendered: string[] = [];
    const provider: TtsProvider = { id: 'fake', render: async (text, out) => (rendered.push(text), fs.writeFileSync(out, `RIFF${text}`)) };
    const tts = new TtsService({ provider, promptsDir: prompts });
    const file = path.join(prompts, 't1/bye.wav');

    expect(await ensurePromptFiles(flows, prompts, tts)).toEqual([file]);
    expect(fs.readFileSync(file, 'utf8')).toBe('RIFF再见');
    expect(await ensurePromptFiles(flows, prompts, tts)).toEqual([]);

    fs.writeFileSync(path.join(flows, 't1/main.yaml'), flow('感谢来电，再见'));
    expect(await ensurePromptFiles(flows, prompts, tts)).toEqual([file]);
    expect(fs.readFileSync(file, 'utf8')).toBe('RIFF感谢来电，再见');

    fs.writeFileSync(file, 'studio');
    fs.rmSync(`${file}.tts.txt`);
    fs.writeFileSync(path.join(flows, 't1/main.yaml'), flow('另一句'));
    expect(await ensurePromptFiles(flows, prompts, tts)).toEqual([]);
    expect(fs.readFileSync(file, 'utf8')).toBe('studio');
    expect(rendered).toEqual(['再见', '感谢来电，再见']);
  });
});
