// The path every inbound hotline call takes on this node, wiring the modules around a CallSession:
//   claim (one node per call) → sched_del of the dialplan's busy fallback → blacklist (reject unanswered) →
//   entry point → IVR flow → ACD queue → offer → agent answers: talking + recording → agent hangs up first: the
//   caller (kept by park_after_bridge) takes the satisfaction survey → hang-up → CDR.
// Each step is one of the modules' own APIs; this file only orders them and does the ACD/recording bookkeeping on
// call events. Per call it keeps one small record (agent, recording started, survey started).
import type { Logger } from 'pino';
import type { CallTracker } from '../calls/call-tracker.js';
import type { CallSession } from '../calls/call-session.js';
import type { CallMedia } from '../calls/media.js';
import type { EslCluster, EslEvent, EslNode } from '../esl/index.js';
import type { AcdService, AdoptedCall, OfferEvent, CallOutcome } from '../acd/index.js';
import type { IvrRuntime } from '../ivr/runtime.js';
import type { QueueOutcome, QueueRequest } from '../ivr/engine.js';
import { IvrFlowTask } from '../ivr/flow-task.js';
import type { RecordingService } from '../recording/recording-service.js';
import { recordAgentAnswer, linkCdrRecording } from '../recording/recording-service.js';
import type { Db } from '../db/client.js';
import type { Lifecycle } from '../lifecycle.js';
import type { CallClaims } from './call-claims.js';

export interface InboundPipelineOptions {
  cluster: EslCluster;
  tracker: CallTracker;
  acd: AcdService;
  recording: RecordingService;
  claims: CallClaims;
  lifecycle: Lifecycle;
  db: Db;
  log: Logger;
  /** tenant of a phone whose SIP realm names no center (an IP address): env.SIP_DEFAULT_TENANT */
  sipDefaultTenant: string;
  /** hold music when the ACD group names none */
  defaultHoldMusic?: string;
}

interface CallExtra {
  agentId?: string;
  recordingStarted?: boolean;
  surveyStarted?: boolean;
  agentCallEnded?: boolean;
}

const TALKING_STATES = new Set(['talking', 'held', 'conferenced']);
const TENANT_ID = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const RECENTLY_ENDED_MAX = 2000;
/** how long a CDR waits for the ACD offer of a caller who hung up while offered (cancelled legs settle in ms) */
const CDR_OFFER_WAIT_MS = 5000;
const HANGUP_EVENTS = new Set(['CHANNEL_HANGUP', 'CHANNEL_HANGUP_COMPLETE', 'CHANNEL_DESTROY']);

export class InboundPipeline {
  private ivr?: IvrRuntime;
  private readonly extra = new Map<string, CallExtra>();
  private readonly adoptedQueue = new Map<string, AdoptedCall>();
  /** calls closed on this node lately (an ACD answer can arrive just after its call ended) */
  private readonly recentlyEnded = new Set<string>();
  private claimsInFlight = 0;
  private readonly log: Logger;
  private readonly onEvent = (ev: EslEvent, node: EslNode): void => this.handleEvent(ev, node);
  private readonly onOffer = (e: OfferEvent): void => this.handleOffer(e);
  private readonly onOutcome = (e: { callUuid: string; tenantId: string } & CallOutcome): void => this.handleOutcome(e);
  private readonly onEnded = (s: CallSession): void => this.handleEnded(s);
  private readonly onLegGone = (s: CallSession, legUuid: string): void => {
    const leg = s.legs.get(legUuid);
    if (leg?.role === 'agent') void this.agentGone(s, legUuid, leg.agentId);
  };

  constructor(private readonly opts: InboundPipelineOptions) {
    this.log = opts.log.child({ mod: 'inbound' });
    for (const a of opts.acd.adopted) this.adoptedQueue.set(a.callUuid, a);
  }

  /** The IVR's queue handler (IvrRuntime is built after the pipeline so its queue node can call into it). */
  readonly queueHandler = (req: QueueRequest, media: CallMedia): Promise<QueueOutcome> => this.queue(req, media);

