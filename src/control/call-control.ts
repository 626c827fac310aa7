// What agents and supervisors do to live calls, performed over ESL on the switch that owns the call:
// hold/retrieve, blind and attended transfer, three-way conference, monitor/whisper/barge, pickup, click-to-call,
// malicious-caller flag. The REST routes (routes.ts) and the agent WebSocket call this service.
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { EslCluster } from '../esl/esl-cluster.js';
import type { EslNode } from '../esl/esl-node.js';
import type { EslEvent } from '../esl/event.js';
import type { CallTracker } from '../calls/call-tracker.js';
import type { CallSession, CallLeg } from '../calls/call-session.js';
import type { UserRole } from '../db/schema/core.js';
import type { AgentEndpoint, EnqueueRequest, EnqueueResult, ScreenPop } from '../acd/types.js';
import { CallControlError } from './errors.js';
import { DEFAULT_DIAL_RULES, normaliseNumber, type DialRules } from './dial-rules.js';
import type { AgentLegs } from './agent-legs.js';

/** Who issues a command (from the HTTP session or the agent WebSocket). */
export interface Actor {
  userId: string;
  tenantId: string;
  role: UserRole;
}

/** The parts of AcdEngine call control uses. */
export interface AcdForControl {
  enqueue(req: EnqueueRequest): Promise<EnqueueResult>;
  recordTransfer(e: { tenantId: string; callUuid: string; groupId?: string; agentId?: string; to: string }): void;
  agent(agentId: string): Promise<{ state: string; tenantId: string; endpoint: AgentEndpoint | null; groups: string[] } | null>;
  callEnded(agentId: string, callUuid: string, talkMs: number, wrapUpMs?: number): Promise<void>;
  /** a call handed to an agent: reserve (atomically, 'busy' if not ready) / answered / failed */
  transferAgent?(agentId: string, callUuid: string, op: 'reserve' | 'answered' | 'failed'): Promise<string>;
}

/** The parts of BlacklistService call control uses. */
export interface BlacklistForControl {
  check(tenantId: string, number: string): { id: string; reason: string } | null;
  propose(
    tenantId: string,
    p: { number: string; reason: string; callUuid?: string; expiresInDays?: number; proposedBy: string },
  ): Promise<{ id: string; status: string; number: string }>;
}

/** The recording hook (recordAgentAnswer bound to a RecordingService). */
export type RecordingHook = (session: CallSession, agentLegUuid: string, agentId: string | undefined) => Promise<string | null>;

/** Latency of one ESL command issued by call control (bench and metrics). */
export interface CommandTiming {
  op: string;
  command: string;
  /** ms from the service call to the command being handed to the ESL connection */
  toSendMs: number;
  /** ms from the service call to its reply (bgapi: the BACKGROUND_JOB) */
  toJobMs: number;
  ok: boolean;
}

export interface CallControlOptions {
  esl: EslCluster;
  tracker: CallTracker;
  log: Logger;
  acd?: AcdForControl;
  recording?: RecordingHook;
  blacklist?: BlacklistForControl;
  /** carrier gateway for outside numbers (`sofia/gateway/<gw>/<n>`) */
  gateway: string;
  /** the caller id outside parties see (the center's hotline number) */
  centerCallerId: (tenantId: string) => string;
  dialRules?: DialRules;
  /** a user's phone when the ACD does not know it (supervisors, agents not signed in): SIP extension */
  phoneOf?: (userId: string, tenantId: string) => Promise<string | null | undefined>;
  /** SIP domain of a tenant's phones (`user/1001@<domain>`) */
  sipDomain?: (tenantId: string) => string | undefined;
  /** ring time for agents, consult targets and supervisors (s) */
  ringTimeoutSec?: number;
  /** played to a caller held during a consultation (the switch's hold_music by default) */
  holdMusic?: string;
  /** priority a call re-queued by a transfer gets on top of its original arrival (front of the queue) */
  transferPriority?: number;
  /** mode switch on the supervisor leg: uuid_recv_dtmf queues the key as if pressed on the phone (eavesdrop reads it) */
  monitorDtmfCommand?: 'uuid_recv_dtmf' | 'uuid_send_dtmf';
  /** per command */
  commandTimeoutMs?: number;
  onCommand?: (t: CommandTiming) => void;
  /** the agents' legs from the event stream (soft answer finds the ringing leg here) */
  agentLegs?: AgentLegs;
}

export type TransferTarget =
  | { kind: 'agent'; agentId: string }
  | { kind: 'group'; groupId: string }
  | { kind: 'number'; number: string };

/** Data that follows the call to the next agent's screen pop. */
export interface AttachedData {
  ivrPath?: string[];
  ticketDraft?: Record<string, unknown>;
  note?: string;
  [key: string]: unknown;
}

export type MonitorMode = 'listen' | 'whisper' | 'barge';
/** DTMF on a leg eavesdropping the AGENT's leg (switch_ivr_eavesdrop_session: 2 = into the target's write stream) */
export const MONITOR_DIGITS: Record<MonitorMode, string> = { listen: '0', whisper: '2', barge: '3' };

export interface CallControlEvents {
  /** a transfer hands the call to an agent: the WebSocket layer shows the screen pop */
  screenPop: [{ agentId: string; callUuid: string; tenantId: string; data: ScreenPop }];
  /** an agent picked up a call: the ACD must drop its offer for it (the integration withdraws it) */
  pickedUp: [{ callUuid: string; tenantId: string; agentId: string; legUuid: string }];
  /** the agent's view of their call changed here (hold/retrieve): the WebSocket pushes call.state */
  callState: [{ tenantId: string; agentId: string; callUuid: string; state: 'held' | 'talking' }];
  /** a leg left a three-way call */
  conferenceLeft: [{ callUuid: string; legUuid: string; role: string; at: number }];
}

interface ConsultState {
  legUuid: string;
  target: Exclude<TransferTarget, { kind: 'group' }>;
  agentLeg: string;
}

interface ConferenceState {
  name: string;
  startedAt: number;
}

interface MonitorState {
  legUuid: string;
  callUuid: string;
  tenantId: string;
  supervisorId: string;
  mode: MonitorMode;
}

