// Percentiles and the one printed table of `npm run bench` (one block per scenario: columns are long).

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
