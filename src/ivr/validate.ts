// Flow file validation: YAML syntax, the schema (per node type), then the graph — dangling targets, unreachable
// nodes, missing prompt files, menus without a way out, cycles that never wait for the caller.
// Every issue carries file:line:column so `npm run flows:check` and the server's load errors point at the spot.
import fs from 'node:fs';
import path from 'node:path';
import { LineCounter, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import {
  flowFileSchema,
  entryPointsSchema,
  NODE_SCHEMAS,
  NODE_TYPES,
  type FlowFile,
  type FlowNode,
  type EntryPointsFile,
  type NodeType,
  type Prompt,
} from './flow-schema.js';
import { YamlPositions, type YamlPath } from './yaml-positions.js';

export type IssueCode =
  | 'yaml-syntax'
  | 'schema'
  | 'unknown-node-type'
  | 'dangling-target'
  | 'unreachable-node'
  | 'missing-prompt'
  | 'menu-no-way-out'
  | 'cycle-without-input'
  | 'unknown-flow'
  | 'unknown-handler'
  | 'bad-regex';

export interface FlowIssue {
  file: string;
  line: number;
  column: number;
  code: IssueCode;
  message: string;
}

/** YAML parse errors with their line:column (the yaml package gives offsets; LineCounter turns them into lines). */
export function yamlSyntaxIssues(file: string, doc: Document, lines: LineCounter): FlowIssue[] {
  return doc.errors.map((e) => {
    const lp = lines.linePos(e.pos[0]);
    return { file, line: lp.line, column: lp.col, code: 'yaml-syntax' as const, message: `YAML 语法错误 (${e.code}): ${e.message.split('\n')[0]}` };
  });
}

export function formatIssue(i: FlowIssue): string {
  return `${i.file}:${i.line}:${i.column}: ${i.code}: ${i.message}`;
}

export interface ValidateOptions {
  /** where relative prompt files live (PROMPTS_DIR); when unset prompt files are not checked */
  promptsDir?: string;
  /** flow ids of the same tenant, for `transfer: {flow}`; when unset not checked */
  knownFlows?: ReadonlySet<string>;
  /** registered lookup handler names; when unset not checked */
  lookupHandlers?: ReadonlySet<string>;
}

export interface ParsedFlow {
  file: string;
  flow?: FlowFile;
  issues: FlowIssue[];
  positions?: YamlPositions;
}

/** Nodes that wait for the caller: a cycle through one of them is a retry loop, not a spin. */
const INPUT_NODES: ReadonlySet<NodeType> = new Set(['menu', 'collect', 'survey', 'voicemail', 'queue']);

const zhErrors = z.locales.zhCN().localeError;

interface Edge {
  path: YamlPath;
  target: string;
}

/** The node ids a node can continue to, with where each is written. */
export function edgesOf(id: string, node: FlowNode): Edge[] {
  const base: YamlPath = ['nodes', id];
  const out: Edge[] = [];
  const add = (field: string, target: string | undefined) => {
    if (target !== undefined) out.push({ path: [...base, field], target });
  };
  switch (node.type) {
    case 'play':
    case 'set':
      add('next', node.next);
      break;
    case 'menu':
      for (const [k, t] of Object.entries(node.keys)) if (t !== undefined) out.push({ path: [...base, 'keys', k], target: t });
      add('onFail', node.onFail);
      break;
    case 'collect':
      add('next', node.next);
      add('onFail', node.onFail);
      break;
    case 'hours':
      add('open', node.open);
      add('closed', node.closed);
      add('holiday', node.holiday);
      break;
    case 'queue':
      add('onTimeout', node.onTimeout);
      add('onOverflow', node.onOverflow);
      break;
    case 'voicemail':
      add('next', node.next);
      break;
    case 'lookup':
      add('next', node.next);
      add('onNotFound', node.onNotFound);
      add('onError', node.onError);
      break;
    case 'survey':
      add('next', node.next);
      add('onFail', node.onFail);
      break;
    case 'branch':
      node.conditions.forEach((c, i) => out.push({ path: [...base, 'conditions', i, 'goto'], target: c.goto }));
      add('else', node.else);
      break;
    case 'transfer':
    case 'hangup':
      break;
  }
  return out;
}

/** Can the flow end at this node (the call leaves the IVR)? */
function canEndHere(node: FlowNode): boolean {
  switch (node.type) {
    case 'hangup':
    case 'transfer':
    case 'queue':
      return true;
    case 'voicemail':
      return node.next === undefined;
    default:
      return false;
  }
}

function promptsOf(id: string, node: FlowNode): { path: YamlPath; prompt: Prompt }[] {
  const base: YamlPath = ['nodes', id];
  const out: { path: YamlPath; prompt: Prompt }[] = [];
  const n = node as Partial<Record<'prompt' | 'retryPrompt' | 'invalidPrompt', Prompt>>;
  for (const f of ['prompt', 'retryPrompt', 'invalidPrompt'] as const) {
    const p = n[f];
    if (p !== undefined) out.push({ path: [...base, f], prompt: p });
  }
  return out;
}

export function promptFile(p: Prompt): string | undefined {
  if (typeof p === 'string') return p;
  return 'file' in p ? p.file : undefined;
}

export function resolvePromptPath(promptsDir: string, file: string): string {
  return path.isAbsolute(file) ? file : path.resolve(promptsDir, file);
}

/** Parse and check one flow file. `file` is what messages show (a path relative to the flows dir is friendliest). */
export function parseFlowSource(file: string, source: string, opts: ValidateOptions = {}): ParsedFlow {
  const issues: FlowIssue[] = [];
  const lines = new LineCounter();
  const doc = parseDocument(source, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const positions = new YamlPositions(doc, lines);
  const at = (p: YamlPath, code: IssueCode, message: string, which: 'key' | 'value' = 'value') => {
    const pos = positions.of(p, which);
    issues.push({ file, line: pos.line, column: pos.column, code, message });
  };
  if (doc.errors.length > 0) {
    issues.push(...yamlSyntaxIssues(file, doc, lines));
    return { file, issues };
  }
  const raw: unknown = doc.toJS();

  // the file without its nodes first, then each node by its own type, so a bad node gives its own clear message
  const top = flowFileSchema.extend({ nodes: z.record(z.string(), z.unknown()) }).safeParse(raw, { error: zhErrors });
  if (!top.success) {
    for (const i of top.error.issues) schemaIssue(i, [], at);
    return { file, issues, positions };
  }
  const nodes: Record<string, FlowNode> = {};
  for (const [id, rawNode] of Object.entries(top.data.nodes)) {
    if (!/^[A-Za-z][A-Za-z0-9_-]{0,63}$/.test(id)) {
      at(['nodes', id], 'schema', `节点 id "${id}" 只能包含字母、数字、- 和 _，且以字母开头`, 'key');
      continue;
    }
    const type = (rawNode as { type?: unknown } | null)?.type;
    if (typeof type !== 'string' || !(NODE_TYPES as string[]).includes(type)) {
      const where: YamlPath = typeof type === 'undefined' ? ['nodes', id] : ['nodes', id, 'type'];
      at(where, 'unknown-node-type', `节点 "${id}" 的类型 ${type === undefined ? '缺失' : `"${String(type)}" 未知`}；可用类型: ${NODE_TYPES.join(', ')}`, type === undefined ? 'key' : 'value');
      continue;
    }
    const parsed = NODE_SCHEMAS[type as NodeType].safeParse(rawNode, { error: zhErrors });
    if (!parsed.success) {
      for (const i of parsed.error.issues) schemaIssue(i, ['nodes', id], at);
      continue;
    }
    nodes[id] = parsed.data as FlowNode;
  }
  if (issues.length > 0) return { file, issues, positions };
  const flow: FlowFile = { ...top.data, nodes };
  checkGraph(flow, at, opts);
  return { file, flow: issues.length === 0 ? flow : undefined, issues, positions };
}

type At = (p: YamlPath, code: IssueCode, message: string, which?: 'key' | 'value') => void;

function schemaIssue(i: z.core.$ZodIssue, prefix: YamlPath, at: At): void {
  const p: YamlPath = [...prefix, ...(i.path as (string | number)[])];
  const where = p.join('.') || '(文件)';
  if (i.code === 'unrecognized_keys') {
    for (const k of i.keys) at([...p, k], 'schema', `${where}: 不认识的字段 "${k}"`, 'key');
    return;
  }
  at(p, 'schema', `${where}: ${i.message}`);
}

function checkGraph(flow: FlowFile, at: At, opts: ValidateOptions): void {
  const ids = Object.keys(flow.nodes);
  const has = (id: string) => Object.prototype.hasOwnProperty.call(flow.nodes, id);
  if (!has(flow.start)) at(['start'], 'dangling-target', `start 指向不存在的节点 "${flow.start}"`);

  const edges = new Map<string, Edge[]>();
  for (const id of ids) {
    const node = flow.nodes[id]!;
    const es = edgesOf(id, node);
    edges.set(id, es);
    for (const e of es) {
      if (!has(e.target)) at(e.path, 'dangling-target', `节点 "${id}" 的 ${e.path.slice(2).join('.')} 指向不存在的节点 "${e.target}"`);
    }
    if (node.type === 'menu' && Object.keys(node.keys).length === 0) {
      at(['nodes', id, 'keys'], 'menu-no-way-out', `菜单 "${id}" 没有任何按键`);
    }
    if (node.type === 'survey' && Object.keys(node.options).length === 0) {
      at(['nodes', id, 'options'], 'schema', `满意度调查 "${id}" 没有任何选项`);
    }
    if (node.type === 'transfer' && node.flow !== undefined && opts.knownFlows && !opts.knownFlows.has(node.flow)) {
      at(['nodes', id, 'flow'], 'unknown-flow', `节点 "${id}" 转到的流程 "${node.flow}" 不存在`);
    }
    if (node.type === 'lookup' && opts.lookupHandlers && !opts.lookupHandlers.has(node.handler)) {
      at(['nodes', id, 'handler'], 'unknown-handler', `节点 "${id}" 的查询处理器 "${node.handler}" 未注册；可用: ${[...opts.lookupHandlers].join(', ')}`);
    }
    if (node.type === 'branch') {
      node.conditions.forEach((c, i) => {
        if (c.matches === undefined) return;
        try {
          new RegExp(c.matches);
        } catch {
          at(['nodes', id, 'conditions', i, 'matches'], 'bad-regex', `正则表达式无效: ${c.matches}`);
        }
      });
    }
    if (opts.promptsDir !== undefined) {
      for (const { path: p, prompt } of promptsOf(id, node)) {
        const f = promptFile(prompt);
        if (f === undefined) continue;
        if (!fs.existsSync(resolvePromptPath(opts.promptsDir, f))) {
          at(typeof prompt === 'string' ? p : [...p, 'file'], 'missing-prompt', `语音文件不存在: ${f}（在 ${opts.promptsDir} 下；有 text 的提示音可用 scripts/make-prompts.ts 生成）`);
        }
      }
    }
  }

  // unreachable: not visited from start
  const reached = new Set<string>();
  const stack = has(flow.start) ? [flow.start] : [];
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (reached.has(id)) continue;
    reached.add(id);
    for (const e of edges.get(id) ?? []) if (has(e.target) && !reached.has(e.target)) stack.push(e.target);
  }
  for (const id of ids) if (!reached.has(id)) at(['nodes', id], 'unreachable-node', `节点 "${id}" 从 start 无法到达`, 'key');

  // a menu must lead somewhere the call can end (every exit looping back is a trap for the caller)
  for (const id of ids) {
    const node = flow.nodes[id]!;
    if (node.type !== 'menu' || Object.keys(node.keys).length === 0) continue;
    const seen = new Set<string>([id]);
    const todo = (edges.get(id) ?? []).map((e) => e.target).filter(has);
    let exit = false;
    while (todo.length > 0 && !exit) {
      const n = todo.pop()!;
      if (seen.has(n)) continue;
      seen.add(n);
      if (canEndHere(flow.nodes[n]!)) exit = true;
      for (const e of edges.get(n) ?? []) if (has(e.target)) todo.push(e.target);
    }
    if (!exit) at(['nodes', id], 'menu-no-way-out', `菜单 "${id}" 没有出口：任何按键和 onFail 都到不了挂机、转接、排队或留言`, 'key');
  }

  // cycles among nodes that never wait for input would spin forever (Tarjan's SCC over those nodes)
  const spin = ids.filter((id) => !INPUT_NODES.has(flow.nodes[id]!.type));
  const spinSet = new Set(spin);
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const st: string[] = [];
  const strong = (v: string) => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    st.push(v);
    onStack.add(v);
    for (const e of edges.get(v) ?? []) {
      const w = e.target;
      if (!spinSet.has(w)) continue;
      if (!idx.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, idx.get(w)!));
      }
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = st.pop()!;
        onStack.delete(w);
        comp.push(w);
      } while (w !== v);
      const selfLoop = comp.length === 1 && (edges.get(v) ?? []).some((e) => e.target === v);
      if (comp.length > 1 || selfLoop) {
        const ordered = ids.filter((i) => comp.includes(i));
        at(['nodes', ordered[0]!], 'cycle-without-input', `节点 ${ordered.map((c) => `"${c}"`).join(' → ')} 构成不等待按键的循环`, 'key');
      }
    }
  };
  for (const v of spin) if (!idx.has(v)) strong(v);
}

