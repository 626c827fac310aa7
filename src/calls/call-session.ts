// One call: its legs, its state machine, its timestamps for the CDR, its task list and its logger.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { canTransition, type CallState } from './call-state.js';
import type { CallTask, TaskOutcome } from './call-task.js';
import { CallGoneError, type CallMedia } from './media.js';

export const LEG_ROLES = ['caller', 'agent', 'consult', 'third-party', 'supervisor'] as const;
export type LegRole = (typeof LEG_ROLES)[number];
export type HangupSide = 'caller' | 'agent' | 'system' | 'unknown';

export interface CallLeg {
  uuid: string;
  role: LegRole;
  /** the FreeSWITCH node (EslNode.name) it lives on */
  node: string;
  createdAt: number;
  answeredAt?: number;
  hungUpAt?: number;
  hangupCause?: string;
  /** variable_sip_hangup_disposition: recv_bye / send_bye / recv_cancel / send_refuse … */
  hangupDisposition?: string;
  /** agent id for agent/consult legs */
  agentId?: string;
  /** the CTI let this leg go on purpose (transfer, leaving a three-way): its hang-up is not the call's hang-up side */
  released?: boolean;
}

export interface LegEventEntry {
  legUuid: string;
  role: LegRole;
  event: string;
  /** epoch ms */
  at: number;
  details?: Record<string, unknown>;
}

export interface CallTimes {
  startAt: number;
  answerAt?: number;
  queueEnterAt?: number;
  queueLeaveAt?: number;
  agentAnswerAt?: number;
  endAt?: number;
}

export interface StateChange {
  from: CallState;
  to: CallState;
  at: number;
  reason?: string;
}

export interface CallSessionEvents {
  state: [StateChange];
  /** something persisted (state, IVR node, agent…) changed */
  changed: [];
  leg: [CallLeg];
  ended: [];
}

export interface CallSessionInit {
  uuid: string;
  tenantId: string;
  node: string;
  log: Logger;
  media: CallMedia;
  callerNumber?: string;
  calleeNumber?: string;
  did?: string;
  direction?: 'inbound' | 'outbound';
  startAt?: number;
  state?: CallState;
}

/** Keep the in-memory leg event log bounded for pathological calls. */
const MAX_LEG_EVENTS = 500;

export class CallSession extends EventEmitter<CallSessionEvents> {
  /** the caller leg's channel UUID; also the call's id */
  readonly uuid: string;
  readonly log: Logger;
  readonly media: CallMedia;
  tenantId: string;
  /** FreeSWITCH node of the caller leg */
  node: string;
  direction: 'inbound' | 'outbound';
  callerNumber?: string;
  calleeNumber?: string;
  did?: string;
  private _state: CallState;
  readonly legs = new Map<string, CallLeg>();
  readonly times: CallTimes;
  agentId?: string;
  skillGroupId?: string;
  recordingId?: string;
  lastIvrNode?: string;
  readonly ivrPath: string[] = [];
  holdMs = 0;
  holdStartedAt?: number;
  hangupCause?: string;
  hangupSide?: HangupSide;
  /** set when the CTI itself hangs up / rejects, so the CDR says "system" */
  hangupRequestedBySystem = false;
  /** call variables kept in the CDR for reports */
  readonly variables: Record<string, string> = {};
  readonly legEvents: LegEventEntry[] = [];
  /** next seq for legEvents (survives truncation and re-adoption) */
  legEventSeq = 0;
  /** true once re-adopted after a CTI restart or ESL reconnect */
  adopted = false;
  private tasks: CallTask[] = [];
  private current: CallTask | null = null;
  private running: Promise<void> | null = null;
  private killedReason: string | null = null;

  constructor(init: CallSessionInit) {
    super();
    this.uuid = init.uuid;
    this.tenantId = init.tenantId;
    this.node = init.node;
    this.log = init.log.child({ call: init.uuid });
    this.media = init.media;
    this.callerNumber = init.callerNumber;
    this.calleeNumber = init.calleeNumber;
    this.did = init.did;
    this.direction = init.direction ?? 'inbound';
    this.times = { startAt: init.startAt ?? Date.now() };
    this._state = init.state ?? 'ringing';
  }

  get state(): CallState {
    return this._state;
  }

  get ended(): boolean {
    return this._state === 'ended';
  }

  /** Move the state machine; an illegal move is refused (false) and logged as an error. */
  transition(to: CallState, reason?: string, at = Date.now()): boolean {
    const from = this._state;
    if (from === to) return true;
    if (!canTransition(from, to)) {
      this.log.error({ from, to, reason }, 'illegal call state transition refused');
      return false;
    }
    this._state = to;
    this.applyTimes(from, to, at);
    this.log.info({ from, to, reason }, 'call state');
    this.emit('state', { from, to, at, reason });
    this.emit('changed');
    if (to === 'ended') this.emit('ended');
    return true;
  }

