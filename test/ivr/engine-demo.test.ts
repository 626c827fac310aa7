// The flow engine on the shipped demo flows, with a scripted caller: every key path, timeouts, retries, invalid
// keys, hang-up mid-prompt, typed-ahead keys, after-hours complaint recording and the satisfaction survey.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it, expect, beforeAll } from 'vitest';
import { FlowRegistry } from '../../src/ivr/registry.js';
import {
  FlowRunner,
  type FlowEngineDeps,
  type QueueHandler,
  type StepSample,
  type SurveyAnswer,
  type VoicemailRecord,
  type FlowCallContext,
} from '../../src/ivr/engine.js';
import { ticketStatusLookup, demoTicketSource } from '../../src/ivr/lookups.js';
import { ScriptedMedia, type CallerAction } from './scripted-media.js';
import { StepOverheadRecorder } from '../../src/ivr/step-overhead.js';

const FLOWS_DIR = path.resolve('ivr-flows');
const PROMPTS = '/prompts';
let registry: FlowRegistry;
let recordingsDir: string;

beforeAll(() => {
  registry = new FlowRegistry({ dir: FLOWS_DIR, lookupHandlers: new Set(['ticket-status']) });
  registry.reload();
  expect(registry.loadErrors).toEqual([]);
  recordingsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ivr-rec-'));
});

interface Harness {
  deps: FlowEngineDeps;
  voicemails: VoicemailRecord[];
  surveys: SurveyAnswer[];
  steps: StepSample[];
  tts: string[];
}

function harness(opts: { hours?: 'open' | 'closed' | 'holiday'; queue?: QueueHandler } = {}): Harness {
  const h: Harness = { voicemails: [], surveys: [], steps: [], tts: [], deps: undefined as unknown as FlowEngineDeps };
  h.deps = {
    flows: registry,
    promptsDir: PROMPTS,
    recordingsDir,
    tts: { fileFor: async (text) => (h.tts.push(text), `/tts/${h.tts.length}.wav`) },
    calendar: () => opts.hours ?? 'open',
    queue: opts.queue,
    lookups: new Map([['ticket-status', ticketStatusLookup(demoTicketSource)]]),
    voicemails: { save: async (v) => (h.voicemails.push(v), { id: `vm-${h.voicemails.length}` }) },
    surveys: { save: async (a) => void h.surveys.push(a) },
    onStep: (s) => h.steps.push(s),
  };
  return h;
}

const call = (over: Partial<FlowCallContext> = {}): FlowCallContext => ({
  uuid: 'call-1',
  tenantId: 'demo',
  callerNumber: '13800000001',
  destination: '12345',
  ...over,
});

async function runMain(script: CallerAction[], h = harness(), ctx = call()) {
  const media = new ScriptedMedia(script);
  const flow = registry.resolveEntry(ctx.destination, ctx.callerNumber)!.flow;
  const result = await new FlowRunner(h.deps, flow).exec(ctx, media);
  return { result, media, h };
}