const ATTACHED_VAR = 'attached_data';

export class CallControl extends EventEmitter<CallControlEvents> {
  private readonly log: Logger;
  private readonly rules: DialRules;
  private readonly consults = new Map<string, ConsultState>();
  private readonly conferences = new Map<string, ConferenceState>();
  private readonly monitors = new Map<string, MonitorState>();
  private readonly onEvent = (ev: EslEvent): void => this.handleEvent(ev);

  constructor(private readonly opts: CallControlOptions) {
    super();
    this.log = opts.log.child({ module: 'control' });
    this.rules = opts.dialRules ?? DEFAULT_DIAL_RULES;
  }

  /** Follow hang-ups (three-way members, monitors, outbound calls). */
  start(): this {
    this.opts.esl.on('event', this.onEvent);
    return this;
  }

  stop(): void {
    this.opts.esl.off('event', this.onEvent);
  }

  // ------------------------------------------------------------ lookups and checks

  /** The agent's own live call (the one whose live agent leg is theirs). */
  currentCallOf(agentId: string): CallSession | undefined {
    for (const s of this.opts.tracker.sessions()) {
      if (s.ended) continue;
      if (s.agentId === agentId && this.liveLeg(s, 'agent', agentId)) return s;
      for (const l of s.legs.values()) if (l.agentId === agentId && l.hungUpAt === undefined && (l.role === 'agent' || l.role === 'consult')) return s;
    }
    return undefined;
  }

  /** A call the actor may act on: an agent their own, a supervisor/admin any of their center. */
  callFor(actor: Actor, callUuid?: string): CallSession {
    if (!callUuid) {
      const own = this.currentCallOf(actor.userId);
      if (!own) throw new CallControlError('call_not_found', '当前没有通话');
      return own;
    }
    const s = this.opts.tracker.get(callUuid);
    if (!s || s.ended || s.tenantId !== actor.tenantId) throw new CallControlError('call_not_found', '通话不存在或已结束');
    if (actor.role === 'agent') {
      const mine = s.agentId === actor.userId || [...s.legs.values()].some((l) => l.agentId === actor.userId && l.hungUpAt === undefined);
      if (!mine) throw new CallControlError('not_your_call', '只能操作自己的通话');
    }
    return s;
  }

  private liveLeg(s: CallSession, role: CallLeg['role'], agentId?: string): CallLeg | undefined {
    const legs = s.legsByRole(role).filter((l) => l.hungUpAt === undefined && !l.released && (agentId === undefined || l.agentId === agentId));
    return legs[legs.length - 1];
  }

  private agentLegOf(s: CallSession): CallLeg {
    const leg = this.liveLeg(s, 'agent', s.agentId) ?? this.liveLeg(s, 'agent');
    if (!leg) throw new CallControlError('no_agent_leg', '通话中没有坐席');
    return leg;
  }

  private nodeOf(s: CallSession): EslNode {
    const { esl } = this.opts;
    const node = esl.nodeFor(s.uuid) ?? esl.byName(s.node);
    if (!node) throw new CallControlError('switch_refused', '交换机连接不可用');
    return node;
  }

  /** One ESL command with its timing; -ERR replies become CallControlError(code). */
  private async cmd(node: EslNode, op: string, command: string, t0: number, code: 'switch_refused' | 'target_failed' = 'switch_refused'): Promise<string> {
    const toSendMs = performance.now() - t0;
    try {
      const body = await node.bgapi(command, { timeoutMs: this.opts.commandTimeoutMs ?? 40_000 });
      this.opts.onCommand?.({ op, command, toSendMs, toJobMs: performance.now() - t0, ok: true });
      return body;
    } catch (err) {
      this.opts.onCommand?.({ op, command, toSendMs, toJobMs: performance.now() - t0, ok: false });
      const reply = (err as { reply?: string }).reply ?? (err as Error).message;
      const cause = /-ERR\s+([A-Z_]+)/.exec(reply ?? '')?.[1];
      this.log.warn({ op, command, reply }, 'call control command refused');
      throw new CallControlError(code, code === 'target_failed' ? `呼叫未接通（${causeText(cause)}）` : '交换机拒绝了该操作', cause ?? reply);
    }
  }

  private async dialStringOfAgent(agentId: string, tenantId: string, ringVars: string[]): Promise<string> {
    // like the ACD's offers: the soft phone (answer/hang-up) finds the agent's legs by this variable on any node
    const vars = [...ringVars, `hotline_agent=${agentId}`];
    const snap = await this.opts.acd?.agent(agentId);
    const ep = snap?.endpoint;
    if (ep?.type === 'mobile') return `{${vars.join(',')}}sofia/gateway/${ep.gateway ?? this.opts.gateway}/${ep.address}`;
    const ext = ep?.address ?? (await this.opts.phoneOf?.(agentId, tenantId));
    if (!ext) throw new CallControlError('no_phone', '未找到该用户的话机');
    const domain = this.opts.sipDomain?.(tenantId);
    return `{${vars.join(',')}}user/${ext}${domain ? `@${domain}` : ''}`;
  }

  private outsideDialString(number: string, tenantId: string, vars: string[]): { dial: string; number: string } {
    const n = normaliseNumber(number, this.rules);
    const cid = this.opts.centerCallerId(tenantId);
    const all = [...vars, `origination_caller_id_number=${cid}`];
    return { dial: `{${all.join(',')}}sofia/gateway/${this.opts.gateway}/${n.dial}`, number: n.number };
  }

  private ringVars(uuid: string, extra: string[] = []): string[] {
    return [`origination_uuid=${uuid}`, `originate_timeout=${this.opts.ringTimeoutSec ?? 30}`, 'ignore_early_media=true', ...extra];
  }

  private release(s: CallSession, legUuid: string): void {
    const leg = s.legs.get(legUuid);
    if (leg) leg.released = true;
  }