  /**
   * For CallTracker.claimNewCall: a draining node takes nothing; otherwise the first node to SET NX wins. Every
   * node sees the switch's events in the same order, so the first to ask would win every call: a node waits about
   * 1 ms per live or pending call (at most ~75) before asking, which spreads calls over the nodes by load.
   */
  readonly claimNewCall = async (ev: EslEvent): Promise<boolean> => {
    if (this.opts.lifecycle.draining) return false;
    const load = Math.min(this.opts.tracker.size + this.claimsInFlight, 50);
    this.claimsInFlight++;
    let won: boolean;
    try {
      // jitter: nodes with equal load (a burst of calls) would otherwise always resolve the race the same way
      if (load > 0) await new Promise((r) => setTimeout(r, load * (0.5 + Math.random())));
      if (this.opts.lifecycle.draining) return false;
      won = await this.opts.claims.claim(ev.uuid!);
    } finally {
      this.claimsInFlight--;
    }
    if (!won) this.log.debug({ call: ev.uuid }, 'call claimed by another node');
    return won;
  };

  /** Call after tracker.start() (its event listener must run before ours) and before the cluster connects. */
  start(ivr: IvrRuntime): void {
    this.ivr = ivr;
    const { tracker, cluster, acd } = this.opts;
    tracker.onNewCall = (s) => this.onNewCall(s);
    tracker.onAdoptedCall = (s) => this.onAdoptedCall(s);
    tracker.beforeCdr = (s) => this.beforeCdr(s);
    tracker.on('ended', this.onEnded);
    tracker.on('legGone', this.onLegGone);
    // registered after the tracker's listener: leg state (hungUpAt, roles) is up to date when we look
    cluster.on('event', this.onEvent);
    acd.engine.on('offer', this.onOffer);
    acd.engine.on('callOutcome', this.onOutcome);
  }

  stop(): void {
    this.opts.cluster.off('event', this.onEvent);
    this.opts.tracker.off('ended', this.onEnded);
    this.opts.tracker.off('legGone', this.onLegGone);
    this.opts.acd.engine.off('offer', this.onOffer);
    this.opts.acd.engine.off('callOutcome', this.onOutcome);
  }

  private extraOf(uuid: string): CallExtra {
    let e = this.extra.get(uuid);
    if (!e) this.extra.set(uuid, (e = {}));
    return e;
  }

  private nodeOf(session: CallSession): EslNode | undefined {
    return this.opts.cluster.nodeFor(session.uuid) ?? this.opts.cluster.byName(session.node);
  }

  private async command(session: CallSession, cmd: string): Promise<string | null> {
    const node = this.nodeOf(session);
    if (!node) return null;
    try {
      return await node.bgapi(cmd);
    } catch (err) {
      session.log.warn({ err: (err as Error).message, cmd }, 'ESL command refused');
      return null;
    }
  }

  // ------------------------------------------------------------ a new call

  private async onNewCall(session: CallSession): Promise<void> {
    // the dialplan's sched_transfer to the busy fallback has the channel uuid as its group
    await this.command(session, `sched_del ${session.uuid}`);
    const admitted = await this.ivr!.handleNewCall(session);
    if (admitted.kind === 'rejected') {
      session.log.info({ caller: session.callerNumber }, 'blacklisted caller rejected without answer');
    } else if (admitted.kind === 'no-route') {
      session.log.warn({ did: session.did, caller: session.callerNumber }, 'no entry point for the dialled number');
      await session.media.hangup('UNALLOCATED_NUMBER').catch(() => {});
    }
  }

  /** The flow's queue node: queued state, caller kept after the agent hangs up, then the ACD's queue task. */
  private async queue(req: QueueRequest, media: CallMedia): Promise<QueueOutcome> {
    const session = this.opts.tracker.get(req.callUuid);
    let parkAfterBridge: Promise<unknown> = Promise.resolve();
    if (session) {
      // FreeSWITCH parks the caller instead of hanging it up when the agent leaves (trace 06b): the survey follows.
      // Not awaited before the enqueue: it is written to the switch before any originate, and an agent's phone
      // rings for far longer than the switch takes to set a variable
      parkAfterBridge = this.command(session, `uuid_setvar ${session.uuid} park_after_bridge true`).catch(() => {});
      if (session.state !== 'queued') session.transition('queued', `queue ${req.skillGroup}`);
    }
    const outcome = await this.opts.acd.queueHandler(req, media);
    await parkAfterBridge;
    if (session && outcome.kind !== 'connected' && session.state === 'offering') session.transition('queued', 'offer ended');
    return outcome;
  }

  private handleOffer(e: OfferEvent): void {
    const session = this.opts.tracker.get(e.callUuid);
    if (!session) return; // another node's call (offers are broadcast)
    session.setSkillGroup(e.groupId);
    if (session.state === 'queued') session.transition('offering', `offer to ${e.agentIds.join(',')}`);
  }

