// Every live call, keyed by channel UUID (each leg UUID maps to its call's session), driven by ESL events:
// - a CHANNEL_PARK on an unknown inbound leg is a new hotline call: a CallSession is created and onNewCall runs;
// - leg events update the session (answer, bridge → talking, hold, hangup) and go to the per-leg event log;
// - every change is saved to Redis (CallStore) so a restarted CTI re-adopts calls on the next `resync`;
// - when the caller's leg hangs up, the running task is killed and the CDR is written exactly once (CdrWriter).
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { EslCluster } from '../esl/esl-cluster.js';
import type { EslNode, ResyncInfo } from '../esl/esl-node.js';
import type { ChannelRow, EslEvent } from '../esl/event.js';
import { CallSession, type CallLeg, type LegRole, type HangupSide } from './call-session.js';
import type { CallState } from './call-state.js';
import { CallStore } from './call-store.js';
import { toRecord, recordJson, restoreInto, type CallRecord } from './call-record.js';
import type { CdrWriter } from './cdr-writer.js';
import { EslCallMedia } from './esl-call-media.js';

export interface CallTrackerOptions {
  esl: EslCluster;
  redis: Redis;
  redisPrefix: string;
  cdr: CdrWriter;
  log: Logger;
  /** this CTI node's id, stored in CDRs */
  ctiNode?: string;
  /** tenant for calls whose channel does not say (variable_hotline_tenant) */
  defaultTenant: string;
  resolveTenant?: (ev: EslEvent) => string | undefined;
  /** is this parked inbound leg a hotline call we should take? default: every inbound CHANNEL_PARK */
  isHotlineCall?: (ev: EslEvent) => boolean;
  /** after the caller hangs up, wait at most this long for the other legs before writing the CDR (ms) */
  legSettleMs?: number;
  /**
   * Several CTI nodes on one switch: only the node this resolves true on takes a newly parked call (e.g. a Redis
   * SET NX). The call's events that arrive meanwhile are held and replayed to the winner; a loser ignores the call.
   */
  claimNewCall?: (ev: EslEvent) => Promise<boolean>;
  /** re-adopt only calls whose record names this ctiNode (several CTI nodes on one switch); default: every call */
  adoptOnlyOwnCalls?: boolean;
  /**
   * Changed call records are written to Redis together, this often (ms; default 100). A call changes several times
   * within a few ms (an event, the IVR's reaction, the switch's reply): one write instead of one per change. A
   * kill -9 loses at most this much of a call's history; the resync against `show channels` repairs its legs.
   */
  persistIntervalMs?: number;
}

export interface CallTrackerEvents {
  session: [CallSession];
  adopted: [CallSession];
  ended: [CallSession];
  /** a leg of a live call was found gone on a resync (it hung up while the ESL connection was down): leg uuid */
  legGone: [CallSession, string];
}

/** Leg events kept in call_leg_events (the rest are too chatty to be useful in reports). */
const LOGGED_EVENTS = new Set([
  'CHANNEL_CREATE', 'CHANNEL_ANSWER', 'CHANNEL_PARK', 'CHANNEL_BRIDGE', 'CHANNEL_UNBRIDGE', 'CHANNEL_HOLD',
  'CHANNEL_UNHOLD', 'CHANNEL_HANGUP', 'DTMF', 'RECORD_START', 'RECORD_STOP',
]);

const RECENTLY_ENDED_MAX = 5000;
/** how long call finalization waits for Redis before going ahead without it (ms) */
const REDIS_WAIT_MS = 1000;

/** Resolves with the promise's value, or 'timeout' after ms (the promise keeps running). */
function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
    timer.unref();
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

interface SessionMeta {
  media: EslCallMedia;
  /** the last batch write that carried this call's record */
  persistChain: Promise<void>;
  /** the record's uuid is in the node's index set already */
  indexed: boolean;
  finalizing?: Promise<void>;
  settleTimer?: NodeJS.Timeout;
  stateAtHangup?: CallState;
  /** performance.now() of the last event seen on any of the call's legs (or of its adoption) */
  lastEventAt: number;
}