  /** Restore a state without the transition rules (re-adoption from a persisted record). */
  restoreState(state: CallState): void {
    this._state = state;
  }

  private applyTimes(from: CallState, to: CallState, at: number): void {
    if (to === 'queued') {
      this.times.queueEnterAt ??= at;
      this.times.queueLeaveAt = undefined;
    }
    if (from === 'queued' && to !== 'queued') this.times.queueLeaveAt = at;
    if (to === 'talking' && from !== 'held' && from !== 'conferenced') this.times.agentAnswerAt ??= at;
    if (to === 'held') this.holdStartedAt = at;
    if (from === 'held' && this.holdStartedAt !== undefined) {
      this.holdMs += Math.max(0, at - this.holdStartedAt);
      this.holdStartedAt = undefined;
    }
    if (to === 'ended' || to === 'wrap-up') this.times.endAt ??= at;
  }

  // ------------------------------------------------------------ legs

  addLeg(leg: Omit<CallLeg, 'createdAt'> & { createdAt?: number }): CallLeg {
    const existing = this.legs.get(leg.uuid);
    if (existing) return existing;
    const full: CallLeg = { createdAt: Date.now(), ...leg };
    this.legs.set(full.uuid, full);
    this.emit('leg', full);
    this.emit('changed');
    return full;
  }

  legsByRole(role: LegRole): CallLeg[] {
    return [...this.legs.values()].filter((l) => l.role === role);
  }

  get callerLeg(): CallLeg | undefined {
    return this.legs.get(this.uuid);
  }

  /** Every leg has hung up (or there are none besides a gone caller). */
  get allLegsDown(): boolean {
    for (const leg of this.legs.values()) if (leg.hungUpAt === undefined) return false;
    return true;
  }

  logLegEvent(legUuid: string, event: string, at = Date.now(), details?: Record<string, unknown>): void {
    const role = this.legs.get(legUuid)?.role ?? 'caller';
    if (this.legEvents.length >= MAX_LEG_EVENTS) return;
    this.legEventSeq++;
    this.legEvents.push({ legUuid, role, event, at, ...(details ? { details } : {}) });
  }

  // ------------------------------------------------------------ what IVR/ACD record on the call

  markIvrNode(nodeId: string): void {
    this.lastIvrNode = nodeId;
    this.ivrPath.push(nodeId);
    this.emit('changed');
  }

  setAgent(agentId: string | undefined): void {
    this.agentId = agentId;
    this.emit('changed');
  }

  setSkillGroup(groupId: string | undefined): void {
    this.skillGroupId = groupId;
    this.emit('changed');
  }

  setRecordingId(id: string | undefined): void {
    this.recordingId = id;
    this.emit('changed');
  }

  setVar(name: string, value: string): void {
    this.variables[name] = value;
    this.emit('changed');
  }

  // ------------------------------------------------------------ tasks

  /** Append tasks; they run in order after the ones already queued. */
  addTasks(...tasks: CallTask[]): void {
    this.tasks.push(...tasks);
  }

  get currentTask(): CallTask | null {
    return this.current;
  }

  /** Run queued tasks one after another until the list is empty, a task says stop, or the call is killed. */
  runTasks(): Promise<void> {
    this.running ??= this.loop().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async loop(): Promise<void> {
    while (this.tasks.length > 0 && this.killedReason === null) {
      const task = this.tasks.shift()!;
      this.current = task;
      let outcome: TaskOutcome | void;
      try {
        this.log.debug({ task: task.name }, 'task start');
        outcome = await task.exec(this, this.media);
      } catch (err) {
        if (err instanceof CallGoneError || this.killedReason !== null) {
          this.log.debug({ task: task.name }, 'task ended by hangup');
        } else {
          this.log.error({ err, task: task.name }, 'task failed');
        }
        outcome = { next: 'stop' };
      } finally {
        this.current = null;
      }
      if (outcome?.next === 'stop') this.tasks = [];
    }
  }

  /** Kill the running task and drop the rest (hangup, transfer away, drain). */
  killTasks(reason: string): void {
    this.killedReason = reason;
    this.tasks = [];
    const task = this.current;
    if (task) {
      try {
        task.kill(reason);
      } catch (err) {
        this.log.error({ err, task: task.name }, 'task kill threw');
      }
    }
  }

  /** Allow tasks again after killTasks() (e.g. a transfer that hands the call to a new flow). */
  resetTasks(): void {
    this.killedReason = null;
  }
}
