// Every kind of broken flow file is refused with file:line:column and a reason (fixtures under fixtures/broken).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { describe, it, expect } from 'vitest';
import { parseFlowSource, parseEntryPointsSource, formatIssue, type IssueCode } from '../../src/ivr/validate.js';
import { flowJsonSchema, entryPointsJsonSchema } from '../../src/ivr/flow-schema.js';
import { calendarJsonSchema } from '../../src/calendar/calendar-file.js';

const FIXTURES = path.resolve('test/ivr/fixtures');
const PROMPTS = path.join(FIXTURES, 'prompts');

function check(name: string) {
  const file = `broken/${name}.yaml`;
  const parsed = parseFlowSource(file, fs.readFileSync(path.join(FIXTURES, file), 'utf8'), { promptsDir: PROMPTS });
  return parsed;
}

const cases: { name: string; code: IssueCode; line: number; column: number; says: string }[] = [
  { name: 'yaml-syntax', code: 'yaml-syntax', line: 7, column: 1, says: 'YAML 语法错误' },
  { name: 'schema', code: 'schema', line: 9, column: 16, says: 'nodes.menu.timeoutMs' },
  { name: 'unknown-node-type', code: 'unknown-node-type', line: 9, column: 11, says: '"playback" 未知' },
  { name: 'dangling-target', code: 'dangling-target', line: 9, column: 12, says: '不存在的节点 "nowhere"' },
  { name: 'unreachable-node', code: 'unreachable-node', line: 6, column: 3, says: '"orphan" 从 start 无法到达' },
  { name: 'missing-prompt', code: 'missing-prompt', line: 11, column: 13, says: 'goodbye-missing.wav' },
  { name: 'menu-no-way-out', code: 'menu-no-way-out', line: 4, column: 3, says: '菜单 "menu" 没有出口' },
  { name: 'cycle-without-input', code: 'cycle-without-input', line: 4, column: 3, says: '"one" → "two"' },
  { name: 'menu-without-keys', code: 'menu-no-way-out', line: 7, column: 11, says: '没有任何按键' },
];

describe('flow validation', () => {
  for (const c of cases) {
    it(`${c.name}: ${c.line}:${c.column}`, () => {
      const parsed = check(c.name);
      expect(parsed.flow).toBeUndefined();
      const hit = parsed.issues.find((i) => i.code === c.code);
      expect(hit, JSON.stringify(parsed.issues)).toBeDefined();
      expect(hit).toMatchObject({ file: `broken/${c.name}.yaml`, line: c.line, column: c.column });
      expect(hit!.message).toContain(c.says);
      expect(formatIssue(hit!)).toMatch(new RegExp(`^broken/${c.name}\\.yaml:${c.line}:${c.column}: ${c.code}: `));
    });
  }

  it('schema: an unknown field is reported at its key', () => {
    const hit = check('schema').issues.find((i) => i.message.includes('cuase'));
    expect(hit).toMatchObject({ line: 13, column: 5, code: 'schema' });
  });

  it('a transfer to a flow the tenant does not have is refused', () => {
    const src = 'name: t\nstart: go\nnodes:\n  go:\n    type: transfer\n    flow: nope\n';
    const parsed = parseFlowSource('demo/t.yaml', src, { knownFlows: new Set(['main']) });
    expect(parsed.issues).toEqual([expect.objectContaining({ code: 'unknown-flow', line: 6, column: 11 })]);
  });

  it('an unregistered lookup handler is refused', () => {
    const src = 'name: t\nstart: q\nnodes:\n  q:\n    type: lookup\n    handler: weather\n    next: bye\n  bye:\n    type: hangup\n';
    const parsed = parseFlowSource('demo/t.yaml', src, { lookupHandlers: new Set(['ticket-status']) });
    expect(parsed.issues).toEqual([expect.objectContaining({ code: 'unknown-handler', line: 6, column: 14 })]);
  });

  it('entry points naming a missing flow are refused with position', () => {
    const src = 'routes:\n  - did: "12345"\n    tenant: demo\n    flow: mian\n';
    const parsed = parseEntryPointsSource('entry-points.yaml', src, new Map([['demo', new Set(['main'])]]));
    expect(parsed.entries).toBeUndefined();
    expect(parsed.issues).toEqual([expect.objectContaining({ code: 'unknown-flow', line: 4, column: 11 })]);
  });

  it('editors validating with the JSON Schema accept the demo flows and reject a broken one', async () => {
    // ajv is what fastify validates with; here it stands in for the editor's yaml-language-server
    const { Ajv2020 } = createRequire(import.meta.url)('ajv/dist/2020.js') as typeof import('ajv/dist/2020.js');
    const { parse } = await import('yaml');
    const validate = new Ajv2020({ strict: false }).compile(JSON.parse(fs.readFileSync('ivr-flows/flow.schema.json', 'utf8')));
    for (const f of fs.readdirSync('ivr-flows/demo')) expect(validate(parse(fs.readFileSync(`ivr-flows/demo/${f}`, 'utf8'))), f).toBe(true);
    expect(validate(parse(fs.readFileSync(path.join(FIXTURES, 'broken/schema.yaml'), 'utf8')))).toBe(false);
  });

  it('the JSON Schemas shipped for editors match the zod schema', () => {
    const read = (f: string) => JSON.parse(fs.readFileSync(path.resolve('ivr-flows', f), 'utf8'));
    expect(read('flow.schema.json')).toEqual(flowJsonSchema());
    expect(read('entry-points.schema.json')).toEqual(entryPointsJsonSchema());
    expect(read('calendar/calendar.schema.json')).toEqual(calendarJsonSchema());
  });
});

describe('npm run flows:check', () => {
  const run = promisify(execFile);
  const cli = (args: string[]) =>
    run(process.execPath, ['--import', 'tsx', 'scripts/flows-check.ts', ...args], { cwd: path.resolve('.') }).then(
      (r) => ({ code: 0, out: r.stdout + r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
    );

  it('passes on the shipped flows', async () => {
    const r = await cli(['--dir', 'ivr-flows', '--no-prompts']);
    expect(r.out).toContain('0 problem(s)');
    expect(r.code).toBe(0);
  });

  it('fails with file:line:column on a broken tenant dir', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flows-'));
    fs.mkdirSync(path.join(dir, 'demo'));
    fs.copyFileSync(path.join(FIXTURES, 'broken/dangling-target.yaml'), path.join(dir, 'demo/main.yaml'));
    const r = await cli(['--dir', dir, '--prompts', PROMPTS]);
    expect(r.code).toBe(1);
    expect(r.out).toContain('demo/main.yaml:9:12: dangling-target:');
  });
});