export class CallTracker extends EventEmitter<CallTrackerEvents> {
  /** set by the IVR/ACD integration: runs for every new call (the session is in state ringing, unanswered) */
  onNewCall: (session: CallSession) => void | Promise<void> = () => {};
  /** runs for every call re-adopted after a restart/reconnect (its tasks are gone; state is restored) */
  onAdoptedCall: (session: CallSession) => void | Promise<void> = () => {};
  /**
   * Awaited (bounded by the hook itself) before a call's CDR is built: what the call's other modules still have in
   * flight for it (an ACD offer answered in the instant the caller hung up) gets into the CDR, and so into a CDR
   * buffered in Redis during a PostgreSQL outage as well.
   */
  beforeCdr: (session: CallSession) => Promise<unknown> = async () => {};
  /**
   * false while draining: newly parked calls are left alone (the dialplan's fallback or another CTI node takes
   * them); live calls carry on. Wire it to Lifecycle.onDrainStart.
   */
  acceptNewCalls = true;
  readonly store: CallStore;
  private readonly byLeg = new Map<string, CallSession>();
  private readonly calls = new Map<string, CallSession>();
  private readonly meta = new WeakMap<CallSession, SessionMeta>();
  private readonly recentlyEnded = new Set<string>();
  /** calls whose claim is in flight → their events meanwhile */
  private readonly claiming = new Map<string, { ev: EslEvent; node: EslNode }[]>();
  private readonly inflight = new Set<Promise<unknown>>();
  /** calls whose record changed since the last batch write */
  private readonly dirty = new Set<CallSession>();
  private persistTimer: NodeJS.Timeout | undefined;
  /** the last batch write; each batch starts after the previous one, so records never go back in time */
  private persisting: Promise<void> = Promise.resolve();
  private readonly log: Logger;
  private readonly onEvent = (ev: EslEvent, node: EslNode): void => this.handleEvent(ev, node);
  private readonly onResync = (rows: ChannelRow[], node: EslNode, info: ResyncInfo): void => {
    this.track(this.resync(rows, node, info));
  };
  private started = false;

  constructor(private readonly opts: CallTrackerOptions) {
    super();
    this.log = opts.log.child({ module: 'calls' });
    this.store = new CallStore(opts.redis, opts.redisPrefix);
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.opts.esl.on('event', this.onEvent);
    this.opts.esl.on('resync', this.onResync);
  }

  /** Stop listening; calls stay up on the switch and are re-adopted by the next tracker. */
  async stop(): Promise<void> {
    this.opts.esl.off('event', this.onEvent);
    this.opts.esl.off('resync', this.onResync);
    this.started = false;
    await this.whenIdle();
    if (this.persistTimer) clearTimeout(this.persistTimer);
    this.persistTimer = undefined;
    for (const s of this.calls.values()) {
      const m = this.meta.get(s);
      if (m?.settleTimer) clearTimeout(m.settleTimer);
    }
  }

