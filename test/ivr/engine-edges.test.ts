// Engine edges on small inline flows: kill(), the node/variable hooks the call layer records, a flow loop across
// flows, lookup failures, branch operators, collect with a typed-ahead first digit, transfer to a number.
import os from 'node:os';
import { describe, it, expect } from 'vitest';
import { parseFlowSource } from '../../src/ivr/validate.js';
import { FlowRunner, type FlowEngineDeps, type FlowCallContext } from '../../src/ivr/engine.js';
import type { CompiledFlow } from '../../src/ivr/registry.js';
import type { FlowNode } from '../../src/ivr/flow-schema.js';
import { ScriptedMedia } from './scripted-media.js';

function compile(id: string, yaml: string): CompiledFlow {
  const parsed = parseFlowSource(`t/${id}.yaml`, yaml);
  if (!parsed.flow) throw new Error(JSON.stringify(parsed.issues));
  const f = parsed.flow;
  return { tenantId: 't', id, name: f.name, file: `t/${id}.yaml`, hash: 'h', version: 1, versionId: 'v1-test', loadedAt: new Date(), start: f.start, answer: f.answer, nodes: new Map(Object.entries(f.nodes) as [string, FlowNode][]) };
}

function deps(flows: CompiledFlow[], over: Partial<FlowEngineDeps> = {}): FlowEngineDeps {
  const byId = new Map(flows.map((f) => [f.id, f]));
  return { flows: { get: (_t, id) => byId.get(id) }, promptsDir: '/p', recordingsDir: os.tmpdir(), tts: { fileFor: async (text) => `/tts/${text}` }, ...over };
}

const ctx = (over: Partial<FlowCallContext> = {}): FlowCallContext => ({ uuid: 'c', tenantId: 't', callerNumber: '13800000001', destination: '12345', ...over });

describe('engine edges', () => {
  it('kill() stops the run before the next media command', async () => {
    const flow = compile('k', 'name: k\nstart: m\nnodes:\n  m:\n    type: menu\n    prompt: a.wav\n    keys: {"1": p}\n    onFail: bye\n  p:\n    type: play\n    prompt: b.wav\n    next: bye\n  bye:\n    type: hangup\n');
    const runner = new FlowRunner(deps([flow]), flow);
    const media = new ScriptedMedia([{ keys: '1' }]);
    const orig = media.collectDigits.bind(media);
    media.collectDigits = async (o) => {
      const r = await orig(o);
      runner.kill('caller transferred');
      return r;
    };
    const result = await runner.exec(ctx(), media);
    expect(result.outcome).toEqual({ kind: 'stopped', reason: 'caller transferred' });
    expect(media.ops.map((o) => o.op)).toEqual(['answer', 'collect']);
  });

  it('onNode and onVar tell the call layer where the caller is and what was set', async () => {
    const flow = compile('h', 'name: h\nstart: s\nnodes:\n  s:\n    type: set\n    set: { business: 咨询, n: 3 }\n    next: bye\n  bye:\n    type: hangup\n');
    const nodes: string[] = [];
    const vars: [string, string][] = [];
    await new FlowRunner(deps([flow]), flow).exec(ctx({ onNode: (s) => nodes.push(s.node), onVar: (n, v) => vars.push([n, v]) }), new ScriptedMedia([]));
    expect(nodes).toEqual(['s', 'bye']);
    expect(vars).toEqual([
      ['business', '咨询'],
      ['n', '3'],
    ]);
  });

  it('two flows transferring to each other without input are stopped by the step guard', async () => {
    const a = compile('a', 'name: a\nstart: go\nnodes:\n  go:\n    type: transfer\n    flow: b\n');
    const b = compile('b', 'name: b\nstart: go\nnodes:\n  go:\n    type: transfer\n    flow: a\n');
    const result = await new FlowRunner(deps([a, b], { maxSteps: 50 }), a).exec(ctx(), new ScriptedMedia([]));
    expect(result.outcome).toMatchObject({ kind: 'error', message: 'more than 50 steps without ending' });
  });

  it('a lookup handler that throws goes to onError', async () => {
    const flow = compile('l', 'name: l\nstart: q\nnodes:\n  q:\n    type: lookup\n    handler: h\n    next: ok\n    onError: bad\n  ok:\n    type: hangup\n  bad:\n    type: hangup\n    cause: NORMAL_TEMPORARY_FAILURE\n');
    const result = await new FlowRunner(deps([flow], { lookups: new Map([['h', async () => Promise.reject(new Error('db down'))]]) }), flow).exec(ctx(), new ScriptedMedia([]));
    expect(result.lastNode).toBe('bad');
    expect(result.vars['lookup.found']).toBe('error');
  });

  it('handler text is spoken verbatim (no ${} expansion of citizen data)', async () => {
    const flow = compile('v', 'name: v\nstart: q\nnodes:\n  q:\n    type: lookup\n    handler: h\n    next: bye\n  bye:\n    type: hangup\n');
    const spoken: string[] = [];
    await new FlowRunner(
      deps([flow], { tts: { fileFor: async (t) => (spoken.push(t), '/x.wav') }, lookups: new Map([['h', async () => ({ found: true, text: '地址 ${caller.number}' })]]) }),
      flow,
    ).exec(ctx(), new ScriptedMedia([]));
    expect(spoken).toEqual(['地址 ${caller.number}']);
  });

  it('branch operators: in, prefix, matches, exists, notEquals', async () => {
    const flow = compile(
      'b',
      `name: b
start: br
nodes:
  br:
    type: branch
    conditions:
      - { var: none, exists: true, goto: e1 }
      - { var: caller.number, in: ["1"], goto: e2 }
      - { var: caller.number, prefix: "139", goto: e3 }
      - { var: caller.number, matches: "^138\\\\d{8}$", notEquals: "13800000002", goto: e4 }
    else: e5
  e1: { type: hangup }
  e2: { type: hangup }
  e3: { type: hangup }
  e4: { type: hangup }
  e5: { type: hangup }
`,
    );
    const run = async (n: string) => (await new FlowRunner(deps([flow]), flow).exec(ctx({ callerNumber: n }), new ScriptedMedia([]))).lastNode;
    expect(await run('13800000001')).toBe('e4');
    expect(await run('13800000002')).toBe('e5');
    expect(await run('13900000001')).toBe('e3');
  });

  it('a digit typed during the previous prompt is the first digit of a collect', async () => {
    const flow = compile(
      'c',
      'name: c\nstart: hi\nnodes:\n  hi:\n    type: play\n    prompt: hi.wav\n    next: num\n  num:\n    type: collect\n    prompt: ask.wav\n    variable: no\n    minDigits: 4\n    maxDigits: 6\n    next: bye\n    onFail: bye\n  bye:\n    type: hangup\n',
    );
    const media = new ScriptedMedia([{ barge: '4' }, { keys: '567#' }]);
    const result = await new FlowRunner(deps([flow]), flow).exec(ctx(), media);
    expect(result.vars.no).toBe('4567');
    expect(media.ops.find((o) => o.op === 'collect')!.opts).toMatchObject({ minDigits: 3, maxDigits: 5 });
  });

  it('transfer to a number ends the flow with the destination (the call layer bridges it)', async () => {
    const flow = compile('x', 'name: x\nstart: t\nnodes:\n  t:\n    type: transfer\n    to: "12315"\n');
    const result = await new FlowRunner(deps([flow]), flow).exec(ctx(), new ScriptedMedia([]));
    expect(result.outcome).toEqual({ kind: 'transfer', destination: '12315' });
  });
});