  /** The agent who hands the call on goes to wrap-up in the ACD (the call continues without them). */
  private agentLeaves(s: CallSession, agentId: string | undefined): void {
    if (!agentId || !this.opts.acd) return;
    const talkMs = s.times.agentAnswerAt ? Date.now() - s.times.agentAnswerAt : 0;
    this.opts.acd.callEnded(agentId, s.uuid, talkMs).catch((err: unknown) => this.log.warn({ err }, 'acd callEnded failed'));
  }

  // ------------------------------------------------------------ 0. soft phone: answer / hang up

  /**
   * 软接听: the agent's ringing desk phone is told to pick up by a BroadSoft remote-control NOTIFY (Event: talk),
   * `uuid_phone_event <agent leg> talk` on the switch the leg lives on (mod_commands.c; mod_sofia.c sends the
   * NOTIFY on SWITCH_MESSAGE_INDICATE_PHONE_EVENT). Polycom, Yealink and Grandstream phones answer on it.
   */
  async answer(actor: Actor, callUuid?: string): Promise<{ callUuid: string | null; legUuid: string }> {
    const t0 = performance.now();
    const legs = this.opts.agentLegs;
    if (!legs) throw new CallControlError('not_supported', '未启用软接听');
    const leg = legs.ringingLegOf(actor.userId, callUuid);
    if (!leg) throw new CallControlError('nothing_to_answer', '没有振铃中的来电');
    const node = this.opts.esl.byName(leg.node);
    if (!node) throw new CallControlError('switch_refused', '交换机连接不可用');
    await this.cmd(node, 'answer', `uuid_phone_event ${leg.uuid} talk`, t0);
    return { callUuid: leg.queueCall ?? callUuid ?? null, legUuid: leg.uuid };
  }

  /** 软挂机: every leg of the agent (hotline_agent=<id>) on every switch, whichever node owns the call. */
  async hangup(actor: Actor): Promise<{ agentId: string }> {
    const t0 = performance.now();
    const nodes = this.opts.esl.nodes.filter((n) => n.isConnected);
    await Promise.all(nodes.map((n) => this.cmd(n, 'hangup', `hupall NORMAL_CLEARING hotline_agent ${actor.userId}`, t0).catch(() => '')));
    return { agentId: actor.userId };
  }

  // ------------------------------------------------------------ 1. hold / retrieve

  /** 保持: hold the agent's leg, so the switch plays hold music to the caller (trace 08). */
  async hold(actor: Actor, callUuid?: string): Promise<{ callUuid: string; state: string }> {
    const t0 = performance.now();
    const s = this.callFor(actor, callUuid);
    if (s.state !== 'talking') throw new CallControlError('bad_state', s.state === 'held' ? '通话已在保持中' : '当前通话状态不能保持');
    const leg = this.agentLegOf(s);
    await this.cmd(this.nodeOf(s), 'hold', `uuid_hold ${leg.uuid}`, t0);
    s.transition('held', 'hold by agent');
    if (leg.agentId) this.emit('callState', { tenantId: s.tenantId, agentId: leg.agentId, callUuid: s.uuid, state: 'held' });
    return { callUuid: s.uuid, state: s.state };
  }

  /** 拾回 */
  async retrieve(actor: Actor, callUuid?: string): Promise<{ callUuid: string; state: string }> {
    const t0 = performance.now();
    const s = this.callFor(actor, callUuid);
    if (s.state !== 'held') throw new CallControlError('bad_state', '通话不在保持中');
    if (this.consults.has(s.uuid)) throw new CallControlError('consult_active', '咨询中，请先完成或取消咨询');
    const leg = this.agentLegOf(s);
    await this.cmd(this.nodeOf(s), 'retrieve', `uuid_hold off ${leg.uuid}`, t0);
    s.transition('talking', 'retrieved by agent');
    if (leg.agentId) this.emit('callState', { tenantId: s.tenantId, agentId: leg.agentId, callUuid: s.uuid, state: 'talking' });
    return { callUuid: s.uuid, state: s.state };
  }

  // ------------------------------------------------------------ 2. blind transfer

  /** Keep the data for the next agent on the call (Redis call record + CDR variables) and return the screen pop. */
  private attach(s: CallSession, from: string, data: AttachedData | undefined): ScreenPop {
    const prev = s.variables[ATTACHED_VAR] ? (JSON.parse(s.variables[ATTACHED_VAR]) as AttachedData) : {};
    const merged: AttachedData = { ...prev, ...data, ivrPath: data?.ivrPath ?? prev.ivrPath ?? [...s.ivrPath], transferredBy: from };
    s.setVar(ATTACHED_VAR, JSON.stringify(merged));
    return { callerNumber: s.callerNumber ?? '', ...merged, ivrPath: merged.ivrPath };
  }

  /** The data attached to a call (for the screen pop of whoever gets it next). */
  attachedData(callUuid: string): AttachedData | null {
    const s = this.opts.tracker.get(callUuid);
    const raw = s?.variables[ATTACHED_VAR];
    return raw ? (JSON.parse(raw) as AttachedData) : null;
  }