  /** Resolves when every pending save, resync, hook and CDR write has settled (so never await it inside a hook). */
  async whenIdle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
    this.flushDirty();
    await this.persisting;
  }

  /** Resolves when no call is live on this tracker (drain), or when `signal` aborts. */
  async whenEmpty(signal?: AbortSignal): Promise<void> {
    while (this.calls.size > 0 && !signal?.aborted) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.off('ended', done);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        this.once('ended', done);
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  }

  /** The session a leg belongs to. */
  get(uuid: string): CallSession | undefined {
    return this.byLeg.get(uuid);
  }

  sessions(): CallSession[] {
    return [...this.calls.values()];
  }

  get size(): number {
    return this.calls.size;
  }

  mediaOf(session: CallSession): EslCallMedia | undefined {
    return this.meta.get(session)?.media;
  }

  /** Register a leg that belongs to a call (an agent originate with origination_uuid, a consult, a supervisor). */
  attachLeg(session: CallSession, legUuid: string, role: LegRole, extra: { agentId?: string; node?: string } = {}): CallLeg {
    const node = extra.node ?? this.opts.esl.nodeFor(legUuid)?.name ?? session.node;
    const leg = session.addLeg({ uuid: legUuid, role, node, agentId: extra.agentId });
    this.byLeg.set(legUuid, session);
    const owner = this.opts.esl.byName(node);
    if (owner && !this.opts.esl.nodeFor(legUuid)) this.opts.esl.claim(legUuid, owner);
    return leg;
  }

  /**
   * A call the CTI places itself (click-to-call): the session exists before any event, keyed by the citizen's leg
   * (origination_uuid chosen by the caller of this method), direction outbound.
   */
  openOutboundCall(uuid: string, nodeName: string, init: { tenantId: string; callerNumber?: string; calleeNumber?: string }): CallSession {
    const node = this.opts.esl.byName(nodeName) ?? this.opts.esl.pickNode();
    const session = this.createSession(uuid, node, { tenantId: init.tenantId, callerNumber: init.callerNumber });
    session.direction = 'outbound';
    session.calleeNumber = init.calleeNumber;
    session.did = undefined;
    session.addLeg({ uuid, role: 'caller', node: node.name });
    if (!this.opts.esl.nodeFor(uuid)) this.opts.esl.claim(uuid, node);
    this.persist(session);
    this.emit('session', session);
    return session;
  }

  /** Close a call whose caller leg never came up (an outbound call that failed before the citizen was dialled). */
  endCall(session: CallSession): Promise<void> {
    const caller = session.callerLeg;
    if (caller && caller.hungUpAt === undefined) caller.hungUpAt = Date.now();
    return this.finalize(session);
  }

  // ------------------------------------------------------------ events

  private handleEvent(ev: EslEvent, node: EslNode): void {
    const uuid = ev.uuid;
    if (!uuid) return;
    const session = this.byLeg.get(uuid);
    if (!session) {
      const held = this.claiming.get(uuid);
      if (held) held.push({ ev, node });
      else if (ev.name === 'CHANNEL_PARK' && this.isNewHotlineCall(ev)) this.claimThenTake(ev, node);
      return;
    }
    const meta = this.meta.get(session);
    if (meta) meta.lastEventAt = ev.receivedAt;
    if (LOGGED_EVENTS.has(ev.name)) session.logLegEvent(uuid, ev.name, eventTime(ev), legEventDetails(ev));
    const leg = session.legs.get(uuid);
    switch (ev.name) {
      case 'CHANNEL_ANSWER':
        if (leg) leg.answeredAt ??= eventTime(ev);
        if (uuid === session.uuid) {
          session.times.answerAt ??= eventTime(ev);
          this.meta.get(session)?.media.noteAnswered();
        }
        this.persist(session);
        break;
      case 'DTMF':
        if (uuid === session.uuid && ev.headers['DTMF-Digit']) this.meta.get(session)?.media.noteDtmf(ev.headers['DTMF-Digit']);
        break;
      case 'CHANNEL_BRIDGE':
        this.onBridge(session, ev);
        break;
      case 'CHANNEL_HOLD':
        if (session.state === 'talking') session.transition('held', `hold on ${leg?.role ?? 'leg'}`, eventTime(ev));
        break;
      case 'CHANNEL_UNHOLD':
        if (session.state === 'held') session.transition('talking', `unhold on ${leg?.role ?? 'leg'}`, eventTime(ev));
        break;
      case 'CHANNEL_HANGUP':
        this.onLegHangup(session, uuid, ev);
        break;
      case 'CHANNEL_HANGUP_COMPLETE':
        if (leg && leg.hungUpAt === undefined) this.onLegHangup(session, uuid, ev);
        this.maybeFinalize(session);
        break;
      case 'CHANNEL_DESTROY':
        if (leg && leg.hungUpAt === undefined) this.onLegHangup(session, uuid, ev);
        this.maybeFinalize(session);
        break;
      default:
        break;
    }
  }

  /** newCall, after this node won the call (claimNewCall); events meanwhile are replayed in order */
  private claimThenTake(ev: EslEvent, node: EslNode): void {
    const claim = this.opts.claimNewCall;
    if (!claim) return this.newCall(ev, node);
    const uuid = ev.uuid!;
    this.claiming.set(uuid, []);
    const decide = async (): Promise<void> => {
      let won = false;
      try {
        won = await claim(ev);
      } catch (err) {
        this.log.error({ err, call: uuid }, 'call claim failed; left to the other nodes and the dialplan fallback');
      }
      const held = this.claiming.get(uuid) ?? [];
      this.claiming.delete(uuid);
      if (!won) {
        // another node has it: ignore its later events (a re-park after a bridge would look new otherwise)
        this.recentlyEnded.add(uuid);
        return;
      }
      const gone = held.some((h) => h.ev.name === 'CHANNEL_HANGUP' || h.ev.name === 'CHANNEL_DESTROY' || h.ev.name === 'CHANNEL_HANGUP_COMPLETE');
      this.newCall(ev, node);
      for (const h of held) this.handleEvent(h.ev, h.node);
      if (gone) this.log.info({ call: uuid }, 'caller hung up while the call was being claimed');
    };
    this.track(decide());
  }

  private isNewHotlineCall(ev: EslEvent): boolean {
    if (this.recentlyEnded.has(ev.uuid!)) return false;
    if (ev.headers['Call-Direction'] !== 'inbound') return false;
    if (!this.acceptNewCalls) {
      this.log.warn({ call: ev.uuid }, 'draining: new call left to the dialplan fallback');
      return false;
    }
    return this.opts.isHotlineCall ? this.opts.isHotlineCall(ev) : true;
  }

  private createSession(
    uuid: string,
    node: EslNode,
    init: { tenantId: string; callerNumber?: string; did?: string; startAt?: number },
  ): CallSession {
    const media = new EslCallMedia(uuid, {
      node: () => this.opts.esl.nodeFor(uuid) ?? this.opts.esl.byName(session.node),
      log: this.log,
      onHangupRequested: () => {
        session.hangupRequestedBySystem = true;
      },
    });
    const session: CallSession = new CallSession({
      uuid,
      tenantId: init.tenantId,
      node: node.name,
      log: this.log,
      media,
      callerNumber: init.callerNumber,
      calleeNumber: init.did,
      did: init.did,
      startAt: init.startAt,
    });
    this.meta.set(session, { media, persistChain: Promise.resolve(), indexed: false, lastEventAt: performance.now() });
    this.calls.set(uuid, session);
    this.byLeg.set(uuid, session);
    session.on('changed', () => this.persist(session));
    return session;
  }

  private newCall(ev: EslEvent, node: EslNode): void {
    const h = ev.headers;
    const uuid = ev.uuid!;
    const tenantId = this.opts.resolveTenant?.(ev) ?? h['variable_hotline_tenant'] ?? this.opts.defaultTenant;
    const startAt = microsToMs(h['Caller-Channel-Created-Time']) ?? eventTime(ev);
    const session = this.createSession(uuid, node, {
      tenantId,
      callerNumber: h['Caller-Caller-ID-Number'],
      did: h['Caller-Destination-Number'],
      startAt,
    });
    session.addLeg({ uuid, role: 'caller', node: node.name, createdAt: startAt });
    session.logLegEvent(uuid, 'CHANNEL_PARK', eventTime(ev), legEventDetails(ev));
    if (h['Answer-State'] === 'answered') {
      session.times.answerAt = microsToMs(h['Caller-Channel-Answered-Time']) ?? eventTime(ev);
      this.meta.get(session)!.media.noteAnswered();
    }
    session.log.info({ caller: session.callerNumber, did: session.did, node: node.name }, 'new call');
    this.persist(session);
    this.emit('session', session);
    this.runHook(session, this.onNewCall, 'onNewCall');
  }

  private runHook(session: CallSession, hook: (s: CallSession) => void | Promise<void>, name: string): void {
    try {
      const r = hook(session);
      if (r && typeof (r as Promise<void>).then === 'function') {
        this.track((r as Promise<void>).catch((err: unknown) => session.log.error({ err }, `${name} failed`)));
      }
    } catch (err) {
      session.log.error({ err }, `${name} failed`);
    }
  }

  private onBridge(session: CallSession, ev: EslEvent): void {
    const a = ev.uuid!;
    const b = ev.headers['Other-Leg-Unique-ID'];
    if (!b) return;
    const other = a === session.uuid ? b : b === session.uuid ? a : undefined;
    if (!other) return;
    if (!session.legs.has(other)) this.attachLeg(session, other, 'agent', { node: ev.node });
    const role = session.legs.get(other)!.role;
    if ((role === 'agent' || role === 'consult') && ['ringing', 'ivr', 'queued', 'offering'].includes(session.state)) {
      session.transition('talking', 'bridged to agent', eventTime(ev));
    }
  }

  private onLegHangup(session: CallSession, uuid: string, ev: EslEvent): void {
    const leg = session.legs.get(uuid);
    if (!leg || leg.hungUpAt !== undefined) return;
    const at = eventTime(ev);
    leg.hungUpAt = at;
    leg.hangupCause = ev.headers['Hangup-Cause'] ?? ev.headers['variable_hangup_cause'];
    leg.hangupDisposition = ev.headers['variable_sip_hangup_disposition'];
    if (session.hangupSide === undefined && !leg.released && (leg.role === 'caller' || leg.role === 'agent')) {
      session.hangupSide = hangupSideOf(session, leg);
    }
    if (uuid === session.uuid) {
      const meta = this.meta.get(session)!;
      meta.stateAtHangup ??= session.state;
      session.hangupCause = leg.hangupCause;
      session.times.endAt ??= at;
      meta.media.markGone();
      session.killTasks('hangup');
      meta.settleTimer ??= setTimeout(() => this.finalize(session), this.opts.legSettleMs ?? 1000);
    }
    this.persist(session);
    this.maybeFinalize(session);
  }

  private maybeFinalize(session: CallSession): void {
    const caller = session.callerLeg;
    if (caller?.hungUpAt !== undefined && session.allLegsDown) this.finalize(session);
  }

  /** Close the call: state ended, CDR written (or buffered) exactly once, Redis record removed. */
  private finalize(session: CallSession, opts: { recovered?: boolean } = {}): Promise<void> {
    const meta = this.meta.get(session)!;
    if (meta.finalizing) return meta.finalizing;
    if (meta.settleTimer) clearTimeout(meta.settleTimer);
    meta.stateAtHangup ??= session.state;
    session.times.endAt ??= Date.now();
    session.hangupSide ??= session.hangupRequestedBySystem ? 'system' : 'unknown';
    if (['talking', 'held', 'conferenced'].includes(session.state)) session.transition('wrap-up', 'caller gone');
    session.transition('ended', 'hangup');
    meta.finalizing = this.track(this.writeCdr(session, meta, opts));
    return meta.finalizing;
  }

  private async writeCdr(session: CallSession, meta: SessionMeta, opts: { recovered?: boolean }): Promise<void> {
    await this.beforeCdr(session).catch((err: unknown) => session.log.warn({ err }, 'beforeCdr failed'));
    const record = this.recordOf(session, meta);
    this.dirty.delete(session);
    // the final record in Redis covers a crash between here and the CDR insert; bounded, so that a Redis outage
    // delays no CDR (PostgreSQL may well be up)
    await withTimeout(meta.persistChain, REDIS_WAIT_MS);
    const saved = await withTimeout(this.store.save(record), REDIS_WAIT_MS).catch((err: unknown) => {
      session.log.warn({ err: (err as Error).message }, 'could not save the final call record');
    });
    try {
      const result = await this.opts.cdr.write({ record, recovered: opts.recovered });
      session.log.info({ result, cause: session.hangupCause, side: session.hangupSide }, 'CDR');
    } catch (err) {
      // neither PostgreSQL nor the Redis buffer took it; the Redis record (if saved) lets the next resync retry
      session.log.error({ err, recordSaved: saved !== 'timeout' }, 'CDR could not be written nor buffered');
      this.forget(session);
      this.emit('ended', session);
      return;
    }
    this.forget(session);
    this.emit('ended', session);
    try {
      await this.store.remove(session.uuid, session.node);
    } catch (err) {
      // harmless: a later resync finds the record, re-finalizes, and the insert is a no-op
      session.log.warn({ err: (err as Error).message }, 'call record not removed from Redis');
    }
  }

  private forget(session: CallSession): void {
    this.calls.delete(session.uuid);
    for (const uuid of session.legs.keys()) {
      if (this.byLeg.get(uuid) === session) this.byLeg.delete(uuid);
      this.recentlyEnded.add(uuid);
    }
    this.byLeg.delete(session.uuid);
    this.recentlyEnded.add(session.uuid);
    while (this.recentlyEnded.size > RECENTLY_ENDED_MAX) {
      this.recentlyEnded.delete(this.recentlyEnded.values().next().value!);
    }
  }

  private recordOf(session: CallSession, meta: SessionMeta): CallRecord {
    const r = toRecord(session, this.opts.ctiNode);
    // the CDR's final state is where the caller was when they hung up (queued = abandoned in queue)
    if (meta.stateAtHangup && r.state === 'ended') r.variables = { ...r.variables, final_state: meta.stateAtHangup };
    return r;
  }

  /** Mark the session's record for the next batch write to Redis. */
  private persist(session: CallSession): void {
    const meta = this.meta.get(session);
    if (!meta || meta.finalizing) return;
    this.dirty.add(session);
    this.persistTimer ??= setTimeout(() => this.flushDirty(), this.opts.persistIntervalMs ?? 100);
  }

  /** Write every changed record in one pipeline (finalizing calls write their own final record). */
  private flushDirty(): void {
    if (this.persistTimer) clearTimeout(this.persistTimer);
    this.persistTimer = undefined;
    if (this.dirty.size === 0) return;
    const entries: { uuid: string; node: string; json: string; index: boolean }[] = [];
    const metas: SessionMeta[] = [];
    for (const session of this.dirty) {
      const meta = this.meta.get(session);
      if (!meta || meta.finalizing) continue;
      entries.push({ uuid: session.uuid, node: session.node, json: recordJson(session, this.opts.ctiNode), index: !meta.indexed });
      meta.indexed = true;
      metas.push(meta);
    }
    this.dirty.clear();
    if (entries.length === 0) return;
    const write = this.persisting.then(() =>
      this.store.saveMany(entries).catch((err: unknown) => {
        this.log.warn({ err: (err as Error).message, calls: entries.length }, 'call records not saved to Redis');
      }),
    );
    this.persisting = write;
    for (const meta of metas) meta.persistChain = write;
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p)).catch(() => {});
    return p;
  }

  // ------------------------------------------------------------ re-adoption

  /** Those of `uuids` the switch says exist (uuid_exists); an unanswered question counts as gone. */
  private async stillExisting(node: EslNode, uuids: Set<string>): Promise<Set<string>> {
    const found = new Set<string>();
    await Promise.all(
      [...uuids].map(async (uuid) => {
        const reply = await node.bgapi(`uuid_exists ${uuid}`, { timeoutMs: 3000 }).catch(() => '');
        if (reply.trim() === 'true') found.add(uuid);
      }),
    );
    return found;
  }

  /** After a (re)connect: adopt live calls we do not hold, finalize those that vanished. */
  private async resync(rows: ChannelRow[], node: EslNode, info: ResyncInfo): Promise<void> {
    const live = new Map(rows.map((r) => [r.uuid, r]));
    let records: CallRecord[] = [];
    try {
      records = await this.store.listByNode(node.name);
    } catch (err) {
      this.log.error({ err, node: node.name }, 'resync: call records unavailable in Redis');
    }
    const legsOfRecords = new Set<string>();
    for (const r of records) for (const l of r.legs) legsOfRecords.add(l.uuid);

    // calls held in memory whose caller vanished while the connection was down (not those newer than the rows)
    const held = [...this.calls.values()].filter((s) => {
      const m = this.meta.get(s);
      return s.node === node.name && m && !m.finalizing && m.lastEventAt < info.requestedAt;
    });
    // a real switch lists a new channel in `show channels` only once its core database caught up (~100 ms after
    // the channel exists): a channel missing from the rows is asked about before it is taken for gone
    const missing = new Set<string>();
    for (const s of held) for (const leg of s.legs.values()) if (leg.hungUpAt === undefined && !live.has(leg.uuid)) missing.add(leg.uuid);
    const stillThere = await this.stillExisting(node, missing);
    const up = (uuid: string): boolean => live.has(uuid) || stillThere.has(uuid);
    for (const s of held) {
      const m = this.meta.get(s);
      if (!m || m.finalizing || m.lastEventAt >= info.requestedAt) continue;
      if (up(s.uuid)) {
        // the caller is still up, but an agent (or other party) left unseen: the call layer must hear of it
        for (const leg of s.legs.values()) {
          if (leg.uuid === s.uuid || leg.hungUpAt !== undefined || up(leg.uuid)) continue;
          leg.hungUpAt = Date.now();
          s.log.warn({ leg: leg.uuid, role: leg.role }, 'leg vanished while the ESL connection was down');
          this.persist(s);
          this.emit('legGone', s, leg.uuid);
        }
        continue;
      }
      s.log.warn('call vanished while the ESL connection was down');
      for (const leg of s.legs.values()) if (!up(leg.uuid)) leg.hungUpAt ??= Date.now();
      this.meta.get(s)?.media.markGone();
      s.killTasks('vanished');
      this.finalize(s, { recovered: true });
    }

    // another CTI node's call on the same switch is that node's to re-adopt (or a survivor's: adoptNode)
    const mine = this.opts.adoptOnlyOwnCalls ? records.filter((r) => !r.ctiNode || r.ctiNode === this.opts.ctiNode) : records;
    const { adopted, finalized } = await this.adoptRecords(mine, live, node);

    // parked hotline calls nobody has a record of (they arrived while no CTI was listening)
    let fresh = 0;
    for (const row of rows) {
      if (this.byLeg.has(row.uuid) || this.claiming.has(row.uuid) || legsOfRecords.has(row.uuid) || this.recentlyEnded.has(row.uuid)) continue;
      if (row.direction !== 'inbound' || row.application !== 'park' || !this.acceptNewCalls) continue;
      const ev = rowAsParkEvent(row, node.name);
      if (this.opts.isHotlineCall && !this.opts.isHotlineCall(ev)) continue;
      fresh++;
      this.claimThenTake(ev, node);
    }
    this.log.info({ node: node.name, channels: rows.length, adopted, finalized, fresh }, 'resync done');
  }

  /**
   * Take over the calls of another CTI node that died (its liveness key expired): every record it left on every
   * switch is adopted as after a restart (calls still up carry on here, the others get their CDR), and saved under
   * this node's id at once, so this node's own restart re-adopts them. Returns the sessions still up.
   */
  async adoptNode(deadNodeId: string): Promise<CallSession[]> {
    const taken: CallSession[] = [];
    for (const node of this.opts.esl.nodes) {
      if (!node.isConnected) continue;
      const [rows, records] = await Promise.all([node.showChannels(), this.store.listByNode(node.name)]);
      const theirs = records.filter((r) => r.ctiNode === deadNodeId);
      if (theirs.length === 0) continue;
      const live = new Map(rows.map((r) => [r.uuid, r]));
      const { sessions, finalized } = await this.adoptRecords(theirs, live, node, (s) => {
        // events of these calls were ignored here as another node's: they are ours now
        for (const uuid of s.legs.keys()) this.recentlyEnded.delete(uuid);
        this.persist(s);
      });
      taken.push(...sessions);
      this.log.warn({ deadNode: deadNodeId, node: node.name, adopted: sessions.length, finalized }, 'took over the calls of a dead CTI node');
    }
    return taken;
  }

  /** Re-create sessions from records: live ones are adopted (hook runs), vanished/ended ones are finalized. */
  private async adoptRecords(
    records: CallRecord[],
    live: Map<string, ChannelRow>,
    node: EslNode,
    beforeHook?: (s: CallSession) => void,
  ): Promise<{ adopted: number; finalized: number; sessions: CallSession[] }> {
    let finalized = 0;
    const sessions: CallSession[] = [];
    for (const r of records) {
      if (this.calls.has(r.uuid)) continue;
      const session = this.createSession(r.uuid, node, { tenantId: r.tenantId, startAt: r.times.startAt });
      restoreInto(session, r);
      for (const leg of session.legs.values()) {
        if (leg.uuid !== session.uuid) this.byLeg.set(leg.uuid, session);
        if (!live.has(leg.uuid) && leg.hungUpAt === undefined) leg.hungUpAt = Date.now();
      }
      const meta = this.meta.get(session)!;
      if (r.variables['final_state']) meta.stateAtHangup = r.variables['final_state'] as CallState;
      if (r.times.answerAt !== undefined) meta.media.noteAnswered();
      if (!live.has(r.uuid) || r.state === 'ended') {
        meta.media.markGone();
        finalized++;
        await this.finalize(session, { recovered: r.state !== 'ended' });
        continue;
      }
      sessions.push(session);
      beforeHook?.(session);
      session.log.info({ state: session.state }, 'call re-adopted');
      this.emit('adopted', session);
      this.runHook(session, this.onAdoptedCall, 'onAdoptedCall');
    }
    return { adopted: sessions.length, finalized, sessions };
  }
}