  private handleOutcome(e: { callUuid: string; tenantId: string } & CallOutcome): void {
    if (e.outcome !== 'answered') return;
    const session = this.opts.tracker.get(e.callUuid);
    if (!session) {
      // the caller hung up just as the agent answered, and the call is already closed: end the agent's call here
      if (this.recentlyEnded.has(e.callUuid)) void this.answeredAfterEnd(e.callUuid, e.agentId, e.agentLegUuid);
      return;
    }
    const x = this.extraOf(session.uuid);
    x.agentId = e.agentId;
    session.setAgent(e.agentId);
    // the agent leg belongs to the call from now, not only from its CHANNEL_BRIDGE: a hang-up before the bridge
    // event must still end the agent's call (wrap-up) and release the agent's phone
    if (e.agentLegUuid && !session.legs.has(e.agentLegUuid)) {
      const leg = this.opts.tracker.attachLeg(session, e.agentLegUuid, 'agent', { agentId: e.agentId });
      // the originate succeeded: the agent's phone had answered
      leg.answeredAt ??= Date.now();
    }
    for (const leg of session.legsByRole('agent')) leg.agentId ??= e.agentId;
    if (session.callerLeg?.hungUpAt !== undefined) {
      // the caller's hang-up came before the answer was known: callerGone did not know this leg
      void this.callerGone(session);
      return;
    }
    this.maybeStartRecording(session);
  }

  /**
   * Before the CDR of an ended call: a caller who waited leaves the ACD now (settleAcd would only after the CDR, and
   * the tracker's hang-up handling already made the session 'ended' for callerGone), then the offer in progress is
   * awaited: an agent who answered in the instant the caller hung up is named in the CDR as in the queue events.
   */
  private async beforeCdr(session: CallSession): Promise<void> {
    const engine = this.opts.acd.engine;
    if (session.times.queueEnterAt !== undefined && session.times.agentAnswerAt === undefined) {
      await engine.abandon(session.uuid).catch((err: unknown) => session.log.error({ err }, 'ACD abandon failed'));
    }
    await engine.offerSettled(session.uuid, CDR_OFFER_WAIT_MS);
  }

  private async answeredAfterEnd(callUuid: string, agentId: string, legUuid?: string): Promise<void> {
    this.log.info({ call: callUuid, agent: agentId }, 'agent answered a call that had just ended: released');
    const node = this.opts.cluster.nodeFor(callUuid) ?? (legUuid ? this.opts.cluster.nodeFor(legUuid) : undefined);
    if (legUuid && node) await node.bgapi(`uuid_kill ${legUuid} NORMAL_CLEARING`).catch(() => {});
    await this.opts.acd.engine.callEnded(agentId, callUuid, 0).catch((err: unknown) => this.log.error({ err, call: callUuid }, 'ACD callEnded failed'));
  }

  /** Recording starts once both are known: the bridge (agent leg, talking) and the agent (ACD outcome). */
  private maybeStartRecording(session: CallSession): void {
    const x = this.extraOf(session.uuid);
    if (x.recordingStarted || !x.agentId || !TALKING_STATES.has(session.state)) return;
    const leg = session.legsByRole('agent').find((l) => l.hungUpAt === undefined);
    if (!leg) return;
    x.recordingStarted = true;
    leg.agentId ??= x.agentId;
    session.log.debug({ leg: leg.uuid, agent: x.agentId }, 'agent answered: recording starts');
    void recordAgentAnswer(this.opts.recording, session, leg.uuid, x.agentId).then(async (id) => {
      // the call may have ended (and its CDR been written) while the switch started the recording
      if (id && session.ended) await linkCdrRecording(this.opts.db, session.tenantId, session.uuid, id).catch(() => {});
    });
  }

  // ------------------------------------------------------------ call events

  private handleEvent(ev: EslEvent, _node: EslNode): void {
    if (ev.name === 'CUSTOM') return this.handleRegistration(ev);
    const uuid = ev.uuid;
    if (!uuid) return;
    const session = this.opts.tracker.get(uuid);
    if (!session) return;
    if (ev.name === 'CHANNEL_BRIDGE') {
      this.maybeStartRecording(session);
      return;
    }
    if (ev.name !== 'CHANNEL_HANGUP') return;
    const leg = session.legs.get(uuid);
    if (!leg) return;
    if (leg.role === 'caller') void this.callerGone(session);
    else if (leg.role === 'agent') void this.agentGone(session, leg.uuid, leg.agentId);
  }

