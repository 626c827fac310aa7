// Percentiles and the one printed table of `npm run bench` (one block per scenario: columns are long).

import type { ProbeWindow } from './cti-probe.js';
import type { SwitchScenarioResult } from './protocol.js';

export type Row = Record<string, string | number>;

/** nearest-rank percentile; NaN for no samples */
export function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export const fmt = (v: number, digits: number): string => (Number.isFinite(v) ? v.toFixed(digits) : 'n/a');

/** metrics as rows, scenarios as columns (the metric names do not fit as column heads) */
export function printTable(rows: Row[]): void {
  const scenarioRows = rows.filter((r) => Object.keys(r).length > 2);
  const noteRows = rows.filter((r) => Object.keys(r).length <= 2);
  const metrics = [...new Set(scenarioRows.flatMap((r) => Object.keys(r)))].filter((k) => k !== 'scenario' && k !== 'note');
  const heads = ['metric', ...scenarioRows.map((r) => String(r.scenario))];
  const body = metrics.map((m) => [m, ...scenarioRows.map((r) => String(r[m] ?? 'n/a'))]);
  const widths = heads.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ');
  const out = [line(heads), widths.map((w) => '-'.repeat(w)).join('-+-'), ...body.map(line)];
  for (const r of scenarioRows) if (r.note) out.push(`${r.scenario}: ${r.note}`);
  for (const r of noteRows) out.push(`${r.scenario}: ${r.note ?? ''}`);
  process.stdout.write(`\n${out.join('\n')}\n\n`);
}

/** one scenario column of the table (shared by bench/run.ts and test/sipp/run.ts) */
export function rowFor(name: string, sw: SwitchScenarioResult | undefined, w: ProbeWindow, cdrs: number | string, note: string): Row {
  const perCall = w.peakLiveCalls > 0 ? ((w.rssPeakMb - w.rssIdleMb) * 1000) / w.peakLiveCalls : NaN;
  return {
    scenario: name,
    'calls held (peak)': w.peakLiveCalls,
    'new calls/s': sw ? fmt(sw.dialed / sw.arrivalS, 1) : 'n/a',
    'ESL events/s': fmt(w.eslEvents / w.seconds, 0),
    'ACD p50/p99/max ms': w.decisionsEslMs.length ? `${fmt(pct(w.decisionsEslMs, 50), 2)}/${fmt(pct(w.decisionsEslMs, 99), 2)}/${fmt(Math.max(...w.decisionsEslMs), 2)} (n=${w.decisionsEslMs.length})` : 'n/a (no decisions)',
    '  of which trigger→enqueue p50/p99 ms': w.triggerToEnqueueMs.length ? `${fmt(pct(w.triggerToEnqueueMs, 50), 2)}/${fmt(pct(w.triggerToEnqueueMs, 99), 2)}` : 'n/a',
    '  of which enqueue→originate p50/p99 ms': w.enqueueToOriginateMs.length ? `${fmt(pct(w.enqueueToOriginateMs, 50), 2)}/${fmt(pct(w.enqueueToOriginateMs, 99), 2)} (n=${w.enqueueToOriginateMs.length})` : 'n/a',
    'ACD after wrap-up timer p99 ms': w.decisionsAfterWrapUpTimerMs.length ? `${fmt(pct(w.decisionsAfterWrapUpTimerMs, 99), 2)} (n=${w.decisionsAfterWrapUpTimerMs.length})` : '-',
    'ACD decisions not attributed': String(w.decisionsUntriggered),
    'N key→agent leg p50/p99 ms': sw && sw.nMs.length ? `${fmt(pct(sw.nMs, 50), 0)}/${fmt(pct(sw.nMs, 99), 0)}` : 'n/a',
    'DTMF→cmd p50/p99 ms': w.dtmfToCommandMs.length ? `${fmt(pct(w.dtmfToCommandMs, 50), 2)}/${fmt(pct(w.dtmfToCommandMs, 99), 2)}` : 'n/a',
    'CTI CPU % (of one core)': fmt(w.cpuPercent, 0),
    'compression children CPU %': fmt(w.childrenCpuPercent, 0),
    'host CPU % (all cores)': fmt(w.hostCpuPercent, 0),
    'event loop util / delay p99 ms': `${fmt(w.elu * 100, 0)}% / ${fmt(w.loopDelayP99Ms, 1)}`,
    'spawn() blocking n / p50 / max ms': w.spawnBlockMs?.length ? `${w.spawnBlockMs.length} / ${fmt(pct(w.spawnBlockMs, 50), 1)} / ${fmt(Math.max(...w.spawnBlockMs), 1)}` : '0',
    'CTI RSS MB (idle→peak)': `${fmt(w.rssIdleMb, 0)}→${fmt(w.rssPeakMb, 0)}`,
    'RSS/live call KB': Number.isFinite(perCall) ? fmt(perCall, 0) : 'n/a',
    'lost calls': sw ? `${sw.lost}${sw.lost ? ` ${JSON.stringify(sw.lostCauses)}` : ''}${sw.neverWelcomed ? ` (never heard the welcome: ${sw.neverWelcomed})` : ''}` : 'n/a',
    'double offers (agent/call)': sw ? `${sw.doubleOffersAgent}/${sw.doubleOffersCall}` : 'n/a',
    'CDRs / calls ended': sw ? `${cdrs} / ${sw.callersEnded}` : String(cdrs),
    note,
  };
}