function hangupSideOf(session: CallSession, leg: CallLeg): HangupSide {
  if (session.hangupRequestedBySystem) return 'system';
  const d = leg.hangupDisposition ?? '';
  // send_*: the switch ended this leg (because of the other side or the dialplan), not the party on it
  if (d.startsWith('send_')) {
    if (leg.role === 'caller') {
      const agentDown = session.legsByRole('agent').some((l) => l.hungUpAt !== undefined);
      return agentDown ? 'agent' : 'system';
    }
    return 'caller';
  }
  return leg.role === 'caller' ? 'caller' : 'agent';
}

function legEventDetails(ev: EslEvent): Record<string, unknown> | undefined {
  const h = ev.headers;
  switch (ev.name) {
    case 'CHANNEL_HANGUP':
      return { cause: h['Hangup-Cause'], disposition: h['variable_sip_hangup_disposition'] };
    case 'CHANNEL_BRIDGE':
    case 'CHANNEL_UNBRIDGE':
      return { other: h['Other-Leg-Unique-ID'] };
    case 'DTMF':
      return { digit: h['DTMF-Digit'] };
    case 'RECORD_START':
    case 'RECORD_STOP':
      return { path: h['Record-File-Path'] };
    case 'CHANNEL_PARK':
    case 'CHANNEL_CREATE':
      return { name: h['Channel-Name'], caller: h['Caller-Caller-ID-Number'], dest: h['Caller-Destination-Number'] };
    default:
      return undefined;
  }
}