  async blindTransfer(actor: Actor, target: TransferTarget, data?: AttachedData, callUuid?: string): Promise<{ callUuid: string; to: string; legUuid?: string }> {
    const t0 = performance.now();
    const s = this.callFor(actor, callUuid);
    if (!['talking', 'held'].includes(s.state)) throw new CallControlError('bad_state', '当前通话状态不能转接');
    if (this.consults.has(s.uuid)) throw new CallControlError('consult_active', '咨询中，请先完成或取消咨询');
    const node = this.nodeOf(s);
    const oldLeg = this.agentLegOf(s);
    const fromAgent = s.agentId;
    const pop = this.attach(s, actor.userId, data);

    if (target.kind === 'group') {
      if (!this.opts.acd) throw new CallControlError('not_supported', '未启用排队功能');
      // park the caller (its agent leg is hung up by the transfer), then queue it again at the front
      this.release(s, oldLeg.uuid);
      await this.cmd(node, 'transfer.group', `uuid_transfer ${s.uuid} park inline`, t0);
      s.transition('queued', 'transfer to group');
      s.setSkillGroup(target.groupId);
      this.opts.acd.recordTransfer({ tenantId: s.tenantId, callUuid: s.uuid, groupId: s.skillGroupId, agentId: fromAgent, to: `group:${target.groupId}` });
      this.agentLeaves(s, fromAgent);
      s.setAgent(undefined);
      const r = await this.opts.acd.enqueue({
        callUuid: s.uuid,
        tenantId: s.tenantId,
        groupId: target.groupId,
        callerNumber: s.callerNumber ?? '',
        // the original arrival keeps the caller's wait for the KPIs and puts them ahead of later callers
        arrivalMs: s.times.queueEnterAt ?? s.times.startAt,
        priority: this.opts.transferPriority ?? 1000,
        screenPop: pop,
      });
      if (r.status === 'rejected') throw new CallControlError('group_unavailable', '技能组不存在');
      return { callUuid: s.uuid, to: `group:${target.groupId}` };
    }

    const legUuid = randomUUID();
    let to: string;
    let dial: string;
    let role: CallLeg['role'];
    if (target.kind === 'agent') {
      // reserved in the ACD before the phone rings: no queue call can be offered to them at the same moment
      await this.reserveAgent(target.agentId, s.tenantId, s.uuid);
      dial = await this.dialStringOfAgent(target.agentId, s.tenantId, this.ringVars(legUuid, [`origination_caller_id_number=${s.callerNumber ?? ''}`, `hotline_call=${s.uuid}`])).catch(
        async (err: unknown) => {
          await this.releaseAgent(target.agentId, s.uuid);
          throw err;
        },
      );
      to = `agent:${target.agentId}`;
      role = 'agent';
    } else {
      const out = this.outsideDialString(target.number, s.tenantId, this.ringVars(legUuid));
      dial = out.dial;
      to = `number:${out.number}`;
      role = 'third-party';
    }
    this.opts.tracker.attachLeg(s, legUuid, role, { agentId: target.kind === 'agent' ? target.agentId : undefined, node: node.name });
    await this.cmd(node, 'transfer.originate', `originate ${dial} &park()`, t0, 'target_failed').catch(async (err) => {
      s.legs.get(legUuid)!.hungUpAt ??= Date.now();
      if (target.kind === 'agent') await this.releaseAgent(target.agentId, s.uuid);
      throw err;
    });
    // re-bridging the caller hangs up the old agent leg (trace 09a)
    this.release(s, oldLeg.uuid);
    if (s.state === 'held') await this.cmd(node, 'transfer.unhold', `uuid_hold off ${oldLeg.uuid}`, t0);
    await this.cmd(node, 'transfer.bridge', `uuid_bridge ${s.uuid} ${legUuid}`, t0).catch(async (err) => {
      if (target.kind === 'agent') await this.releaseAgent(target.agentId, s.uuid);
      throw err;
    });
    if (target.kind === 'agent') await this.opts.acd?.transferAgent?.(target.agentId, s.uuid, 'answered').catch((err: unknown) => this.log.warn({ err }, 'acd transfer answered failed'));
    if (s.state === 'held') s.transition('talking', 'transferred');
    this.opts.acd?.recordTransfer({ tenantId: s.tenantId, callUuid: s.uuid, groupId: s.skillGroupId, agentId: fromAgent, to });
    this.agentLeaves(s, fromAgent);
    if (target.kind === 'agent') {
      s.setAgent(target.agentId);
      this.emit('screenPop', { agentId: target.agentId, callUuid: s.uuid, tenantId: s.tenantId, data: pop });
      void this.opts.recording?.(s, legUuid, target.agentId);
    } else {
      s.setAgent(undefined);
    }
    return { callUuid: s.uuid, to, legUuid };
  }

  /** Take a ready agent for a call handed to them (ACD reservation); refused when they are not ready. */
  private async reserveAgent(agentId: string, tenantId: string, callUuid: string): Promise<void> {
    await this.requireReadyAgent(agentId, tenantId);
    const acd = this.opts.acd;
    if (!acd?.transferAgent) return;
    const kind = await acd.transferAgent(agentId, callUuid, 'reserve');
    if (kind === 'busy') throw new CallControlError('agent_unavailable', '目标坐席忙或未就绪');
  }

  /**
   * A consult or three-way target agent: reserved in the ACD (refused when not ready), then their dial string; its
   * hotline_call lets the ACD show them ringing. The reservation is undone when the dial string cannot be built.
   */
  private async reservedAgentDial(agentId: string, s: CallSession, legUuid: string): Promise<string> {
    await this.reserveAgent(agentId, s.tenantId, s.uuid);
    return this.dialStringOfAgent(agentId, s.tenantId, this.ringVars(legUuid, [`origination_caller_id_number=${s.callerNumber ?? ''}`, `hotline_call=${s.uuid}`])).catch(
      async (err: unknown) => {
        await this.releaseAgent(agentId, s.uuid);
        throw err;
      },
    );
  }

  /** The reserved target answered: talking in the ACD. */
  private async targetAnswered(agentId: string, callUuid: string): Promise<void> {
    await this.opts.acd?.transferAgent?.(agentId, callUuid, 'answered').catch((err: unknown) => this.log.warn({ err }, 'acd transfer answered failed'));
  }

  private async releaseAgent(agentId: string, callUuid: string): Promise<void> {
    await this.opts.acd?.transferAgent?.(agentId, callUuid, 'failed').catch((err: unknown) => this.log.warn({ err }, 'acd transfer release failed'));
  }

  private async requireReadyAgent(agentId: string, tenantId: string): Promise<void> {
    if (!this.opts.acd) return;
    const snap = await this.opts.acd.agent(agentId);
    if (!snap || snap.tenantId !== tenantId || snap.state === 'logged_out') throw new CallControlError('agent_unavailable', '目标坐席未签入');
    if (snap.state !== 'ready') throw new CallControlError('agent_unavailable', '目标坐席忙或未就绪');
  }

  // ------------------------------------------------------------ 3. attended (consult) transfer

