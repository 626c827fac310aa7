// Quick runner outside vitest: `npx tsx test/sim/run-conformance.ts [prefix...]` prints the differences per trace.
import fs from 'node:fs';
import path from 'node:path';
import { replay, loadTrace, TRACE_DIR } from './trace-replay.js';
import { compareReplay } from './trace-compare.js';

const want = process.argv.slice(2);
const verbose = process.env.V === '1';
for (const f of fs.readdirSync(TRACE_DIR).filter((x) => x.endsWith('.jsonl')).sort()) {
  if (want.length && !want.some((w) => f.startsWith(w))) continue;
  const file = path.join(TRACE_DIR, f);
  const anchors = loadTrace(file).filter((l) => l.kind === 'send' || l.kind === 'stimulus').map((l) => (l as { t: number }).t);
  const t = performance.now();
  try {
    const r = replay(file);
    const c = compareReplay(r, anchors);
    console.log(`${c.problems.length ? 'FAIL' : 'ok  '} ${f} (${c.problems.length} problems, ${(performance.now() - t).toFixed(0)} ms)`);
    if (c.problems.length && (verbose || want.length)) console.log(c.problems.slice(0, Number(process.env.N ?? 8)).join('\n\n') + '\n');
  } catch (e) {
    console.log(`CRASH ${f}: ${(e as Error).stack}`);
  }
}
