// Debug aid: `npx tsx test/sim/debug-trace.ts 08` prints the real and emulated event sequences side by side, per channel.
import fs from 'node:fs';
import path from 'node:path';
import { replay, TRACE_DIR } from './trace-replay.js';
import type { Frame } from './trace-replay.js';

const prefix = process.argv[2] ?? '';
const file = fs.readdirSync(TRACE_DIR).find((f) => f.startsWith(prefix) && f.endsWith('.jsonl'))!;
const r = replay(path.join(TRACE_DIR, file));
const fmt = (f: Frame): string => {
  const e = f.event!;
  let x = `${f.t.toFixed(0).padStart(6)} ${e['Event-Name']} ${e['Channel-State'] ?? ''} ${e['Channel-Call-State'] ?? ''}`;
  if (e.Application) x += ` ${e.Application}(${(e['Application-Data'] ?? '').slice(0, 30)})`;
  if (e.Action) x += ` ${e.Action}`;
  if (e['Hangup-Cause']) x += ` ${e['Hangup-Cause']}`;
  return x;
};
for (const [tu, eu] of r.map) {
  const a = r.expected.filter((f) => f.event?.['Unique-ID'] === tu).map(fmt);
  const b = r.actual.filter((f) => f.event?.['Unique-ID'] === eu).map(fmt);
  console.log(`\n=== ${tu.slice(0, 8)} -> ${eu.slice(0, 8)}`);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? '';
    const y = b[i] ?? '';
    const same = x.slice(7) === y.slice(7) ? ' ' : '≠';
    console.log(`${same} ${x.padEnd(70)} | ${y}`);
  }
}
console.log('\nreplies:');
for (const f of r.actual.filter((f) => !f.event)) console.log(` emu ${f.t.toFixed(0)} ${f.headers['Reply-Text'] ?? JSON.stringify(f.body.slice(0, 100))}`);