  /**
   * 咨询: caller and agent are both parked (uuid_transfer -both park inline: a one-sided transfer or a re-bridge
   * would hang the partner up, trace 09), the caller gets hold music (uuid_broadcast), the target (agent or outside
   * number) is called and, on answer, bridged to the agent's leg; park_after_bridge keeps the agent up if the
   * target hangs up.
   */
  async consult(actor: Actor, target: Exclude<TransferTarget, { kind: 'group' }>, callUuid?: string): Promise<{ callUuid: string; consultLeg: string }> {
    const t0 = performance.now();
    const s = this.callFor(actor, callUuid);
    if (!['talking', 'held'].includes(s.state)) throw new CallControlError('bad_state', '当前通话状态不能咨询');
    if (this.consults.has(s.uuid)) throw new CallControlError('consult_active', '已有咨询在进行');
    const node = this.nodeOf(s);
    const agentLeg = this.agentLegOf(s);
    const legUuid = randomUUID();
    let dial: string;
    if (target.kind === 'agent') {
      // reserved in the ACD like a blind transfer's target: no queue call is offered to them while consulted
      dial = await this.reservedAgentDial(target.agentId, s, legUuid);
    } else {
      dial = this.outsideDialString(target.number, s.tenantId, this.ringVars(legUuid)).dial;
    }
    if (s.state === 'held') await this.cmd(node, 'consult.unhold', `uuid_hold off ${agentLeg.uuid}`, t0);
    // the agent leg stays up (parked) while its partner changes; the caller is parked with hold music
    await this.cmd(node, 'consult.setvar', `uuid_setvar ${agentLeg.uuid} park_after_bridge true`, t0);
    s.transition('held', 'consultation');
    this.opts.tracker.attachLeg(s, legUuid, 'consult', { agentId: target.kind === 'agent' ? target.agentId : undefined, node: node.name });
    this.consults.set(s.uuid, { legUuid, target, agentLeg: agentLeg.uuid });
    try {
      await this.cmd(node, 'consult.park', `uuid_transfer ${s.uuid} -both park inline`, t0);
      await this.cmd(node, 'consult.moh', `uuid_broadcast ${s.uuid} ${this.opts.holdMusic ?? 'local_stream://moh'} aleg`, t0);
      await this.cmd(node, 'consult.originate', `originate ${dial} &park()`, t0, 'target_failed');
      await this.cmd(node, 'consult.bridge', `uuid_bridge ${agentLeg.uuid} ${legUuid}`, t0);
    } catch (err) {
      this.consults.delete(s.uuid);
      if (target.kind === 'agent') await this.releaseAgent(target.agentId, s.uuid);
      s.legs.get(legUuid)!.hungUpAt ??= Date.now();
      // back to the caller
      await this.cmd(node, 'consult.break', `uuid_break ${s.uuid} all`, t0).catch(() => {});
      await this.cmd(node, 'consult.rebridge', `uuid_bridge ${s.uuid} ${agentLeg.uuid}`, t0).catch(() => {});
      await this.resetParkAfterBridge(node, agentLeg.uuid);
      s.transition('talking', 'consultation failed');
      throw err;
    }
    if (target.kind === 'agent') await this.targetAnswered(target.agentId, s.uuid);
    return { callUuid: s.uuid, consultLeg: legUuid };
  }

  private async resetParkAfterBridge(node: EslNode, ...uuids: string[]): Promise<void> {
    const t0 = performance.now();
    for (const u of uuids) await this.cmd(node, 'reset', `uuid_setvar ${u} park_after_bridge false`, t0).catch(() => {});
  }

  private consultOf(s: CallSession): ConsultState {
    const c = this.consults.get(s.uuid);
    if (!c) throw new CallControlError('no_consult', '没有进行中的咨询');
    return c;
  }

  /** 取消咨询: the consult leg is hung up, the agent is back with the caller. */
  async cancelConsult(actor: Actor, callUuid?: string): Promise<{ callUuid: string; state: string }> {
    const t0 = performance.now();
    const s = this.callFor(actor, callUuid);
    const c = this.consultOf(s);
    const node = this.nodeOf(s);
    this.release(s, c.legUuid);
    await this.cmd(node, 'consult.cancel', `uuid_kill ${c.legUuid} NORMAL_CLEARING`, t0).catch(() => {});
    if (c.target.kind === 'agent') await this.releaseAgent(c.target.agentId, s.uuid);
    await this.cmd(node, 'consult.break', `uuid_break ${s.uuid} all`, t0).catch(() => {});
    await this.cmd(node, 'consult.rebridge', `uuid_bridge ${s.uuid} ${c.agentLeg}`, t0);
    this.consults.delete(s.uuid);
    await this.resetParkAfterBridge(node, c.agentLeg);
    s.transition('talking', 'consultation cancelled');
    return { callUuid: s.uuid, state: s.state };
  }

  /** 完成转接: caller ↔ target; the agent's leg is released. */
  async completeConsult(actor: Actor, data?: AttachedData, callUuid?: string): Promise<{ callUuid: string; to: string }> {
    const t0 = performance.now();
    const s = this.callFor(actor, callUuid);
    const c = this.consultOf(s);
    const node = this.nodeOf(s);
    const fromAgent = s.agentId;
    const pop = this.attach(s, actor.userId, data);
    await this.cmd(node, 'consult.break', `uuid_break ${s.uuid} all`, t0).catch(() => {});
    this.release(s, c.agentLeg);
    // without park_after_bridge the switch hangs the agent leg up when the target is bridged away from it (a kill
    // right after the job would race the bridge: the job answers before the bridge is up, trace 06)
    await this.cmd(node, 'consult.setvar', `uuid_setvar ${c.agentLeg} park_after_bridge false`, t0);
    await this.cmd(node, 'consult.complete', `uuid_bridge ${s.uuid} ${c.legUuid}`, t0);
    this.consults.delete(s.uuid);
    const leg = s.legs.get(c.legUuid)!;
    const to = c.target.kind === 'agent' ? `agent:${c.target.agentId}` : `number:${(c.target as { number: string }).number}`;
    this.opts.acd?.recordTransfer({ tenantId: s.tenantId, callUuid: s.uuid, groupId: s.skillGroupId, agentId: fromAgent, to });
    this.agentLeaves(s, fromAgent);
    if (c.target.kind === 'agent') {
      leg.role = 'agent';
      s.setAgent(c.target.agentId);
      this.emit('screenPop', { agentId: c.target.agentId, callUuid: s.uuid, tenantId: s.tenantId, data: pop });
      void this.opts.recording?.(s, c.legUuid, c.target.agentId);
    } else {
      leg.role = 'third-party';
      s.setAgent(undefined);
    }
    s.transition('talking', 'consultation completed');
    s.emit('changed');
    return { callUuid: s.uuid, to };
  }

