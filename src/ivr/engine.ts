// FlowRunner: walks one compiled flow on one call through the CallMedia contract. It holds the CompiledFlow it
// was given (a reload never changes a running call), records the path (node ids with times) and the variables the
// flow set, and returns how the call left the IVR: queue request, transfer, hang-up, or the caller hanging up.
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { CallGoneError, type CallMedia } from '../calls/media.js';
import type { FlowNode, NodeOf, NodeType, Prompt } from './flow-schema.js';
import type { CompiledFlow } from './registry.js';
import { resolvePromptPath } from './validate.js';
import type { LookupHandler } from './lookups.js';

export const ALL_KEYS = '0123456789*#';

/** What the call layer knows about the caller before the flow starts (branch on caller.vip, caller.repeat …). */
export interface CallerAttributes {
  vip?: boolean;
  /** called before within the repeat window (重复来电) */
  repeat?: boolean;
  blacklisted?: boolean;
  [name: string]: string | number | boolean | undefined;
}

export interface FlowCallContext {
  uuid: string;
  tenantId: string;
  callerNumber: string;
  /** the dialled number (12345, 96xxx) */
  destination: string;
  attributes?: CallerAttributes;
  /** variables known before the flow starts, e.g. agent.id for the post-call survey */
  vars?: Record<string, string>;
  /** the call is already answered (post-call survey); answer() is not sent again */
  answered?: boolean;
  log?: Logger;
  /** told each node as it is entered, so a CDR knows where a caller who hung up was (CallSession.markIvrNode) */
  onNode?: (step: PathStep) => void;
  /** told each variable the flow sets (CallSession.setVar) */
  onVar?: (name: string, value: string) => void;
}

/** What a `queue` node hands to the ACD. */
export interface QueueRequest {
  tenantId: string;
  callUuid: string;
  callerNumber: string;
  destination: string;
  skillGroup: string;
  /** 0-100, higher first */
  priority: number;
  /** give up after this long (the node's timeoutSeconds) */
  timeoutMs?: number;
  flowId: string;
  versionId: string;
  nodeId: string;
  /** the flow's variables (business type, ticket number…) for screen pop and reports */
  vars: Record<string, string>;
  requestedAt: Date;
}

/** What the ACD answers when the caller leaves the queue. */
export type QueueOutcome =
  | { kind: 'connected'; agentId?: string }
  | { kind: 'timeout' }
  | { kind: 'overflow'; reason?: string }
  | { kind: 'caller-gone' };

/** The ACD's queue task; absent, the flow ends with `{kind: 'queue', request}` and the call layer queues it. */
export type QueueHandler = (request: QueueRequest, media: CallMedia) => Promise<QueueOutcome>;

export interface VoicemailRecord {
  tenantId: string;
  callUuid: string;
  callerNumber: string;
  destination: string;
  flowId: string;
  nodeId: string;
  category?: string;
  startedAt: Date;
  durationMs: number;
  filePath: string;
  sizeBytes: number;
  endedBy: string;
}
export interface VoicemailSink {
  save(v: VoicemailRecord): Promise<{ id: string }>;
}

export interface SurveyAnswer {
  tenantId: string;
  callUuid: string;
  callerNumber: string;
  survey: string;
  key: string;
  label: string;
  score?: number;
  agentId?: string;
  flowId: string;
  at: Date;
}
export interface SurveySink {
  save(a: SurveyAnswer): Promise<void>;
}

export type CalendarStatusFn = (tenantId: string, at: Date) => 'open' | 'closed' | 'holiday' | undefined;

/** One overhead sample: from a media result (a key, usually) to the next media command or the hand-off. */
export interface StepSample {
  callUuid: string;
  fromNode: string;
  toNode: string;
  /** 'dtmf' when the previous media result carried a key */
  trigger: 'dtmf' | 'media';
  overheadMs: number;
}

