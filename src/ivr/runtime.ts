// The IVR side of a CTI node in one place, for src/main.ts: flows (watched), TTS, working calendars, blacklist,
// voicemail/survey stores, lookups; the engine's dependencies; the admin routes and the /healthz source.
import path from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import type { Logger } from 'pino';
import type { AppContext } from '../app-context.js';
import type { HealthSource } from '../http/health.js';
import type { CallMedia } from '../calls/media.js';
import { FlowRegistry, type CompiledFlow } from './registry.js';
import { FlowRunner, type CallerAttributes, type FlowEngineDeps, type FlowCallContext, type FlowRunResult, type QueueHandler, type StepSample } from './engine.js';
import { IvrFlowTask } from './flow-task.js';
import type { CallSession } from '../calls/call-session.js';
import type { CallTask } from '../calls/call-task.js';
import { ticketStatusLookup, demoTicketSource, type LookupHandler } from './lookups.js';
import { VoicemailStore, SurveyStore } from './stores.js';
import { ivrAdminRoutes } from './routes.js';
import { TtsService, EspeakNgProvider, ensurePromptFiles, type TtsProvider } from '../tts/index.js';
import { CalendarService } from '../calendar/service.js';
import { calendarAdminRoutes } from '../calendar/routes.js';
import { BlacklistService } from '../blacklist/service.js';
import { blacklistRoutes } from '../blacklist/routes.js';

export interface IvrRuntimeOptions {
  /** the ACD's queue task; without it a queue node ends the flow with the request for the call layer */
  queue?: QueueHandler;
  /** extra or replacement lookup handlers (ticket-status is built in, on demo data until tickets exist) */
  lookups?: Record<string, LookupHandler>;
  /** a cloud TTS instead of espeak-ng */
  ttsProvider?: TtsProvider;
  onStep?: (s: StepSample) => void;
  /** watch ivr-flows/ for edits (default true) */
  watch?: boolean;
}

export type AdmitResult =
  | { kind: 'run'; tenantId: string; flow: CompiledFlow; runner: FlowRunner }
  /** blacklisted: already rejected with CALL_REJECTED, hit logged */
  | { kind: 'rejected'; tenantId: string }
  /** no entry point for the dialled number */
  | { kind: 'no-route' };

export class IvrRuntime {
  readonly registry: FlowRegistry;
  readonly tts: TtsService;
  readonly calendars: CalendarService;
  readonly blacklist: BlacklistService;
  readonly voicemails: VoicemailStore;
  readonly surveys: SurveyStore;
  readonly lookups: Map<string, LookupHandler>;
  readonly engineDeps: FlowEngineDeps;

  constructor(
    private readonly ctx: AppContext,
    private readonly opts: IvrRuntimeOptions = {},
  ) {
    const { env, log } = ctx;
    const flowsDir = path.resolve(env.IVR_FLOWS_DIR);
    const promptsDir = path.resolve(env.PROMPTS_DIR);
    this.lookups = new Map<string, LookupHandler>([['ticket-status', ticketStatusLookup(demoTicketSource)], ...Object.entries(opts.lookups ?? {})]);
    this.registry = new FlowRegistry({ dir: flowsDir, promptsDir, lookupHandlers: new Set(this.lookups.keys()), log: log.child({ mod: 'ivr-flows' }) });
    this.tts = new TtsService({ provider: opts.ttsProvider ?? new EspeakNgProvider(), promptsDir, log });
    this.calendars = new CalendarService({ db: ctx.db, calendarDir: path.join(flowsDir, 'calendar'), redis: ctx.redis, redisPrefix: ctx.redisPrefix, log });
    this.blacklist = new BlacklistService({ db: ctx.db, redis: ctx.redis, redisPrefix: ctx.redisPrefix, log: log.child({ mod: 'blacklist' }) });
    this.voicemails = new VoicemailStore(ctx.db);
    this.surveys = new SurveyStore(ctx.db);
    this.engineDeps = {
      flows: this.registry,
      promptsDir,
      recordingsDir: path.resolve(env.RECORDINGS_DIR),
      tts: this.tts,
      calendar: this.calendars.status,
      queue: opts.queue,
      lookups: this.lookups,
      voicemails: this.voicemails,
      surveys: this.surveys,
      log: log.child({ mod: 'ivr' }),
      onStep: opts.onStep,
    };
  }