/** The switch's own time of the event (Event-Date-Timestamp, µs), or now. */
function eventTime(ev: EslEvent): number {
  return microsToMs(ev.headers['Event-Date-Timestamp']) ?? Date.now();
}

function microsToMs(v: string | undefined): number | undefined {
  if (!v || v === '0') return undefined;
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? Math.floor(n / 1000) : undefined;
}

/** A `show channels` row in the shape of the CHANNEL_PARK event it stands for. */
function rowAsParkEvent(row: ChannelRow, node: string): EslEvent {
  const createdMs = Number(row.created_epoch) * 1000;
  return {
    name: 'CHANNEL_PARK',
    uuid: row.uuid,
    node,
    body: '',
    receivedAt: performance.now(),
    headers: {
      'Event-Name': 'CHANNEL_PARK',
      'Unique-ID': row.uuid,
      'Call-Direction': row.direction,
      'Channel-Name': row.name,
      'Caller-Caller-ID-Number': row.cid_num,
      'Caller-Destination-Number': row.dest,
      'Answer-State': row.callstate === 'ACTIVE' ? 'answered' : 'ringing',
      'Event-Date-Timestamp': String(Date.now() * 1000),
      ...(Number.isFinite(createdMs) && createdMs > 0 ? { 'Caller-Channel-Created-Time': String(createdMs * 1000) } : {}),
    },
  };
}