export interface FlowEngineDeps {
  flows: { get(tenantId: string, flowId: string): CompiledFlow | undefined };
  promptsDir: string;
  recordingsDir: string;
  tts?: { fileFor(text: string): Promise<string> };
  calendar?: CalendarStatusFn;
  queue?: QueueHandler;
  lookups?: ReadonlyMap<string, LookupHandler>;
  voicemails?: VoicemailSink;
  surveys?: SurveySink;
  log?: Logger;
  now?: () => Date;
  /** per-step overhead hook (bench, metrics) */
  onStep?: (sample: StepSample) => void;
  /** guard against flows that bounce between flows without input */
  maxSteps?: number;
}

export type FlowOutcome =
  | { kind: 'hangup'; cause: string }
  | { kind: 'queue'; request: QueueRequest; result?: QueueOutcome }
  | { kind: 'transfer'; destination: string }
  | { kind: 'caller-gone' }
  /** kill() was called (the call layer hung up, transferred or is draining) */
  | { kind: 'stopped'; reason: string }
  | { kind: 'error'; message: string };

export interface PathStep {
  flowId: string;
  node: string;
  type: NodeType;
  at: string;
  /** the key(s) the caller gave at this node, or "timeout"/"invalid:<k>" per attempt */
  input?: string[];
}

export interface FlowRunResult {
  tenantId: string;
  callUuid: string;
  flowId: string;
  versionId: string;
  outcome: FlowOutcome;
  /** where the caller was when the flow ended (the CDR's "last IVR node") */
  lastFlowId: string;
  lastNode: string;
  path: PathStep[];
  /** variables the flow set (set:, collect, survey, lookup, voicemail) */
  vars: Record<string, string>;
  voicemailIds: string[];
  startedAt: string;
  endedAt: string;
  /** overhead samples after a key press, ms */
  stepOverheadMs: number[];
}

type Step = { next: string } | { end: FlowOutcome } | { flow: string };

class FlowError extends Error {
  override name = 'FlowError';
}

/** Wraps CallMedia to time the gap between a media result and the next command the engine issues. */
class TimedMedia {
  private lastDoneAt?: number;
  private lastHadKey = false;
  private fromNode = '';
  node = '';
  readonly samples: number[] = [];
  /** throws to stop the run before a command is sent (kill) */
  beforeCommand?: () => void;

  constructor(
    readonly inner: CallMedia,
    private readonly uuid: string,
    private readonly onStep?: (s: StepSample) => void,
  ) {}

  /** Close the open sample (called before a media command and at the hand-off). */
  mark(): void {
    if (this.lastDoneAt === undefined) return;
    const overheadMs = performance.now() - this.lastDoneAt;
    if (this.lastHadKey) this.samples.push(overheadMs);
    this.onStep?.({ callUuid: this.uuid, fromNode: this.fromNode, toNode: this.node, trigger: this.lastHadKey ? 'dtmf' : 'media', overheadMs });
    this.lastDoneAt = undefined;
  }

  async run<T>(op: () => Promise<T>, hasKey: (r: T) => boolean): Promise<T> {
    this.beforeCommand?.();
    this.mark();
    const r = await op();
    this.lastDoneAt = performance.now();
    this.lastHadKey = hasKey(r);
    this.fromNode = this.node;
    return r;
  }
}

/** Runs a flow on a call; one runner per call (kill() stops the run in progress). */
export class FlowRunner {
  private run?: FlowRun;

  constructor(
    private readonly deps: FlowEngineDeps,
    readonly flow: CompiledFlow,
  ) {}

  async exec(ctx: FlowCallContext, rawMedia: CallMedia): Promise<FlowRunResult> {
    this.run = new FlowRun(this.deps, this.flow, ctx, new TimedMedia(rawMedia, ctx.uuid, this.deps.onStep));
    return this.run.execute();
  }

  /** Stop before the next node or media command; exec() then resolves with outcome 'stopped'. */
  kill(reason: string): void {
    this.run?.kill(reason);
  }
}

class FlowStopped extends Error {
  override name = 'FlowStopped';
}