  private async callerGone(session: CallSession): Promise<void> {
    const state = session.state;
    // a waiting caller: only music plays, so the queue task would not notice (src/acd/queue-task.ts)
    if (state === 'queued' || state === 'offering') {
      await this.opts.acd.engine.abandon(session.uuid).catch((err: unknown) => session.log.error({ err }, 'ACD abandon failed'));
    }
    // the agent's phone must not stay up on a dead call
    for (const leg of session.legsByRole('agent')) {
      if (leg.hungUpAt === undefined) await this.command(session, `uuid_kill ${leg.uuid} NORMAL_CLEARING`);
    }
  }

  private async agentGone(session: CallSession, legUuid: string, legAgentId?: string): Promise<void> {
    const x = this.extraOf(session.uuid);
    const agentId = legAgentId ?? x.agentId ?? session.agentId;
    const leg = session.legs.get(legUuid)!;
    // a leg call control handed on (transfer, consult complete) was already accounted for by call control
    if (leg.released) return;
    // another agent, consultant or three-way party still has the caller: no survey yet
    const othersUp = [...session.legs.values()].some((l) => l.uuid !== legUuid && l.role !== 'caller' && l.hungUpAt === undefined);
    if (agentId && !x.agentCallEnded) {
      x.agentCallEnded = true;
      const talkMs = leg.answeredAt !== undefined ? Math.max(0, (leg.hungUpAt ?? Date.now()) - leg.answeredAt) : 0;
      // the agent's wrap-up (after-call work) starts now
      await this.opts.acd.engine.callEnded(agentId, session.uuid, talkMs).catch((err: unknown) => session.log.error({ err }, 'ACD callEnded failed'));
    }
    const callerUp = session.callerLeg?.hungUpAt === undefined;
    if (callerUp && !othersUp && TALKING_STATES.has(session.state) && !x.surveyStarted) {
      x.surveyStarted = true;
      this.runSurvey(session, agentId);
    }
  }

  /** The agent hung up first: the caller, parked by park_after_bridge, rates the call, then is hung up. */
  private runSurvey(session: CallSession, agentId?: string): void {
    const flow = this.ivr!.registry.postCallSurvey(session.tenantId);
    if (!flow) {
      void session.media.hangup('NORMAL_CLEARING').catch(() => {});
      return;
    }
    session.log.info({ flow: flow.id }, 'agent hung up: post-call survey');
    const task = new IvrFlowTask(this.ivr!.runner(flow), {
      vars: agentId ? { 'agent.id': agentId } : {},
      onResult: async (result, s) => {
        // the survey ends the call even when the flow has no hangup node
        if (result.outcome.kind !== 'caller-gone' && s.callerLeg?.hungUpAt === undefined) await s.media.hangup('NORMAL_CLEARING').catch(() => {});
      },
    });
    session.addTasks(task);
    void session.runTasks();
  }

  private handleEnded(session: CallSession): void {
    this.settleAcd(session);
    this.extra.delete(session.uuid);
    this.recentlyEnded.add(session.uuid);
    if (this.recentlyEnded.size > RECENTLY_ENDED_MAX) this.recentlyEnded.delete(this.recentlyEnded.values().next().value!);
    this.adoptedQueue.delete(session.uuid);
    void this.opts.claims.release(session.uuid).catch(() => {});
  }

  /**
   * A call can end without this node seeing its hang-up events (it vanished while the ESL connection was down, or
   * while its node was dead): the ACD must still learn it. A caller that waited and never reached an agent leaves
   * the queue (a no-op when already gone); an agent whose call end was not accounted for goes to wrap-up.
   */
  private settleAcd(session: CallSession): void {
    const engine = this.opts.acd.engine;
    const x = this.extra.get(session.uuid) ?? {};
    if (session.times.queueEnterAt !== undefined && session.times.agentAnswerAt === undefined) {
      void engine.abandon(session.uuid).catch((err: unknown) => session.log.error({ err }, 'ACD abandon failed'));
    }
    if (x.agentCallEnded) return;
    for (const leg of session.legsByRole('agent')) {
      const agentId = leg.agentId ?? x.agentId ?? session.agentId;
      // only a bridged agent had a call to end (the leg is attached on the bridge, after its own answer event)
      if (!agentId || leg.released || (leg.answeredAt === undefined && session.times.agentAnswerAt === undefined)) continue;
      x.agentCallEnded = true;
      const talkMs = leg.answeredAt !== undefined ? Math.max(0, (leg.hungUpAt ?? Date.now()) - leg.answeredAt) : 0;
      void engine.callEnded(agentId, session.uuid, talkMs).catch((err: unknown) => session.log.error({ err }, 'ACD callEnded failed'));
      return;
    }
  }

