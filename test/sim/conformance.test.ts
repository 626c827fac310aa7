// Conformance: every golden trace from the real FreeSWITCH is replayed against the emulator (virtual clock).
import fs from 'node:fs';
import path from 'node:path';
import { describe, it, expect } from 'vitest';
import { replay, loadTrace, TRACE_DIR } from './trace-replay.js';
import { compareReplay } from './trace-compare.js';

const files = fs.existsSync(TRACE_DIR) ? fs.readdirSync(TRACE_DIR).filter((f) => f.endsWith('.jsonl')).sort() : [];

/** behaviour the emulator knowingly does not reproduce, per trace (each entry is a problem-text prefix) */
const KNOWN_DEVIATIONS: Record<string, string[]> = {};

describe('conformance with golden FreeSWITCH traces', () => {
  it('finds the traces', () => {
    expect(files.length).toBeGreaterThan(0);
  });
  for (const f of files) {
    it(f, () => {
      const file = path.join(TRACE_DIR, f);
      const anchors = loadTrace(file)
        .filter((l) => l.kind === 'send' || l.kind === 'stimulus')
        .map((l) => (l as { t: number }).t);
      const r = replay(file);
      const { problems } = compareReplay(r, anchors);
      const allowed = KNOWN_DEVIATIONS[f.replace(/\.jsonl$/, '')] ?? [];
      const left = problems.filter((p) => !allowed.some((a) => p.startsWith(a)));
      expect(left, `${f}: ${left.length} difference(s) from the real switch:\n\n${left.join('\n\n')}`).toEqual([]);
    });
  }
});