class FlowRun {
  private flow: CompiledFlow;
  private readonly all = new Map<string, string>();
  private readonly setVars: Record<string, string> = {};
  private readonly path: PathStep[] = [];
  private readonly voicemailIds: string[] = [];
  private pending?: string;
  private answered: boolean;
  private readonly log?: Logger;
  private readonly now: () => Date;
  private stopReason?: string;

  constructor(
    private readonly deps: FlowEngineDeps,
    private readonly startFlow: CompiledFlow,
    private readonly ctx: FlowCallContext,
    private readonly media: TimedMedia,
  ) {
    this.flow = startFlow;
    this.answered = ctx.answered ?? false;
    this.log = (ctx.log ?? deps.log)?.child({ ivr: startFlow.id, version: startFlow.versionId });
    this.now = deps.now ?? (() => new Date());
    this.all.set('call.uuid', ctx.uuid);
    this.all.set('call.destination', ctx.destination);
    this.all.set('caller.number', ctx.callerNumber);
    this.all.set('tenant', ctx.tenantId);
    for (const k of ['vip', 'repeat', 'blacklisted']) this.all.set(`caller.${k}`, 'false');
    for (const [k, v] of Object.entries(ctx.attributes ?? {})) if (v !== undefined) this.all.set(`caller.${k}`, String(v));
    for (const [k, v] of Object.entries(ctx.vars ?? {})) this.all.set(k, v);
  }

  kill(reason: string): void {
    this.stopReason ??= reason;
  }

  private checkStopped(): void {
    if (this.stopReason !== undefined) throw new FlowStopped(this.stopReason);
  }

  async execute(): Promise<FlowRunResult> {
    const startedAt = this.now();
    let outcome: FlowOutcome;
    this.media.beforeCommand = () => this.checkStopped();
    try {
      outcome = await this.walk();
    } catch (err) {
      if (err instanceof FlowStopped) {
        outcome = { kind: 'stopped', reason: err.message };
      } else if (err instanceof CallGoneError) {
        outcome = { kind: 'caller-gone' };
      } else {
        this.log?.error({ err, node: this.lastNode() }, 'ivr flow failed');
        outcome = { kind: 'error', message: (err as Error).message };
      }
    }
    this.media.node = '(end)';
    this.media.mark();
    const last = this.path[this.path.length - 1];
    const result: FlowRunResult = {
      tenantId: this.ctx.tenantId,
      callUuid: this.ctx.uuid,
      flowId: this.startFlow.id,
      versionId: this.startFlow.versionId,
      outcome,
      lastFlowId: last?.flowId ?? this.startFlow.id,
      lastNode: last?.node ?? this.startFlow.start,
      path: this.path,
      vars: { ...this.setVars },
      voicemailIds: this.voicemailIds,
      startedAt: startedAt.toISOString(),
      endedAt: this.now().toISOString(),
      stepOverheadMs: this.media.samples,
    };
    this.log?.info({ outcome: outcome.kind, lastNode: result.lastNode, steps: this.path.length }, 'ivr flow ended');
    return result;
  }

  private lastNode(): string | undefined {
    return this.path[this.path.length - 1]?.node;
  }

  private async walk(): Promise<FlowOutcome> {
    const maxSteps = this.deps.maxSteps ?? 500;
    let nodeId = this.flow.start;
    if (this.flow.answer && !this.answered) {
      await this.media.run(() => this.media.inner.answer(), () => false);
      this.answered = true;
    }
    for (let steps = 0; ; steps++) {
      if (steps >= maxSteps) throw new FlowError(`more than ${maxSteps} steps without ending`);
      this.checkStopped();
      const node = this.flow.nodes.get(nodeId);
      if (!node) throw new FlowError(`node ${nodeId} missing in ${this.flow.id}`);
      this.media.node = nodeId;
      const entered: PathStep = { flowId: this.flow.id, node: nodeId, type: node.type, at: this.now().toISOString() };
      this.path.push(entered);
      this.ctx.onNode?.(entered);
      if (node.set) for (const [k, v] of Object.entries(node.set)) this.setVar(k, this.expand(String(v)));
      const step = await this.runNode(nodeId, node);
      if ('end' in step) return step.end;
      if ('next' in step) {
        nodeId = step.next;
        continue;
      }
      const other = this.deps.flows.get(this.ctx.tenantId, step.flow);
      if (!other) throw new FlowError(`flow ${step.flow} of tenant ${this.ctx.tenantId} is not loaded`);
      this.flow = other;
      nodeId = other.start;
      if (other.answer && !this.answered) {
        await this.media.run(() => this.media.inner.answer(), () => false);
        this.answered = true;
      }
    }
  }

