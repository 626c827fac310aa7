// Debug aid: `npx tsx test/sim/header-diff.ts` lists header names the real switch sent and the emulator did not (and extras), over all traces.
import fs from 'node:fs';
import path from 'node:path';
import { replay, TRACE_DIR } from './trace-replay.js';
const missing = new Map<string, number>();
const extra = new Map<string, number>();
for (const f of fs.readdirSync(TRACE_DIR).filter((x) => x.endsWith('.jsonl'))) {
  const r = replay(path.join(TRACE_DIR, f));
  const by = (fs2: typeof r.actual) => { const m = new Map<string, typeof r.actual>(); for (const x of fs2) { const u = x.event?.['Unique-ID']; if (!u) continue; (m.get(u) ?? m.set(u, []).get(u)!).push(x); } return m; };
  const ec = by(r.expected); const ac = by(r.actual);
  for (const [tu, el] of ec) { const al = ac.get(r.map.get(tu) ?? '') ?? []; el.forEach((e, i) => { const a = al[i]; if (!a) return; const n = e.event!['Event-Name'];
    for (const k of Object.keys(e.event!)) if (!k.startsWith('variable_') && !(k in a.event!)) missing.set(`${n} ${k}`, (missing.get(`${n} ${k}`) ?? 0) + 1);
    for (const k of Object.keys(a.event!)) if (!k.startsWith('variable_') && !(k in e.event!)) extra.set(`${n} ${k}`, (extra.get(`${n} ${k}`) ?? 0) + 1);
  }); }
}
console.log('MISSING', [...missing].sort((a, b) => b[1] - a[1]).slice(0, 60));
console.log('EXTRA', [...extra].sort((a, b) => b[1] - a[1]).slice(0, 40));