  // ------------------------------------------------------------ 4. three-way

  private conferenceName(s: CallSession): string {
    return `tw-${s.uuid.slice(0, 8)}@default`;
  }

  /**
   * 三方通话: caller and agent into a conference (uuid_transfer -both … inline, trace 10), then the expert dialled
   * into it. From a consultation: agent + target move together, the caller joins.
   */
  async threeWay(actor: Actor, target?: Exclude<TransferTarget, { kind: 'group' }>, callUuid?: string): Promise<{ callUuid: string; conference: string; expertLeg?: string }> {
    const t0 = performance.now();
    const s = this.callFor(actor, callUuid);
    if (this.conferences.has(s.uuid)) throw new CallControlError('bad_state', '已在三方通话中');
    const node = this.nodeOf(s);
    const conf = this.conferenceName(s);
    const consult = this.consults.get(s.uuid);
    if (consult) {
      await this.cmd(node, 'threeway.consult', `uuid_transfer ${consult.agentLeg} -both conference:${conf} inline`, t0);
      await this.cmd(node, 'threeway.caller', `uuid_transfer ${s.uuid} conference:${conf} inline`, t0);
      this.consults.delete(s.uuid);
      const leg = s.legs.get(consult.legUuid);
      if (leg) leg.role = 'third-party';
      this.conferences.set(s.uuid, { name: conf, startedAt: Date.now() });
      await this.resetParkAfterBridge(node, consult.agentLeg);
      s.transition('conferenced', 'consultation joined');
      s.logLegEvent(s.uuid, 'CONFERENCE_START', Date.now(), { conference: conf });
      return { callUuid: s.uuid, conference: conf, expertLeg: consult.legUuid };
    }
    if (!target) throw new CallControlError('bad_state', '请指定第三方');
    if (s.state !== 'talking') throw new CallControlError('bad_state', '当前通话状态不能发起三方通话');
    const legUuid = randomUUID();
    const dial =
      target.kind === 'agent'
        ? await this.reservedAgentDial(target.agentId, s, legUuid)
        : this.outsideDialString(target.number, s.tenantId, this.ringVars(legUuid)).dial;
    try {
      await this.cmd(node, 'threeway.transfer', `uuid_transfer ${s.uuid} -both conference:${conf} inline`, t0);
      this.conferences.set(s.uuid, { name: conf, startedAt: Date.now() });
      s.transition('conferenced', 'three-way');
      s.logLegEvent(s.uuid, 'CONFERENCE_START', Date.now(), { conference: conf });
      this.opts.tracker.attachLeg(s, legUuid, 'third-party', { agentId: target.kind === 'agent' ? target.agentId : undefined, node: node.name });
      await this.cmd(node, 'threeway.originate', `originate ${dial} &conference(${conf})`, t0, 'target_failed');
    } catch (err) {
      const leg = s.legs.get(legUuid);
      if (leg) leg.hungUpAt ??= Date.now();
      if (target.kind === 'agent') await this.releaseAgent(target.agentId, s.uuid);
      throw err;
    }
    if (target.kind === 'agent') await this.targetAnswered(target.agentId, s.uuid);
    return { callUuid: s.uuid, conference: conf, expertLeg: legUuid };
  }

  /** The agent leaves the three-way (conference kick); caller and expert stay connected. */
  async leaveThreeWay(actor: Actor, callUuid?: string): Promise<{ callUuid: string; remaining: number }> {
    const t0 = performance.now();
    const s = this.callFor(actor, callUuid);
    const c = this.conferences.get(s.uuid);
    if (!c) throw new CallControlError('no_conference', '当前不是三方通话');
    const node = this.nodeOf(s);
    const agentLeg = this.agentLegOf(s);
    const short = c.name.replace(/@.*$/, '');
    const list = await this.cmd(node, 'threeway.list', `conference ${short} list`, t0);
    const member = list
      .split('\n')
      .map((l) => l.split(';'))
      .find((f) => f[2] === agentLeg.uuid)?.[0];
    this.release(s, agentLeg.uuid);
    // the agent's recording runs on their leg and ends with it: the caller's leg is recorded from here on (it
    // hears the expert through the conference), started before the kick so no moment goes unrecorded
    if (this.opts.recording && s.callerLeg?.hungUpAt === undefined) await this.opts.recording(s, s.uuid, s.agentId);
    if (member) await this.cmd(node, 'threeway.kick', `conference ${short} kick ${member}`, t0);
    else await this.cmd(node, 'threeway.kill', `uuid_kill ${agentLeg.uuid} NORMAL_CLEARING`, t0);
    s.logLegEvent(agentLeg.uuid, 'CONFERENCE_LEAVE', Date.now(), { conference: c.name, by: actor.userId });
    this.agentLeaves(s, s.agentId);
    s.emit('changed');
    const remaining = list.split('\n').filter((l) => l.includes(';')).length - 1;
    return { callUuid: s.uuid, remaining };
  }

  // ------------------------------------------------------------ 5. monitor / whisper / barge