  private runNode(id: string, node: FlowNode): Promise<Step> {
    switch (node.type) {
      case 'play':
        return this.play(node);
      case 'menu':
        return this.menu(id, node);
      case 'collect':
        return this.collect(id, node);
      case 'hours':
        return Promise.resolve(this.hours(node));
      case 'queue':
        return this.queue(id, node);
      case 'voicemail':
        return this.voicemail(id, node);
      case 'lookup':
        return this.lookup(node);
      case 'transfer':
        return Promise.resolve(node.flow !== undefined ? { flow: node.flow } : { end: { kind: 'transfer', destination: node.to! } });
      case 'survey':
        return this.survey(id, node);
      case 'set':
        return Promise.resolve({ next: node.next });
      case 'branch':
        return Promise.resolve(this.branch(node));
      case 'hangup':
        return this.hangup(node);
    }
  }

  // --- variables -----------------------------------------------------------------------------------------------
  private setVar(name: string, value: string): void {
    this.all.set(name, value);
    this.setVars[name] = value;
    this.ctx.onVar?.(name, value);
  }

  private expand(text: string): string {
    return text.replace(/\$\{([A-Za-z][A-Za-z0-9_.]*)\}/g, (_m, name: string) => this.all.get(name) ?? '');
  }

  private input(v: string): void {
    const step = this.path[this.path.length - 1];
    if (step) (step.input ??= []).push(v);
  }

  // --- media helpers -------------------------------------------------------------------------------------------
  /** `verbatim`: text from a handler is spoken as is (no ${var} expansion of what a citizen's data contains) */
  private async promptPath(p: Prompt, verbatim = false): Promise<string> {
    if (typeof p === 'string') return resolvePromptPath(this.deps.promptsDir, p);
    if ('file' in p) return resolvePromptPath(this.deps.promptsDir, p.file);
    if (!this.deps.tts) throw new FlowError('a tts prompt needs a TTS service');
    return this.deps.tts.fileFor(verbatim ? p.tts : this.expand(p.tts));
  }

  /** Play a prompt; with barge-in a key stops it and is kept for the next input node. */
  private async say(p: Prompt, bargeIn: boolean, verbatim = false): Promise<void> {
    const file = await this.promptPath(p, verbatim);
    const r = await this.media.run(
      () => this.media.inner.play(file, bargeIn ? { interruptKeys: ALL_KEYS } : undefined),
      (r) => r.interruptedBy !== undefined,
    );
    if (!r.ok) this.log?.warn({ file }, 'prompt could not be played');
    if (bargeIn && r.interruptedBy) this.pending = r.interruptedBy;
  }

  private takePending(): string | undefined {
    const k = this.pending;
    this.pending = undefined;
    return k;
  }

  /** One key from a set: the typed-ahead key if any, else a prompt-and-collect with barge-in (play_and_get_digits). */
  private async oneKey(
    nodeId: string,
    keys: readonly string[],
    prompt: Prompt,
    timeoutMs: number,
  ): Promise<string | null> {
    const typed = this.takePending();
    if (typed !== undefined) return typed;
    const file = await this.promptPath(prompt);
    const klass = keys.map((k) => (k === '*' ? '\\*' : k)).join('');
    const r = await this.media.run(
      () =>
        this.media.inner.collectDigits({
          prompt: file,
          minDigits: 1,
          maxDigits: 1,
          tries: 1,
          timeoutMs,
          // no terminator: # may be a menu key, and a single key needs none
          terminators: '',
          validDigitsRegex: `^[${klass}]$`,
          variableName: `ivr_${nodeId.replace(/-/g, '_')}`,
        }),
      (r) => Boolean(r.digits ?? r.invalid),
    );
    return r.digits ?? r.invalid ?? null;
  }