describe('12345 main flow', () => {
  const paths: [string, string, string][] = [
    ['1', 'consult', '咨询'],
    ['2', 'complaint', '投诉举报'],
    ['3', 'help', '求助'],
    ['4', 'suggestion', '意见建议'],
    ['5', 'enterprise', '企业专席'],
    ['0', 'general', '人工服务'],
  ];
  for (const [key, group, business] of paths) {
    it(`key ${key} queues the caller for ${group} (${business})`, async () => {
      const { result, media } = await runMain([{ keys: key }]);
      expect(result.outcome.kind).toBe('queue');
      if (result.outcome.kind !== 'queue') return;
      expect(result.outcome.request).toMatchObject({ skillGroup: group, tenantId: 'demo', callUuid: 'call-1', flowId: 'main', priority: key === '3' ? 60 : key === '4' ? 40 : 50 });
      expect(result.outcome.request.vars.business).toBe(business);
      expect(result.vars.business).toBe(business);
      expect(result.path.map((p) => p.node)).toEqual(['check-hours', 'welcome', 'check-vip', 'main-menu', `queue-${key === '0' ? 'operator' : group}`]);
      expect(result.path[3]!.input).toEqual([key]);
      expect(media.ops[0]).toEqual({ op: 'answer' });
      expect(media.prompts(PROMPTS)).toEqual(['demo/welcome.wav', 'demo/main-menu.wav']);
      expect(result.versionId).toMatch(/^v\d+-[0-9a-f]{12}$/);
    });
  }

  it('key 9 runs the ticket query: number, status spoken by TTS, back to the main menu with *', async () => {
    const { result, media, h } = await runMain([{ keys: '9' }, { keys: '20261123001#' }, { keys: '*' }, { keys: '2' }]);
    expect(result.outcome.kind).toBe('queue');
    expect(result.vars.ticketNo).toBe('20261123001');
    expect(result.vars['lookup.found']).toBe('true');
    expect(h.tts[0]).toContain('办理中');
    expect(h.tts[0]).toContain('市住房和城乡建设局');
    expect(result.path.map((p) => `${p.flowId}:${p.node}`)).toEqual([
      'main:check-hours',
      'main:welcome',
      'main:check-vip',
      'main:main-menu',
      'main:to-ticket-query',
      'ticket-query:ask-number',
      'ticket-query:lookup',
      'ticket-query:after-result',
      'ticket-query:to-main',
      'main:check-hours',
      'main:welcome',
      'main:check-vip',
      'main:main-menu',
      'main:queue-complaint',
    ]);
    expect(media.ops.filter((o) => o.op === 'answer')).toHaveLength(1);
    const collect = media.ops.find((o) => o.op === 'collect' && o.arg?.endsWith('ticket-ask.wav'));
    expect(collect?.opts).toMatchObject({ minDigits: 6, maxDigits: 20, terminators: '#' });
  });

  it('an unknown ticket number says so and offers the after-result menu; silence there ends the call', async () => {
    const { result, h } = await runMain([{ keys: '9' }, { keys: '999999#' }, { silence: true }, { silence: true }]);
    expect(h.tts[0]).toBe('没有查到编号为 999999 的工单，请核对后重新输入。');
    expect(result.outcome).toEqual({ kind: 'hangup', cause: 'NORMAL_CLEARING' });
    expect(result.lastNode).toBe('goodbye');
    expect(result.lastFlowId).toBe('ticket-query');
  });

  it('after a result, 1 asks for another ticket number', async () => {
    const { result, h } = await runMain([{ keys: '9' }, { keys: '20261123001#' }, { keys: '1' }, { keys: '20261120007#' }, { silence: true }, { silence: true }]);
    expect(h.tts).toHaveLength(2);
    expect(h.tts[1]).toContain('已办结');
    expect(result.path.filter((p) => p.node === 'ask-number')).toHaveLength(2);
    expect(result.vars.ticketNo).toBe('20261120007');
    expect(result.lastNode).toBe('goodbye');
  });

  it('busy-time offer: no key hangs up politely', async () => {
    const { result } = await runMain([{ keys: '1' }, { silence: true }, { silence: true }], harness({ queue: async () => ({ kind: 'overflow', reason: 'no agents' }) }));
    expect(result.path.map((p) => p.node).slice(-3)).toEqual(['queue-consult', 'busy-offer-voicemail', 'goodbye']);
    expect(result.outcome).toEqual({ kind: 'hangup', cause: 'NORMAL_CLEARING' });
  });

  it('a too-short ticket number is invalid: the invalid prompt, then the question again', async () => {
    const { result, media } = await runMain([{ keys: '9' }, { keys: '12#' }, { keys: '20261120007#' }, { silence: true }, { silence: true }]);
    expect(result.vars.ticketNo).toBe('20261120007');
    expect(media.prompts(PROMPTS)).toContain('demo/ticket-invalid.wav');
    expect(result.path.find((p) => p.node === 'ask-number')!.input).toEqual(['invalid:12', '20261120007']);
  });

  it('silence plays the retry prompt; three silences go to a human (onFail)', async () => {
    const { result, media } = await runMain([{ silence: true }, { silence: true }, { silence: true }]);
    expect(media.prompts(PROMPTS)).toEqual(['demo/welcome.wav', 'demo/main-menu.wav', 'demo/main-menu-retry.wav', 'demo/main-menu-retry.wav']);
    expect(result.path[3]!.input).toEqual(['timeout', 'timeout', 'timeout']);
    expect(result.outcome.kind === 'queue' && result.outcome.request.skillGroup).toBe('general');
  });

  it('a stray key plays the invalid-key prompt and the menu again; the next good key counts', async () => {
    const { result, media } = await runMain([{ keys: '7' }, { keys: '2' }]);
    expect(media.prompts(PROMPTS)).toEqual(['demo/welcome.wav', 'demo/main-menu.wav', 'demo/invalid-key.wav', 'demo/main-menu.wav']);
    expect(result.path[3]!.input).toEqual(['invalid:7', '2']);
    expect(result.outcome.kind === 'queue' && result.outcome.request.skillGroup).toBe('complaint');
  });

  it('a late key after silence is taken from the retry prompt (menu again, not lost)', async () => {
    const { result } = await runMain([{ silence: true }, { keys: '4' }]);
    expect(result.path[3]!.input).toEqual(['timeout', '4']);
    expect(result.outcome.kind === 'queue' && result.outcome.request.skillGroup).toBe('suggestion');
  });

  it('a key typed during the welcome (barge-in) is honoured by the menu without replaying it', async () => {
    const { result, media, h } = await runMain([{ barge: '3' }]);
    expect(media.prompts(PROMPTS)).toEqual(['demo/welcome.wav']);
    expect(media.ops.find((o) => o.op === 'play')!.opts).toEqual({ interruptKeys: '0123456789*#' });
    expect(result.outcome.kind === 'queue' && result.outcome.request.skillGroup).toBe('help');
    expect(result.path[3]).toMatchObject({ node: 'main-menu', input: ['3'] });
    expect(h.steps.some((s) => s.trigger === 'dtmf' && s.fromNode === 'welcome')).toBe(true);
  });

  it('a typed-ahead stray key counts as an invalid attempt', async () => {
    const { result, media } = await runMain([{ barge: '8' }, { barge: '5' }]);
    // 8 during the welcome → invalid → invalid prompt, during which 5 is pressed → enterprise
    expect(media.prompts(PROMPTS)).toEqual(['demo/welcome.wav', 'demo/invalid-key.wav']);
    expect(result.path[3]!.input).toEqual(['invalid:8', '5']);
    expect(result.outcome.kind === 'queue' && result.outcome.request.skillGroup).toBe('enterprise');
  });

  it('a caller hanging up mid-prompt leaves the last node and the path', async () => {
    const { result } = await runMain([{ hangup: true }]);
    expect(result.outcome).toEqual({ kind: 'caller-gone' });
    expect(result.lastNode).toBe('welcome');
    expect(result.path.map((p) => p.node)).toEqual(['check-hours', 'welcome']);
  });

  it('a caller hanging up in the menu: last node main-menu', async () => {
    const { result } = await runMain([{ keys: '7' }, { hangup: true }]);
    expect(result.outcome.kind).toBe('caller-gone');
    expect(result.lastNode).toBe('main-menu');
    expect(result.path[3]!.input).toEqual(['invalid:7']);
  });

  it('VIP callers skip the menu into the priority queue; repeat callers are marked', async () => {
    const vip = await runMain([], harness(), call({ attributes: { vip: true } }));
    expect(vip.result.outcome.kind === 'queue' && vip.result.outcome.request).toMatchObject({ skillGroup: 'general', priority: 90 });
    const rep = await runMain([{ keys: '1' }], harness(), call({ attributes: { repeat: true } }));
    expect(rep.result.vars.repeatCaller).toBe('yes');
    expect(rep.result.path.map((p) => p.node)).toContain('mark-repeat');
  });

  it('96xxx short number reaches the same main flow', async () => {
    const { result } = await runMain([{ keys: '1' }], harness(), call({ destination: '96128' }));
    expect(result.flowId).toBe('main');
    expect(result.outcome.kind).toBe('queue');
  });

  it('with an ACD handler: connected ends the flow, a timeout offers voicemail', async () => {
    const connected = await runMain([{ keys: '1' }], harness({ queue: async () => ({ kind: 'connected', agentId: 'a1' }) }));
    expect(connected.result.outcome).toMatchObject({ kind: 'queue', result: { kind: 'connected', agentId: 'a1' } });
    const timeout = await runMain(
      [{ keys: '1' }, { keys: '1' }, { speak: 4000, end: 'terminator' }],
      harness({ queue: async () => ({ kind: 'timeout' }) }),
    );
    expect(timeout.result.path.map((p) => p.node).slice(-5)).toEqual(['queue-consult', 'busy-offer-voicemail', 'leave-message', 'voicemail-thanks', 'goodbye']);
    expect(timeout.h.voicemails[0]).toMatchObject({ category: '座席繁忙留言', durationMs: 4000, endedBy: 'terminator' });
  });
});

