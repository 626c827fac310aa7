// The shipped demo flows copied for a throw-away tenant (tenant ids are random per test file), with stub prompt
// files so the registry's missing-prompt check passes without TTS.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface DemoDirs {
  flows: string;
  prompts: string;
  recordings: string;
  /** basenames of the prompt files the flows use */
  promptNames: string[];
}

export function prepareDemoTenant(tenantId: string, opts: { calendar?: string } = {}): DemoDirs {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ivr-demo-'));
  const flows = path.join(root, 'flows');
  const prompts = path.join(root, 'prompts');
  const names = new Set<string>();
  fs.mkdirSync(path.join(flows, tenantId), { recursive: true });
  fs.mkdirSync(path.join(flows, 'calendar'));
  for (const f of fs.readdirSync('ivr-flows/demo')) {
    const src = fs.readFileSync(path.join('ivr-flows/demo', f), 'utf8');
    fs.writeFileSync(path.join(flows, tenantId, f), src);
    for (const m of src.matchAll(/file: (\S+)/g)) {
      fs.mkdirSync(path.dirname(path.join(prompts, m[1]!)), { recursive: true });
      fs.writeFileSync(path.join(prompts, m[1]!), 'RIFF');
      names.add(path.basename(m[1]!));
    }
  }
  fs.writeFileSync(path.join(flows, 'entry-points.yaml'), fs.readFileSync('ivr-flows/entry-points.yaml', 'utf8').replaceAll('demo', tenantId));
  fs.writeFileSync(path.join(flows, 'calendar', `${tenantId}.yaml`), opts.calendar ?? fs.readFileSync('ivr-flows/calendar/demo.yaml', 'utf8'));
  return { flows, prompts, recordings: path.join(root, 'recordings'), promptNames: [...names] };
}

/** a calendar that is open around the clock (no official holidays), so a test does not depend on the hour */
export const ALWAYS_OPEN = `official: false
weekly: { mon: ["00:00-24:00"], tue: ["00:00-24:00"], wed: ["00:00-24:00"], thu: ["00:00-24:00"], fri: ["00:00-24:00"], sat: ["00:00-24:00"], sun: ["00:00-24:00"] }
`;