  /** The menu/survey loop: silence → retry prompt, a key not offered → invalid prompt and the menu again. */
  private async chooseKey(
    nodeId: string,
    keys: readonly string[],
    node: { prompt: Prompt; retryPrompt?: Prompt; invalidPrompt?: Prompt; timeoutMs: number; retries: number },
  ): Promise<string | null> {
    let lastFailure: 'none' | 'silence' | 'invalid' = 'none';
    for (let attempt = 0; attempt < node.retries; attempt++) {
      const prompt = lastFailure === 'silence' && node.retryPrompt ? node.retryPrompt : node.prompt;
      const key = await this.oneKey(nodeId, keys, prompt, node.timeoutMs);
      if (key !== null && keys.includes(key)) {
        this.input(key);
        return key;
      }
      if (key === null || key === '') {
        this.input('timeout');
        lastFailure = 'silence';
        continue;
      }
      this.input(`invalid:${key}`);
      lastFailure = 'invalid';
      if (node.invalidPrompt) await this.say(node.invalidPrompt, true);
    }
    return null;
  }

  // --- nodes ---------------------------------------------------------------------------------------------------
  private async play(node: NodeOf<'play'>): Promise<Step> {
    // a caller who already pressed a key has chosen: skip further skippable prompts up to the menu
    if (node.bargeIn && this.pending !== undefined) {
      this.input(`skipped:${this.pending}`);
      return { next: node.next };
    }
    await this.say(node.prompt, node.bargeIn);
    return { next: node.next };
  }

  private async menu(id: string, node: NodeOf<'menu'>): Promise<Step> {
    const keys = Object.keys(node.keys);
    const key = await this.chooseKey(id, keys, node);
    if (key === null) return { next: node.onFail };
    return { next: node.keys[key as keyof typeof node.keys]! };
  }