  async start(): Promise<void> {
    // a prompt named with its text but not generated yet (set-up skipped) must not make the flow refused
    try {
      const made = await ensurePromptFiles(this.registry.dir, this.engineDeps.promptsDir, this.tts);
      if (made.length > 0) this.ctx.log.info({ files: made.length }, 'generated missing flow prompts by TTS');
    } catch (err) {
      this.ctx.log.error({ err }, 'could not generate missing flow prompts');
    }
    this.registry.reload();
    if (this.opts.watch ?? true) this.registry.watch();
    await Promise.all([this.calendars.start(), this.blacklist.start()]);
  }

  async stop(): Promise<void> {
    this.registry.close();
    await Promise.all([this.calendars.stop(), this.blacklist.stop()]);
  }

  /**
   * The inbound path before any answer: which tenant and flow the dialled number runs, and whether the caller is
   * blacklisted (then the call is rejected unanswered here). One runner per call; keep it to kill() it on hang-up.
   */
  async admit(media: CallMedia, destination: string, callerNumber: string, log?: Logger): Promise<AdmitResult> {
    const entry = this.registry.resolveEntry(destination, callerNumber);
    if (!entry) return { kind: 'no-route' };
    if (await this.blacklist.screen(entry.tenantId, callerNumber, media, log)) return { kind: 'rejected', tenantId: entry.tenantId };
    return { kind: 'run', tenantId: entry.tenantId, flow: entry.flow, runner: new FlowRunner(this.engineDeps, entry.flow) };
  }

  /**
   * For CallTracker.onNewCall: screen the caller, pick the flow by dialled number, and run it as the session's
   * first task. `afterFlow` may append tasks (e.g. the ACD's queue task for a queue request).
   */
  async handleNewCall(
    session: CallSession,
    opts: { attributes?: CallerAttributes; afterFlow?: (result: FlowRunResult, session: CallSession) => CallTask[] | void } = {},
  ): Promise<AdmitResult> {
    const admitted = await this.admit(session.media, session.did ?? session.calleeNumber ?? '', session.callerNumber ?? '', session.log);
    if (admitted.kind === 'rejected') session.setVar('ivr.outcome', 'blacklisted');
    if (admitted.kind !== 'run') return admitted;
    // the entry point is the authority on which center a dialled number belongs to
    if (session.tenantId !== admitted.tenantId) session.tenantId = admitted.tenantId;
    const task = new IvrFlowTask(admitted.runner, {
      attributes: opts.attributes,
      onResult: (result, s) => {
        const more = opts.afterFlow?.(result, s);
        if (more && more.length > 0) s.addTasks(...more);
      },
    });
    session.addTasks(task);
    void session.runTasks();
    return admitted;
  }

  runner(flow: CompiledFlow): FlowRunner {
    return new FlowRunner(this.engineDeps, flow);
  }

  /** The post-call survey for a tenant, run on the caller's answered leg after the agent hangs up. */
  async runSurvey(call: FlowCallContext, media: CallMedia): Promise<FlowRunResult | undefined> {
    const flow = this.registry.postCallSurvey(call.tenantId);
    if (!flow) return undefined;
    return new FlowRunner(this.engineDeps, flow).exec({ ...call, answered: true }, media);
  }

  routes(): FastifyPluginAsync[] {
    return [
      ivrAdminRoutes(this.ctx, { registry: this.registry, voicemails: this.voicemails, surveys: this.surveys }),
      calendarAdminRoutes(this.ctx, this.calendars),
      blacklistRoutes(this.ctx, this.blacklist),
    ];
  }

  /** /healthz: flow load errors make the node report (not fail: the running versions still serve calls). */
  health(): HealthSource {
    return {
      name: 'ivr-flows',
      required: false,
      check: () => {
        const h = this.registry.health();
        return { ok: h.ok, detail: h };
      },
    };
  }
}