  /** 监听: the supervisor's phone rings and listens to the agent's leg (eavesdrop with DTMF modes, trace 11). */
  async monitor(actor: Actor, callUuid: string, opts: { phone?: string; mode?: MonitorMode } = {}): Promise<{ monitorId: string; callUuid: string; mode: MonitorMode }> {
    const t0 = performance.now();
    if (actor.role !== 'supervisor' && actor.role !== 'admin') throw new CallControlError('not_your_call', '只有班长可以监听');
    const s = this.callFor(actor, callUuid);
    const agentLeg = this.agentLegOf(s);
    const node = this.nodeOf(s);
    const legUuid = randomUUID();
    const vars = this.ringVars(legUuid, ['eavesdrop_enable_dtmf=true', `origination_caller_id_number=${this.opts.centerCallerId(s.tenantId)}`]);
    const dial = opts.phone
      ? `{${vars.join(',')}}user/${opts.phone}${this.opts.sipDomain?.(s.tenantId) ? `@${this.opts.sipDomain(s.tenantId)}` : ''}`
      : await this.dialStringOfAgent(actor.userId, actor.tenantId, vars);
    this.opts.tracker.attachLeg(s, legUuid, 'supervisor', { agentId: actor.userId, node: node.name });
    this.monitors.set(legUuid, { legUuid, callUuid: s.uuid, tenantId: s.tenantId, supervisorId: actor.userId, mode: 'listen' });
    try {
      await this.cmd(node, 'monitor.originate', `originate ${dial} &eavesdrop(${agentLeg.uuid})`, t0, 'target_failed');
    } catch (err) {
      this.monitors.delete(legUuid);
      s.legs.get(legUuid)!.hungUpAt ??= Date.now();
      throw err;
    }
    s.logLegEvent(legUuid, 'MONITOR_START', Date.now(), { supervisor: actor.userId, target: agentLeg.uuid });
    if (opts.mode && opts.mode !== 'listen') await this.setMonitorMode(actor, legUuid, opts.mode);
    return { monitorId: legUuid, callUuid: s.uuid, mode: this.monitors.get(legUuid)?.mode ?? 'listen' };
  }

  /** 插话 (whisper: the agent hears the supervisor, the caller does not) / 强插 (barge) / back to listen. */
  async setMonitorMode(actor: Actor, monitorId: string, mode: MonitorMode): Promise<{ monitorId: string; mode: MonitorMode }> {
    const t0 = performance.now();
    const m = this.monitors.get(monitorId);
    if (!m || m.tenantId !== actor.tenantId || (actor.role !== 'admin' && m.supervisorId !== actor.userId)) {
      throw new CallControlError('monitor_not_found', '监听不存在或已结束');
    }
    const s = this.opts.tracker.get(m.callUuid);
    if (!s) throw new CallControlError('call_not_found', '通话不存在或已结束');
    const command = this.opts.monitorDtmfCommand ?? 'uuid_recv_dtmf';
    await this.cmd(this.nodeOf(s), `monitor.${mode}`, `${command} ${monitorId} ${MONITOR_DIGITS[mode]}`, t0);
    m.mode = mode;
    s.logLegEvent(monitorId, 'MONITOR_MODE', Date.now(), { mode });
    return { monitorId, mode };
  }

  async stopMonitor(actor: Actor, monitorId: string): Promise<void> {
    const t0 = performance.now();
    const m = this.monitors.get(monitorId);
    if (!m || m.tenantId !== actor.tenantId) throw new CallControlError('monitor_not_found', '监听不存在或已结束');
    const s = this.opts.tracker.get(m.callUuid);
    if (s) await this.cmd(this.nodeOf(s), 'monitor.stop', `uuid_kill ${monitorId} NORMAL_CLEARING`, t0).catch(() => {});
    this.monitors.delete(monitorId);
  }

  // ------------------------------------------------------------ 6. pickup

  /**
   * 代答: the agent's phone is rung and intercepts the CALLER's channel; the leg ringing at the colleague is hung up
   * by the switch with PICKED_OFF (trace 17; intercepting the ringing leg itself would drop the caller, 17b).
   */
  async pickup(actor: Actor, callUuid?: string): Promise<{ callUuid: string; legUuid: string }> {
    const t0 = performance.now();
    const s = callUuid ? this.opts.tracker.get(callUuid) : this.ringingCallFor(actor);
    if (!s || s.ended || s.tenantId !== actor.tenantId) throw new CallControlError('nothing_to_pick_up', '没有可代答的来电');
    if (!['offering', 'ringing', 'queued', 'ivr'].includes(s.state)) throw new CallControlError('bad_state', '该来电已被接听');
    if (this.opts.acd && s.skillGroupId && actor.role === 'agent') {
      const me = await this.opts.acd.agent(actor.userId);
      if (!me?.groups.includes(s.skillGroupId)) throw new CallControlError('not_your_call', '只能代答本组的来电');
    }
    const node = this.nodeOf(s);
    const legUuid = randomUUID();
    const dial = await this.dialStringOfAgent(actor.userId, actor.tenantId, this.ringVars(legUuid, [`origination_caller_id_number=${s.callerNumber ?? ''}`]));
    this.opts.tracker.attachLeg(s, legUuid, 'agent', { agentId: actor.userId, node: node.name });
    for (const l of s.legsByRole('agent')) if (l.uuid !== legUuid && l.answeredAt === undefined) this.release(s, l.uuid);
    try {
      // quoted: originate splits on spaces (17e)
      await this.cmd(node, 'pickup', `originate ${dial} '&intercept(${s.uuid})'`, t0, 'target_failed');
    } catch (err) {
      s.legs.get(legUuid)!.hungUpAt ??= Date.now();
      throw err;
    }
    s.setAgent(actor.userId);
    s.transition('talking', 'picked up');
    this.emit('pickedUp', { callUuid: s.uuid, tenantId: s.tenantId, agentId: actor.userId, legUuid });
    void this.opts.recording?.(s, legUuid, actor.userId);
    return { callUuid: s.uuid, legUuid };
  }

  private ringingCallFor(actor: Actor): CallSession | undefined {
    return this.opts.tracker
      .sessions()
      .filter((s) => s.tenantId === actor.tenantId && s.state === 'offering')
      .sort((a, b) => a.times.startAt - b.times.startAt)[0];
  }

  // ------------------------------------------------------------ 7. click-to-call

