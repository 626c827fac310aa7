// npm run flows:check [-- --dir ivr-flows] [--prompts var/prompts] [--no-prompts] [--write-schema]
// Checks every flow file, the entry points and the calendar files; prints file:line:column: code: reason.
// Exit 1 when anything is wrong. --write-schema regenerates the JSON Schemas editors use.
import fs from 'node:fs';
import path from 'node:path';
import { scanFlowsDir, checkScan } from '../src/ivr/flow-files.js';
import { formatIssue, type FlowIssue } from '../src/ivr/validate.js';
import { flowJsonSchema, entryPointsJsonSchema } from '../src/ivr/flow-schema.js';
import { BUILTIN_LOOKUP_HANDLERS } from '../src/ivr/lookups.js';
import { calendarJsonSchema, checkCalendarFile } from '../src/calendar/calendar-file.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const dir = path.resolve(arg('--dir') ?? process.env.IVR_FLOWS_DIR ?? 'ivr-flows');
const promptsDir = process.argv.includes('--no-prompts') ? undefined : path.resolve(arg('--prompts') ?? process.env.PROMPTS_DIR ?? 'var/prompts');

if (process.argv.includes('--write-schema')) {
  fs.writeFileSync(path.join(dir, 'flow.schema.json'), JSON.stringify(flowJsonSchema(), null, 2) + '\n');
  fs.writeFileSync(path.join(dir, 'entry-points.schema.json'), JSON.stringify(entryPointsJsonSchema(), null, 2) + '\n');
  fs.mkdirSync(path.join(dir, 'calendar'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'calendar', 'calendar.schema.json'), JSON.stringify(calendarJsonSchema(), null, 2) + '\n');
  console.log(`wrote JSON Schemas under ${dir}`);
}

const scan = scanFlowsDir(dir);
const checked = checkScan(scan, { promptsDir, lookupHandlers: BUILTIN_LOOKUP_HANDLERS });
const issues: FlowIssue[] = [...checked.issues];
const calDir = path.join(dir, 'calendar');
if (fs.existsSync(calDir)) {
  for (const f of fs.readdirSync(calDir).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    issues.push(...checkCalendarFile(`calendar/${f}`, fs.readFileSync(path.join(calDir, f), 'utf8')));
  }
}
for (const i of issues) console.error(formatIssue(i));
const ok = checked.flows.filter((f) => f.parsed.flow).length;
console.log(`${ok}/${checked.flows.length} flows OK${checked.entryPoints ? ', entry points ' + (checked.entryPoints.entries ? 'OK' : 'broken') : ''}; ${issues.length} problem(s)${promptsDir ? '' : ' (prompt files not checked)'}`);
process.exit(issues.length > 0 ? 1 : 0);