  // ------------------------------------------------------------ another node died

  /**
   * Take over the calls of a dead CTI node (NodeLiveness found its key expired and won the claim): its waiting
   * callers keep their queue places (the ACD's adoptNode), its parked calls are adopted by the tracker and resumed
   * like after a restart (queue wait again, IVR from its entry, talking calls left alone), and the call claims name
   * this node. Returns the number of calls taken.
   */
  async adoptNode(deadNodeId: string): Promise<number> {
    const queued = await this.opts.acd.engine.adoptNode(deadNodeId);
    for (const a of queued) this.adoptedQueue.set(a.callUuid, a);
    const sessions = await this.opts.tracker.adoptNode(deadNodeId);
    await this.opts.claims.takeOver(sessions.map((s) => s.uuid));
    return sessions.length;
  }

  // ------------------------------------------------------------ phones

  /** sofia::register / unregister / expire: agents shown ready must be reachable (the ACD does the rest). */
  private handleRegistration(ev: EslEvent): void {
    const sub = ev.subclass ?? ev.headers['Event-Subclass'];
    if (sub !== 'sofia::register' && sub !== 'sofia::unregister' && sub !== 'sofia::expire') return;
    const h = ev.headers;
    const extension = h['username'] ?? h['from-user'] ?? h['user'];
    if (!extension) return;
    const realm = h['realm'] ?? h['to-host'] ?? h['domain_name'] ?? '';
    const tenantId = TENANT_ID.test(realm) ? realm : this.opts.sipDefaultTenant;
    const engine = this.opts.acd.engine;
    const op = sub === 'sofia::register' ? engine.onPhoneRegistered(extension, tenantId) : engine.onPhoneUnregistered(extension, tenantId);
    void op.catch((err: unknown) => this.log.error({ err, extension, sub }, 'phone registration not applied to the ACD'));
  }

  // ------------------------------------------------------------ after a restart

  /**
   * A call this node had before a restart, still up on the switch. Its tasks are gone, so:
   * - ringing: it never got going; it runs from the start like a new call;
   * - queued/offering: re-attached to its queue position (the ACD kept it in Redis) with hold music; when its
   *   queue state is gone too, it restarts the flow at its entry (the caller hears the welcome again);
   * - ivr: the flow restarts at its entry (the step it was in is lost; a welcome again beats a dead line);
   * - talking/held/conferenced: left alone; the agent's hang-up still starts the survey, the caller's the CDR.
   */
  private async onAdoptedCall(session: CallSession): Promise<void> {
    const state = session.state;
    if (state === 'ringing') return this.onNewCall(session);
    if (state === 'queued' || state === 'offering') {
      const adopted = this.adoptedQueue.get(session.uuid);
      // not awaited: the tracker waits for its hooks (whenIdle), and a queued caller may wait for minutes
      if (adopted) {
        void this.resumeQueued(session, adopted).catch((err: unknown) => session.log.error({ err }, 'adopted caller not resumed'));
        return;
      }
    }
    if (state === 'ivr' || state === 'queued' || state === 'offering') {
      session.log.info({ state }, 'adopted call restarts its IVR flow at the entry');
      session.resetTasks();
      // the dead process's last prompt or digit collection still runs on the channel; the switch would queue the
      // flow's first prompt behind it (a menu waits for its whole key timeout: silence for the caller)
      await this.command(session, `uuid_break ${session.uuid} all`);
      const admitted = await this.ivr!.handleNewCall(session);
      if (admitted.kind !== 'run') await session.media.hangup('NORMAL_CLEARING').catch(() => {});
    }
  }

  private async resumeQueued(session: CallSession, adopted: AdoptedCall): Promise<void> {
    const engine = this.opts.acd.engine;
    session.log.info({ group: adopted.groupId }, 'adopted caller re-attached to its queue position');
    session.setSkillGroup(adopted.groupId);
    const cfg = await engine.groupConfig(adopted.groupId).catch(() => null);
    const music = cfg?.musicOnHold ?? this.opts.defaultHoldMusic;
    if (music) await session.media.startMusic(music).catch(() => {});
    const outcome = await engine.outcome(session.uuid);
    if (outcome.outcome !== 'answered' && session.callerLeg?.hungUpAt === undefined) {
      // the flow that queued it is gone: end politely rather than leave the caller in silence
      await session.media.hangup('NORMAL_CLEARING').catch(() => {});
    }
  }
}
