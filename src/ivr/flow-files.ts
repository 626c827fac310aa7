// The flows directory layout: <dir>/<tenant>/<flow>.yaml, <dir>/entry-points.yaml, <dir>/calendar/<tenant>.yaml.
// Reads and checks everything in one pass; shared by scripts/flows-check.ts and FlowRegistry.
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import {
  parseFlowSource,
  parseEntryPointsSource,
  type FlowIssue,
  type ParsedFlow,
  type ParsedEntryPoints,
  type ValidateOptions,
} from './validate.js';

export const ENTRY_POINTS_FILE = 'entry-points.yaml';
/** directories under the flows dir that are not tenants */
export const RESERVED_DIRS: ReadonlySet<string> = new Set(['calendar', 'node_modules']);
const TENANT_DIR = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const FLOW_FILE = /^([A-Za-z][A-Za-z0-9_-]{0,63})\.ya?ml$/;

export interface FlowSource {
  tenantId: string;
  flowId: string;
  /** path relative to the flows dir, as shown in messages */
  file: string;
  source: string;
  /** sha256 of the source: the same text is the same version */
  hash: string;
}

export interface FlowsDirScan {
  sources: FlowSource[];
  entryPoints?: { file: string; source: string; hash: string };
  issues: FlowIssue[];
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function scanFlowsDir(dir: string): FlowsDirScan {
  const sources: FlowSource[] = [];
  const issues: FlowIssue[] = [];
  let entryPoints: FlowsDirScan['entryPoints'];
  if (!fs.existsSync(dir)) {
    issues.push({ file: dir, line: 1, column: 1, code: 'schema', message: `流程目录不存在: ${dir}` });
    return { sources, issues };
  }
  for (const ent of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    if (ent.isFile() && ent.name === ENTRY_POINTS_FILE) {
      const source = fs.readFileSync(path.join(dir, ent.name), 'utf8');
      entryPoints = { file: ent.name, source, hash: sha256(source) };
      continue;
    }
    if (!ent.isDirectory() || RESERVED_DIRS.has(ent.name) || ent.name.startsWith('.')) continue;
    if (!TENANT_DIR.test(ent.name)) {
      issues.push({ file: ent.name, line: 1, column: 1, code: 'schema', message: `租户目录名 "${ent.name}" 只能用小写字母、数字、- 和 _` });
      continue;
    }
    for (const f of fs.readdirSync(path.join(dir, ent.name)).sort()) {
      if (f.startsWith('.') || !/\.ya?ml$/.test(f)) continue; // editor swap files, README, …
      const rel = `${ent.name}/${f}`;
      const m = FLOW_FILE.exec(f);
      if (!m) {
        issues.push({ file: rel, line: 1, column: 1, code: 'schema', message: `流程文件名 "${f}" 只能用字母、数字、- 和 _（文件名即流程 id）` });
        continue;
      }
      let source: string;
      try {
        source = fs.readFileSync(path.join(dir, rel), 'utf8');
      } catch {
        continue; // deleted between readdir and read (an editor's atomic save); the next scan sees the result
      }
      sources.push({ tenantId: ent.name, flowId: m[1]!, file: rel, source, hash: sha256(source) });
    }
  }
  return { sources, entryPoints, issues };
}

export interface CheckedFlows {
  flows: { source: FlowSource; parsed: ParsedFlow }[];
  entryPoints?: ParsedEntryPoints;
  issues: FlowIssue[];
}

/** Check every flow of a scan; `transfer: {flow}` and entry routes are checked against the flow files present. */
export function checkScan(scan: FlowsDirScan, opts: Omit<ValidateOptions, 'knownFlows'>): CheckedFlows {
  const byTenant = new Map<string, Set<string>>();
  for (const s of scan.sources) {
    if (!byTenant.has(s.tenantId)) byTenant.set(s.tenantId, new Set());
    byTenant.get(s.tenantId)!.add(s.flowId);
  }
  const issues = [...scan.issues];
  const flows = scan.sources.map((source) => {
    const parsed = parseFlowSource(source.file, source.source, { ...opts, knownFlows: byTenant.get(source.tenantId) });
    issues.push(...parsed.issues);
    return { source, parsed };
  });
  let entryPoints: ParsedEntryPoints | undefined;
  if (scan.entryPoints) {
    entryPoints = parseEntryPointsSource(scan.entryPoints.file, scan.entryPoints.source, byTenant);
    issues.push(...entryPoints.issues);
  }
  return { flows, entryPoints, issues };
}