describe('after hours', () => {
  it('closed: the after-hours greeting, 1 records a complaint (5 min cap, # stops, beep), saved, thanks, hang-up', async () => {
    const h = harness({ hours: 'closed' });
    const { result, media } = await runMain([{ keys: '1' }, { speak: 42_000, end: 'terminator' }], h);
    expect(result.path.map((p) => `${p.flowId}:${p.node}`)).toEqual([
      'main:check-hours',
      'main:to-after-hours',
      'after-hours:greeting',
      'after-hours:menu',
      'after-hours:complaint-recording',
      'after-hours:thanks',
      'after-hours:goodbye',
    ]);
    const rec = media.ops.find((o) => o.op === 'record')!;
    expect(rec.opts).toMatchObject({ maxSeconds: 300, terminators: '#', beep: true });
    expect(h.voicemails).toHaveLength(1);
    expect(h.voicemails[0]).toMatchObject({ tenantId: 'demo', callerNumber: '13800000001', category: '投诉举报', durationMs: 42_000, flowId: 'after-hours', nodeId: 'complaint-recording' });
    expect(fs.existsSync(h.voicemails[0]!.filePath)).toBe(true);
    expect(result.voicemailIds).toEqual(['vm-1']);
    expect(result.vars).toMatchObject({ afterHours: 'yes', business: '投诉举报', 'voicemail.id': 'vm-1', 'hours.status': 'closed' });
    expect(result.outcome).toEqual({ kind: 'hangup', cause: 'NORMAL_CLEARING' });
    expect(media.ops.at(-1)).toEqual({ op: 'hangup', arg: 'NORMAL_CLEARING' });
  });

  it('a caller who hangs up to end the message still leaves the voicemail', async () => {
    const h = harness({ hours: 'closed' });
    const { result } = await runMain([{ keys: '1' }, { speak: 9000, end: 'hangup' }], h);
    expect(result.outcome.kind).toBe('caller-gone');
    expect(result.lastNode).toBe('complaint-recording');
    expect(h.voicemails[0]).toMatchObject({ durationMs: 9000, endedBy: 'hangup' });
  });

  it('an empty recording (silence) is not stored', async () => {
    const h = harness({ hours: 'closed' });
    const { result } = await runMain([{ keys: '1' }, { speak: 0, end: 'silence' }], h);
    expect(h.voicemails).toHaveLength(0);
    expect(result.vars['voicemail.id']).toBe('');
  });

  it('on a holiday the after-hours flow runs too', async () => {
    const { result } = await runMain([{ silence: true }, { silence: true }, { silence: true }], harness({ hours: 'holiday' }));
    expect(result.vars['hours.status']).toBe('holiday');
    expect(result.lastFlowId).toBe('after-hours');
    expect(result.lastNode).toBe('goodbye');
  });

  it('9 after hours reaches the ticket query', async () => {
    const { result } = await runMain([{ keys: '9' }, { keys: '20261120007#' }, { silence: true }, { silence: true }], harness({ hours: 'closed' }));
    expect(result.vars['lookup.status']).toBe('已办结');
  });
});