  /**
   * 点击呼叫: the agent's phone rings first; once it answers the citizen is dialled with the center's caller id
   * (trace 18). The call gets a session (direction outbound, keyed by the citizen's leg), a CDR and a recording.
   */
  async clickToCall(actor: Actor, number: string, opts: { data?: AttachedData } = {}): Promise<{ callUuid: string; agentLeg: string; number: string }> {
    const t0 = performance.now();
    const n = normaliseNumber(number, this.rules);
    const hit = this.opts.blacklist?.check(actor.tenantId, n.number);
    if (hit) throw new CallControlError('number_blacklisted', '该号码在黑名单中，不能外呼');
    if (this.currentCallOf(actor.userId)) throw new CallControlError('bad_state', '当前已有通话');
    const node = this.opts.esl.pickNode();
    const agentLeg = randomUUID();
    const citizenLeg = randomUUID();
    const cid = this.opts.centerCallerId(actor.tenantId);
    const agentDial = await this.dialStringOfAgent(actor.userId, actor.tenantId, this.ringVars(agentLeg, [`origination_caller_id_number=${cid}`]));
    const citizenDial = `{origination_uuid=${citizenLeg},origination_caller_id_number=${cid},originate_timeout=${this.opts.ringTimeoutSec ?? 30}}sofia/gateway/${this.opts.gateway}/${n.dial}`;
    const s = this.opts.tracker.openOutboundCall(citizenLeg, node.name, { tenantId: actor.tenantId, callerNumber: cid, calleeNumber: n.number });
    this.opts.tracker.attachLeg(s, agentLeg, 'agent', { agentId: actor.userId, node: node.name });
    s.setAgent(actor.userId);
    if (opts.data) this.attach(s, actor.userId, opts.data);
    s.once('state', (ch) => {
      if (ch.to === 'talking') void this.opts.recording?.(s, agentLeg, actor.userId);
    });
    try {
      await this.cmd(node, 'clickToCall', `originate ${agentDial} '&bridge(${citizenDial})'`, t0, 'target_failed');
    } catch (err) {
      s.legs.get(agentLeg)!.hungUpAt ??= Date.now();
      s.hangupCause = (err as CallControlError).detail;
      void this.opts.tracker.endCall(s);
      throw err;
    }
    return { callUuid: citizenLeg, agentLeg, number: n.number };
  }

  // ------------------------------------------------------------ 8. malicious-call flag

  /** 恶意来电标记: a blacklist proposal for the current caller, for a supervisor to approve. */
  async flagMalicious(actor: Actor, reason: string, callUuid?: string, expiresInDays?: number): Promise<{ proposalId: string; number: string }> {
    if (!this.opts.blacklist) throw new CallControlError('not_supported', '未启用黑名单');
    const s = this.callFor(actor, callUuid);
    const number = s.direction === 'outbound' ? s.calleeNumber : s.callerNumber;
    if (!number) throw new CallControlError('number_invalid', '来电号码未知');
    try {
      const p = await this.opts.blacklist.propose(s.tenantId, { number, reason, callUuid: s.uuid, expiresInDays, proposedBy: actor.userId });
      s.setVar('malicious_flag', p.id);
      return { proposalId: p.id, number: p.number };
    } catch (err) {
      if ((err as { code?: string }).code === 'bad_number') throw new CallControlError('number_invalid', '来电号码无效，不能标记');
      throw err;
    }
  }

  // ------------------------------------------------------------ events

  /** Who left a three-way and when; a call left alone in its conference is ended. */
  private handleEvent(ev: EslEvent): void {
    if (ev.name !== 'CHANNEL_HANGUP' || !ev.uuid) return;
    const uuid = ev.uuid;
    this.monitors.delete(uuid);
    const s = this.opts.tracker.get(uuid);
    if (!s) return;
    this.targetLegGone(s, uuid);
    const c = this.conferences.get(s.uuid);
    if (c) {
      const leg = s.legs.get(uuid);
      this.emit('conferenceLeft', { callUuid: s.uuid, legUuid: uuid, role: leg?.role ?? 'unknown', at: Date.now() });
      const live = [...s.legs.values()].filter((l) => l.uuid !== uuid && l.hungUpAt === undefined && l.role !== 'supervisor');
      if (uuid === s.uuid) this.conferences.delete(s.uuid);
      // nobody left to talk to: end the rest (the conference app would keep them in silence)
      const node = this.opts.esl.nodeFor(s.uuid) ?? this.opts.esl.byName(s.node);
      const lonelyCaller = live.length === 1 && live[0]!.uuid === s.uuid;
      if (uuid === s.uuid || lonelyCaller) {
        this.conferences.delete(s.uuid);
        for (const l of live) void node?.bgapi(`uuid_kill ${l.uuid} NORMAL_CLEARING`).catch(() => {});
      }
    }
    if (uuid === s.uuid) this.consults.delete(s.uuid);
  }

  /**
   * An agent's consult or three-way leg hung up by itself (the inbound pipeline only follows 'agent' legs): the ACD
   * frees the consulted agent (back to ready: the call was never theirs) or ends the three-way member's call
   * (wrap-up, as after any call they talked on).
   */
  private targetLegGone(s: CallSession, uuid: string): void {
    const leg = s.legs.get(uuid);
    if (!leg?.agentId || leg.released || !this.opts.acd) return;
    const agentId = leg.agentId;
    if (leg.role === 'consult') {
      const c = this.consults.get(s.uuid);
      if (c?.legUuid === uuid) void this.releaseAgent(agentId, s.uuid);
    } else if (leg.role === 'third-party') {
      const talkMs = leg.answeredAt !== undefined ? Math.max(0, Date.now() - leg.answeredAt) : 0;
      this.opts.acd.callEnded(agentId, s.uuid, talkMs).catch((err: unknown) => this.log.warn({ err }, 'acd callEnded failed'));
    }
  }

  /** Live three-way calls (bench, metrics). */
  get conferenceCount(): number {
    return this.conferences.size;
  }
}

function causeText(cause: string | undefined): string {
  switch (cause) {
    case 'NO_ANSWER':
      return '无人接听';
    case 'USER_BUSY':
      return '对方忙';
    case 'CALL_REJECTED':
      return '对方拒接';
    case 'USER_NOT_REGISTERED':
    case 'SUBSCRIBER_ABSENT':
      return '话机未注册';
    case 'INVALID_GATEWAY':
    case 'GATEWAY_DOWN':
      return '中继不可用';
    default:
      return cause ?? '未知原因';
  }
}