export interface ParsedEntryPoints {
  file: string;
  entries?: EntryPointsFile;
  issues: FlowIssue[];
  positions?: YamlPositions;
}

/** ivr-flows/entry-points.yaml; `flowsByTenant` (when given) checks every route names an existing flow. */
export function parseEntryPointsSource(
  file: string,
  source: string,
  flowsByTenant?: ReadonlyMap<string, ReadonlySet<string>>,
): ParsedEntryPoints {
  const issues: FlowIssue[] = [];
  const lines = new LineCounter();
  const doc = parseDocument(source, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const positions = new YamlPositions(doc, lines);
  const at: At = (p, code, message, which = 'value') => {
    const pos = positions.of(p, which);
    issues.push({ file, line: pos.line, column: pos.column, code, message });
  };
  if (doc.errors.length > 0) {
    issues.push(...yamlSyntaxIssues(file, doc, lines));
    return { file, issues };
  }
  const parsed = entryPointsSchema.safeParse(doc.toJS(), { error: zhErrors });
  if (!parsed.success) {
    for (const i of parsed.error.issues) schemaIssue(i, [], at);
    return { file, issues, positions };
  }
  if (flowsByTenant) {
    parsed.data.routes.forEach((r, i) => {
      if (!flowsByTenant.get(r.tenant)?.has(r.flow)) at(['routes', i, 'flow'], 'unknown-flow', `租户 "${r.tenant}" 没有流程 "${r.flow}"`);
    });
    for (const [tenant, t] of Object.entries(parsed.data.tenants ?? {})) {
      if (t.postCallSurvey !== undefined && !flowsByTenant.get(tenant)?.has(t.postCallSurvey)) {
        at(['tenants', tenant, 'postCallSurvey'], 'unknown-flow', `租户 "${tenant}" 没有流程 "${t.postCallSurvey}"`);
      }
    }
  }
  return { file, entries: issues.length === 0 ? parsed.data : undefined, issues, positions };
}