  private async collect(id: string, node: NodeOf<'collect'>): Promise<Step> {
    let lastFailure: 'none' | 'silence' | 'invalid' = 'none';
    for (let attempt = 0; attempt < node.retries; attempt++) {
      // a key typed during the previous prompt is the first digit (unless it was the terminator)
      let prefix = this.takePending() ?? '';
      if (prefix === node.terminator || !/^[0-9]$/.test(prefix)) prefix = '';
      const prompt = lastFailure === 'silence' && node.retryPrompt ? node.retryPrompt : node.prompt;
      const file = await this.promptPath(prompt);
      const min = Math.max(1, node.minDigits - prefix.length);
      const max = Math.max(min, node.maxDigits - prefix.length);
      const r = await this.media.run(
        () =>
          this.media.inner.collectDigits({
            prompt: file,
            minDigits: min,
            maxDigits: max,
            tries: 1,
            timeoutMs: node.timeoutMs,
            digitTimeoutMs: node.digitTimeoutMs,
            terminators: node.terminator || undefined,
            validDigitsRegex: `^[0-9]{${min},${max}}$`,
            variableName: node.variable.replace(/\./g, '_'),
          }),
        (r) => Boolean(r.digits ?? r.invalid),
      );
      const digits = r.digits === null ? null : prefix + r.digits.replace(/[*#]$/, '');
      if (digits !== null && digits.length >= node.minDigits && digits.length <= node.maxDigits && /^[0-9]+$/.test(digits)) {
        this.input(digits);
        this.setVar(node.variable, digits);
        return { next: node.next };
      }
      if (digits === null && !r.invalid && !prefix) {
        this.input('timeout');
        lastFailure = 'silence';
        continue;
      }
      this.input(`invalid:${r.invalid ?? digits ?? prefix}`);
      lastFailure = 'invalid';
      if (node.invalidPrompt) await this.say(node.invalidPrompt, false);
    }
    return { next: node.onFail };
  }

  private hours(node: NodeOf<'hours'>): Step {
    const status = this.deps.calendar?.(this.ctx.tenantId, this.now());
    if (status === undefined) this.log?.warn('no working calendar for the tenant: treated as open');
    this.input(status ?? 'open');
    this.setVar('hours.status', status ?? 'open');
    if (status === 'holiday') return { next: node.holiday ?? node.closed };
    if (status === 'closed') return { next: node.closed };
    return { next: node.open };
  }

  private async queue(id: string, node: NodeOf<'queue'>): Promise<Step> {
    const request: QueueRequest = {
      tenantId: this.ctx.tenantId,
      callUuid: this.ctx.uuid,
      callerNumber: this.ctx.callerNumber,
      destination: this.ctx.destination,
      skillGroup: node.skillGroup,
      priority: node.priority,
      timeoutMs: node.timeoutSeconds === undefined ? undefined : node.timeoutSeconds * 1000,
      flowId: this.flow.id,
      versionId: this.flow.versionId,
      nodeId: id,
      vars: Object.fromEntries(this.all),
      requestedAt: this.now(),
    };
    if (!this.deps.queue) return { end: { kind: 'queue', request } };
    this.media.mark(); // the hand-off to the ACD closes the overhead sample
    const result = await this.deps.queue(request, this.media.inner);
    this.input(result.kind);
    switch (result.kind) {
      case 'connected':
        return { end: { kind: 'queue', request, result } };
      case 'caller-gone':
        return { end: { kind: 'caller-gone' } };
      case 'timeout':
        return node.onTimeout ? { next: node.onTimeout } : { end: { kind: 'queue', request, result } };
      case 'overflow':
        return node.onOverflow ? { next: node.onOverflow } : { end: { kind: 'queue', request, result } };
    }
  }

  private async voicemail(id: string, node: NodeOf<'voicemail'>): Promise<Step> {
    this.pending = undefined;
    if (node.prompt) await this.say(node.prompt, false);
    const startedAt = this.now();
    const day = startedAt.toISOString().slice(0, 10);
    const dir = path.resolve(this.deps.recordingsDir, 'voicemail', this.ctx.tenantId, day);
    await fs.promises.mkdir(dir, { recursive: true });
    const file = path.join(dir, `${this.ctx.uuid}-${id}-${startedAt.getTime()}.wav`);
    let rec: { durationMs: number; sizeBytes: number; endedBy: string };
    let gone: CallGoneError | undefined;
    try {
      const r = await this.media.run(
        () => this.media.inner.record({ path: file, maxSeconds: node.maxSeconds, terminators: node.stopKey, beep: node.beep, silenceSeconds: node.silenceSeconds }),
        (r) => r.terminator !== undefined,
      );
      rec = r;
      if (r.endedBy === 'hangup') gone = new CallGoneError(this.ctx.uuid);
    } catch (err) {
      if (!(err instanceof CallGoneError)) throw err;
      // most callers end a message by hanging up: keep what was recorded
      gone = err;
      rec = { ...wavStats(file), endedBy: 'hangup' };
    }
    this.input(rec.endedBy);
    if (rec.durationMs > 0) {
      const record: VoicemailRecord = {
        tenantId: this.ctx.tenantId,
        callUuid: this.ctx.uuid,
        callerNumber: this.ctx.callerNumber,
        destination: this.ctx.destination,
        flowId: this.flow.id,
        nodeId: id,
        category: node.category,
        startedAt,
        durationMs: rec.durationMs,
        filePath: file,
        sizeBytes: rec.sizeBytes,
        endedBy: rec.endedBy,
      };
      const saved = this.deps.voicemails ? await this.deps.voicemails.save(record) : { id: path.basename(file, '.wav') };
      this.voicemailIds.push(saved.id);
      this.setVar('voicemail.id', saved.id);
      this.setVar('voicemail.durationMs', String(rec.durationMs));
    } else {
      this.setVar('voicemail.id', '');
    }
    if (gone) throw gone;
    if (node.next) return { next: node.next };
    await this.media.run(() => this.media.inner.hangup('NORMAL_CLEARING'), () => false);
    return { end: { kind: 'hangup', cause: 'NORMAL_CLEARING' } };
  }

  private async lookup(node: NodeOf<'lookup'>): Promise<Step> {
    const handler = this.deps.lookups?.get(node.handler);
    let result;
    try {
      if (!handler) throw new FlowError(`lookup handler ${node.handler} is not registered`);
      result = await handler({
        tenantId: this.ctx.tenantId,
        callUuid: this.ctx.uuid,
        callerNumber: this.ctx.callerNumber,
        input: this.expand(node.input),
        vars: Object.fromEntries(this.all),
      });
    } catch (err) {
      this.log?.warn({ err, handler: node.handler }, 'ivr lookup failed');
      this.input('error');
      this.setVar('lookup.found', 'error');
      return { next: node.onError ?? node.onNotFound ?? node.next };
    }
    this.input(result.found ? 'found' : 'not-found');
    this.setVar('lookup.found', String(result.found));
    for (const [k, v] of Object.entries(result.vars ?? {})) this.setVar(`lookup.${k}`, v);
    if (result.found || node.onNotFound === undefined) {
      if (result.text) await this.say({ tts: result.text }, true, true);
      return { next: node.next };
    }
    return { next: node.onNotFound };
  }

  private async survey(id: string, node: NodeOf<'survey'>): Promise<Step> {
    const keys = Object.keys(node.options);
    const key = await this.chooseKey(id, keys, node);
    if (key === null) return { next: node.onFail ?? node.next };
    const opt = node.options[key as keyof typeof node.options]!;
    this.setVar(`survey.${node.name}`, opt.label);
    this.setVar(`survey.${node.name}.key`, key);
    await this.deps.surveys?.save({
      tenantId: this.ctx.tenantId,
      callUuid: this.ctx.uuid,
      callerNumber: this.ctx.callerNumber,
      survey: node.name,
      key,
      label: opt.label,
      score: opt.score,
      agentId: this.all.get('agent.id') || undefined,
      flowId: this.flow.id,
      at: this.now(),
    });
    return { next: node.next };
  }

  private branch(node: NodeOf<'branch'>): Step {
    for (const c of node.conditions) {
      const v = this.all.get(c.var);
      if (c.equals !== undefined && v !== String(c.equals)) continue;
      if (c.notEquals !== undefined && v === String(c.notEquals)) continue;
      if (c.in !== undefined && (v === undefined || !c.in.includes(v))) continue;
      if (c.prefix !== undefined && (v === undefined || !v.startsWith(c.prefix))) continue;
      if (c.matches !== undefined && (v === undefined || !new RegExp(c.matches).test(v))) continue;
      if (c.exists !== undefined && (v !== undefined && v !== '') !== c.exists) continue;
      this.input(`${c.var}→${c.goto}`);
      return { next: c.goto };
    }
    return { next: node.else };
  }

  private async hangup(node: NodeOf<'hangup'>): Promise<Step> {
    this.pending = undefined;
    if (node.prompt) await this.say(node.prompt, false);
    await this.media.run(() => this.media.inner.hangup(node.cause), () => false);
    return { end: { kind: 'hangup', cause: node.cause } };
  }
}

/** Duration of an 8 kHz 16-bit mono WAV from its size (what record leaves when the caller hangs up). */
function wavStats(file: string): { durationMs: number; sizeBytes: number } {
  try {
    const size = fs.statSync(file).size;
    return { sizeBytes: size, durationMs: Math.max(0, Math.round((size - 44) / 16)) };
  } catch {
    return { sizeBytes: 0, durationMs: 0 };
  }
}