describe('post-call satisfaction survey', () => {
  const labels: [string, string, number][] = [
    ['1', '满意', 3],
    ['2', '基本满意', 2],
    ['3', '不满意', 1],
  ];
  for (const [key, label, score] of labels) {
    it(`key ${key} stores ${label}`, async () => {
      const h = harness();
      const flow = registry.postCallSurvey('demo')!;
      const media = new ScriptedMedia([{ keys: key }]);
      const result = await new FlowRunner(h.deps, flow).exec(call({ answered: true, vars: { 'agent.id': 'agent-7' } }), media);
      expect(media.ops.some((o) => o.op === 'answer')).toBe(false);
      expect(h.surveys).toEqual([expect.objectContaining({ survey: 'satisfaction', key, label, score, agentId: 'agent-7', callUuid: 'call-1', tenantId: 'demo' })]);
      expect(result.vars['survey.satisfaction']).toBe(label);
      expect(result.outcome.kind).toBe('hangup');
    });
  }

  it('an invalid key and then silence: nothing stored, the call ends', async () => {
    const h = harness();
    const media = new ScriptedMedia([{ keys: '5' }, { silence: true }]);
    const result = await new FlowRunner(h.deps, registry.postCallSurvey('demo')!).exec(call({ answered: true }), media);
    expect(h.surveys).toEqual([]);
    expect(result.path[0]!.input).toEqual(['invalid:5', 'timeout']);
    expect(result.lastNode).toBe('bye');
  });
});

describe('per-step overhead hook', () => {
  it('reports the time from a key to the next media command', async () => {
    const h = harness();
    const { result } = await runMain([{ keys: '7' }, { keys: '1' }], h);
    const dtmf = h.steps.filter((s) => s.trigger === 'dtmf');
    expect(dtmf.length).toBeGreaterThanOrEqual(2);
    expect(dtmf[0]).toMatchObject({ fromNode: 'main-menu', toNode: 'main-menu' });
    expect(result.stepOverheadMs.length).toBe(dtmf.length);
    for (const ms of result.stepOverheadMs) expect(ms).toBeLessThan(50);
  });

  it('StepOverheadRecorder summarises the key-triggered samples for the benchmark', async () => {
    const rec = new StepOverheadRecorder();
    const h = harness();
    h.deps.onStep = rec.record;
    for (let i = 0; i < 20; i++) await runMain([{ keys: '7' }, { keys: '1' }], h);
    const s = rec.summary();
    expect(s.n).toBeGreaterThanOrEqual(20);
    expect(s.p50).toBeLessThanOrEqual(s.p99);
    expect(s.max).toBeLessThan(100);
  });
});
