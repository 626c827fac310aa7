// The ACD engine of one CTI node: ties the Redis routing scripts, precise timers (max wait, previous-agent wait,
// wrap-up), overflow and the offer executor together. Matching is event-driven: every trigger (caller arrives,
// agent turns ready, offer fails, wrap-up ends, a timer expires) runs one script that both changes state and
// reserves whatever pair it can; there is no polling loop. With several nodes on one Redis, a match for a call
// another node owns is sent to that node over pub/sub; agent state changes are broadcast the same way.
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { RoutingStore, type Match, type ScriptResult } from './routing-store.js';
import type {
  AcdEngineEvents,
  OfferEvent,
  AgentEndpoint,
  CallOutcome,
  EnqueueRequest,
  EnqueueResult,
  OfferExecutor,
  OfferRequest,
  OfferResult,
  OverflowTarget,
  QueuePosition,
  ScreenPop,
  SkillGroupConfig,
  RoutingRebuild,
} from './types.js';
import type { QueueEventRow, AgentStateLogRow, QueueEventType, AgentCurrentStateRow } from '../db/schema/index.js';
import type { AgentCurrentStateUpdate } from '../agents/state-log.js';
import { isAgentState as isAgentStateName, type AgentState, type AgentTransition } from '../agents/states.js';
import { estimateWaitMs } from './estimate.js';
import { withTimeout } from '../lib/with-timeout.js';

export interface RowSink<T> {
  push(row: T): void;
}

export interface PreviousAgentRecord {
  callerNumber: string;
  agentId: string;
  at: number;
}

export interface AcdEngineOptions {
  /** command connection */
  redis: Redis;
  /**
   * the routing scripts' own connection (default: `redis`). The shared client auto-pipelines: a command waits for
   * the end of the loop turn, and then for the round trip of the pipeline already in flight, before it is written.
   * An offer decision is one script whose reply gates the originate, so it should go out at once.
   */
  routingRedis?: Redis;
  /** a dedicated connection the engine puts into subscribe mode */
  subscriber: Redis;
  prefix: string;
  nodeId: string;
  executor: OfferExecutor;
  log?: Logger;
  queueEvents?: RowSink<QueueEventRow>;
  stateLog?: RowSink<AgentStateLogRow>;
  /** every agent's current state (batched with the state log), so routing can be rebuilt after a restart of both */
  currentState?: RowSink<AgentCurrentStateUpdate>;
  /** the stored current states of this routing prefix (agents not signed out), for the rebuild */
  loadCurrentStates?: () => Promise<AgentCurrentStateRow[]>;
  /**
   * after a rebuild, an agent restored reserved for another node's call is freed if that node is not listening
   * this long later (dead; a live one frees its own when it rebuilds). Default 5000 ms.
   */
  deadOwnerGraceMs?: number;
  /** consecutive missed offers after which an agent goes not-ready 未接 (default 3) */
  missesBeforeNotReady?: number;
  /** extra time past an offer's timeout before the engine stops waiting for the executor (default 5 s) */
  offerGuardMs?: number;
  utcOffsetMinutes?: number;
  /** rebuilds the caller → previous agent map (首问负责制) when Redis lost it; from queue_events answers */
  loadPreviousAgents?: (tenantId: string, windowMs: number) => Promise<PreviousAgentRecord[]>;
  /** overflow from group to group at most this many times per call (default 3) */
  maxOverflowHops?: number;
  /** the skill groups from PostgreSQL, to rebuild routing after Redis lost it */
  loadGroups?: () => Promise<SkillGroupConfig[]>;
  /** an agent's endpoint from PostgreSQL when this node did not see the sign-in (rebuild after Redis lost it) */
  loadEndpoint?: (tenantId: string, agentId: string) => Promise<AgentEndpoint | null>;
  /** how often to check that Redis still holds the routing state (ms, default 2000; 0 = only on reconnect) */
  routingCheckMs?: number;
}

interface Deferred {
  promise: Promise<CallOutcome>;
  resolve: (o: CallOutcome) => void;
}

interface LiveOffer {
  m: Match;
  ac: AbortController;
  guard: NodeJS.Timeout;
  settled: boolean;
  /** the caller left: the executor was told to stop; its agents stay reserved until it settles (or the guard fires) */
  withdrawn: boolean;
}

interface CallTimers {
  maxWait?: NodeJS.Timeout;
  pref?: NodeJS.Timeout;
}

/** What this node remembers of its callers (for overflow into another group). */
interface CallMeta {
  tenantId: string;
  groupId: string;
  callerNumber: string;
  vip: boolean;
  priority: number;
  hops: number;
  arrivalMs: number;
  screenPop: ScreenPop;
  /** set once answered: the call is talking to this agent until callEnded */
  agentId?: string;
}

/** What every node knows of every signed-in agent (from the transitions on the bus), to rebuild Redis from. */
interface AgentMirror {
  tenantId: string;
  state: AgentState;
  reason: string;
  since: number;
  endpoint?: AgentEndpoint;
  extension?: string;
  wrapUntil?: number;
  /** reserved/ringing/talking: the call and its owner node */
  callUuid?: string;
  ownerNode?: string;
}

export interface AdoptedCall {
  callUuid: string;
  state: string;
  groupId: string;
  tenantId: string;
}

export interface GroupStats {
  groupId: string;
  waiting: number;
  longestWaitMs: number;
  readyAgents: number;
  agentsByState: Partial<Record<AgentState, number>>;
  averageHandleMs: number | null;
}

export interface AgentSnapshot {
  agentId: string;
  tenantId: string;
  state: AgentState;
  reason: string;
  since: number | null;
  callUuid: string | null;
  callsToday: number;
  misses: number;
  endpoint: AgentEndpoint | null;
  pendingNotReady: string | null;
  groups: string[];
}

export class AcdEngine extends EventEmitter<AcdEngineEvents> {
  readonly store: RoutingStore;
  private readonly redis: Redis;
  private readonly sub: Redis;
  private readonly nodeId: string;
  private readonly executor: OfferExecutor;
  private readonly log: Logger | undefined;
  private readonly misses: number;
  private readonly offerGuardMs: number;
  private readonly offers = new Map<string, LiveOffer>();
  /** offers whose caller left while the executor's originate may still be pending in the switch */
  private readonly withdrawnOffers = new Set<LiveOffer>();
  /** per call, the offer in progress: resolves once its result was applied (answer recorded and announced, or agents freed) */
  private readonly offerWork = new Map<string, Promise<void>>();
  private readonly callTimers = new Map<string, CallTimers>();
  private readonly wrapTimers = new Map<string, NodeJS.Timeout>();
  private readonly waiters = new Map<string, Deferred>();
  private readonly meta = new Map<string, CallMeta>();
  private readonly overdue = new Set<string>();
  private readonly groups = new Map<string, SkillGroupConfig>();
  private readonly prevRebuilds = new Map<string, Promise<void>>();
  private readonly nodeChannel: string;
  private readonly busChannel: string;
  private started = false;
  private readonly pendingQueueChanges = new Map<string, { tenantId: string; groupId: string }>();
  private queueChangeTimer: NodeJS.Timeout | null = null;
  private readonly onMessage = (channel: string, message: string) => this.handleMessage(channel, message);
  private readonly agentMirror = new Map<string, AgentMirror>();
  private rebuilding: Promise<RoutingRebuild | null> | null = null;
  private routingCheck: NodeJS.Timeout | null = null;
  private readonly onRedisReady = () => void this.checkRoutingState();

  constructor(private readonly opts: AcdEngineOptions) {
    super();
    this.redis = opts.redis;
    this.sub = opts.subscriber;
    this.nodeId = opts.nodeId;
    this.executor = opts.executor;
    this.log = opts.log?.child({ mod: 'acd', node: opts.nodeId });
    this.misses = opts.missesBeforeNotReady ?? 3;
    this.offerGuardMs = opts.offerGuardMs ?? 5000;
    this.store = new RoutingStore(opts.routingRedis ?? opts.redis, opts.prefix, opts.utcOffsetMinutes);
    this.nodeChannel = this.channelOf(opts.nodeId);
    this.busChannel = `${opts.prefix}:ch:bus`;
  }

  private channelOf(node: string): string {
    return `${this.opts.prefix}:ch:node:${node}`;
  }

  /** Load scripts, listen for offers and broadcasts, re-adopt this node's parked callers, resume wrap-up timers. */
  async start(): Promise<AdoptedCall[]> {
    await this.store.load();
    this.sub.on('message', this.onMessage);
    await this.sub.subscribe(this.nodeChannel, this.busChannel);
    this.started = true;
    const adopted = await this.adopt();
    const wraps = await this.redis.zrange(this.store.key('wrap'), '0', '-1', 'WITHSCORES');
    for (let i = 0; i < wraps.length; i += 2) this.scheduleWrap(wraps[i]!, Number(wraps[i + 1]));
    await this.mirrorSignedInAgents();
    // no marker: a fresh Redis (first start, or it lost its data while this node was down too): restore what
    // PostgreSQL remembers of the agents (nothing on a first start)
    if (this.opts.loadCurrentStates && (await this.redis.exists(this.aliveKey)) === 0) await this.rebuildRouting({ agents: true, atStart: true });
    else await this.redis.mset(this.aliveKey, String(Date.now()), this.nodeAliveKey, String(Date.now()));
    this.redis.on('ready', this.onRedisReady);
    const every = this.opts.routingCheckMs ?? 2000;
    if (every > 0) {
      this.routingCheck = setInterval(() => void this.checkRoutingState(), every);
      this.routingCheck.unref?.();
    }
    return adopted;
  }

  // ---------------------------------------------------------------------------------------------- Redis lost its data

  /** Set at start; a Redis that comes back without it lost the routing state (no persistence, or flushed). */
  private get aliveKey(): string {
    return this.store.key('alive');
  }

  /** This node's own marker: every node puts its own callers back, also when another node rebuilt first. */
  private get nodeAliveKey(): string {
    return this.store.key('alive', this.nodeId);
  }

  /** Seed the agent mirror from Redis at start (agents signed in before this node started). */
  private async mirrorSignedInAgents(): Promise<void> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await this.redis.scan(cursor, 'MATCH', this.store.key('ten', '*', 'agents'), 'COUNT', 500);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    for (const k of keys) {
      const tenantId = k.slice(this.store.key('ten', '').length).replace(/:agents$/, '');
      for (const s of await this.signedInAgents(tenantId)) {
        this.agentMirror.set(s.agentId, {
          tenantId: s.tenantId, state: s.state, reason: s.reason, since: s.since ?? Date.now(),
          ...(s.endpoint ? { endpoint: s.endpoint } : {}),
        });
      }
    }
  }

  /** Redis is reachable: if it lost the routing state, put it back. Errors (Redis down again) wait for the next check. */
  async checkRoutingState(): Promise<RoutingRebuild | null> {
    if (!this.started) return null;
    if (this.rebuilding) return this.rebuilding;
    this.rebuilding = (async () => {
      try {
        const [cluster, mine] = await Promise.all([this.redis.exists(this.aliveKey), this.redis.exists(this.nodeAliveKey)]);
        if (mine === 1 && cluster === 1) return null;
        // another node already put the agents back: any missing now signed out since (PostgreSQL may lag)
        return await this.rebuildRouting({ agents: cluster === 0 });
      } catch (err) {
        this.log?.warn({ err }, 'routing state check failed (Redis unavailable?)');
        return null;
      } finally {
        this.rebuilding = null;
      }
    })();
    return this.rebuilding;
  }

  /**
   * Rebuild the routing state after Redis lost it: skill groups from PostgreSQL, signed-in agents as every node saw
   * them on the bus (endpoint from PostgreSQL if this node missed the sign-in), this node's own callers from its
   * memory (waiting ones enqueued again with their arrival time, so they keep their place; offers in progress and
   * talking calls put back as they are, so nobody is offered twice). Every node does it for its own callers;
   * groups and agents are only written where missing, so concurrent rebuilds agree.
   */
  private async rebuildRouting(opts: { agents: boolean; atStart?: boolean } = { agents: true }): Promise<RoutingRebuild> {
    const t0 = Date.now();
    // at start an empty Redis is usually just a first start: only worth a warning if something had to be put back
    if (opts.atStart) this.log?.info('no routing state in Redis (first start, or Redis emptied while no node ran): loading it from PostgreSQL');
    else this.log?.warn('Redis lost the routing state: rebuilding from PostgreSQL and this node\'s calls');
    await this.store.load();
    const groups = this.opts.loadGroups ? await this.opts.loadGroups() : [...this.groups.values()];
    // pipelined in slices: a shared PostgreSQL may hold many centers' groups
    for (let i = 0; i < groups.length; i += 64) await Promise.all(groups.slice(i, i + 64).map((g) => this.applyGroup(g)));
    let agents = 0;
    const owners = new Set<string>();
    for (const [agentId, a] of opts.agents ? await this.agentsToRestore() : []) {
      if (a.state === 'logged_out') continue;
      const endpoint = a.endpoint ?? (await this.opts.loadEndpoint?.(a.tenantId, agentId)) ?? null;
      const ext = a.extension ?? (endpoint?.type === 'sip' ? endpoint.address : '');
      const onOffer = a.state === 'reserved' || a.state === 'ringing';
      const r = await this.store.run('restoreAgent', Date.now(), [
        agentId, a.tenantId, endpoint?.type ?? 'sip', endpoint?.address ?? '', endpoint?.confirmKey ?? '', endpoint?.gateway ?? '', ext,
        a.state, a.reason, a.since, a.wrapUntil ?? Date.now(), endpoint?.autoAnswer ? '1' : '',
        onOffer ? (a.callUuid ?? '') : '', onOffer ? (a.ownerNode ?? '') : '',
      ]);
      if (r.kind === 'ok' || r.kind === 'released') agents++;
      if (r.kind === 'released') {
        this.log?.warn({ agent: agentId }, 'agent restored reserved with no owner node known: freed');
        this.onTransitions([{ agentId, tenantId: a.tenantId, from: a.state, fromReason: a.reason, fromSince: a.since, to: 'ready', reason: '', at: Date.now() }], true);
      }
      if (r.kind === 'ok' && onOffer && a.ownerNode && a.ownerNode !== this.nodeId) owners.add(a.ownerNode);
      if (a.state === 'wrap_up') this.scheduleWrap(agentId, a.wrapUntil ?? Date.now());
    }
    // the withdrawn-offer markers went with Redis: agents restored reserved for such an offer are freed now
    for (const live of this.withdrawnOffers) {
      this.process(await this.store.run('offerReleased', Date.now(), [live.m.callUuid, live.m.agents.map((x) => x.agentId).join(','), 1]));
    }
    const counts = { waiting: 0, offering: 0, talking: 0 };
    for (const [callUuid, m] of this.meta) {
      const live = this.offers.get(callUuid);
      const base = [callUuid, m.tenantId, m.groupId, m.priority, m.arrivalMs, this.nodeId, m.callerNumber, JSON.stringify(m.screenPop), m.vip ? 1 : 0];
      if (live && !live.settled) {
        const r = await this.store.run('restoreCall', Date.now(), [...base, 'offering', live.m.agents.map((x) => x.agentId).join(','), '']);
        if (r.kind === 'ok') counts.offering++;
      } else if (m.agentId && !this.waiters.has(callUuid)) {
        const r = await this.store.run('restoreCall', Date.now(), [...base, 'talking', '', m.agentId]);
        if (r.kind === 'ok') counts.talking++;
      } else if (this.waiters.has(callUuid)) {
        // same arguments as the original enqueue, without the length check: the caller already had a place
        const args = [callUuid, m.tenantId, m.groupId, m.priority, m.arrivalMs, this.nodeId, m.callerNumber, JSON.stringify(m.screenPop), '', m.vip ? 1 : 0, 0];
        let r = await this.store.run('enqueue', Date.now(), args);
        if (r.kind === 'rebuild_prev') {
          await this.rebuildPreviousAgents(m.tenantId);
          r = await this.store.run('enqueue', Date.now(), args);
        }
        this.process(r);
        if (r.kind === 'waiting_for_agent') this.schedulePrefTimeout(callUuid, Number(r.extra[2]));
        if (r.kind !== 'duplicate' && r.kind !== 'no_group') counts.waiting++;
        this.queueChanged({ tenantId: m.tenantId, groupId: m.groupId });
      }
    }
    // this node's calls are back: agents restored reserved for one of its calls that did not come back are free
    const freed = await this.releaseReservations(this.nodeId);
    for (const owner of owners) this.checkOwnerLater(owner);
    await this.redis.mset(this.aliveKey, String(Date.now()), this.nodeAliveKey, String(Date.now()));
    const result: RoutingRebuild = { ms: Date.now() - t0, groups: groups.length, agents, ...counts, reservationsFreed: freed.length };
    const restored = agents + counts.waiting + counts.offering + counts.talking + freed.length > 0;
    if (opts.atStart && !restored) this.log?.info(result, 'routing state loaded');
    else this.log?.warn(result, 'routing state rebuilt');
    this.emit('routingRebuilt', result);
    return result;
  }

  /**
   * The agents to put back: as this node saw them on the bus, and as PostgreSQL stored them (all of them after a
   * restart of this node too). The newer state wins; the endpoint comes from the sign-in this node saw, else from
   * PostgreSQL, which keeps the auto-answer choice of agents who signed in on another node.
   */
  private async agentsToRestore(): Promise<Map<string, AgentMirror>> {
    const out = new Map(this.agentMirror);
    let stored: AgentCurrentStateRow[] = [];
    try {
      stored = (await this.opts.loadCurrentStates?.()) ?? [];
    } catch (err) {
      this.log?.warn({ err: (err as Error).message }, 'stored agent states not loaded; rebuilding from this node\'s view only');
    }
    for (const row of stored) {
      const mine = out.get(row.agentId);
      const endpoint: AgentEndpoint | undefined = row.endpointType
        ? {
            type: row.endpointType === 'mobile' ? 'mobile' : 'sip',
            address: row.endpointAddress ?? '',
            ...(row.gateway ? { gateway: row.gateway } : {}),
            ...(row.endpointType === 'mobile' ? { confirmKey: row.confirmKey || '1' } : {}),
            ...(row.autoAnswer ? { autoAnswer: true } : {}),
          }
        : undefined;
      const since = row.since.getTime();
      if (mine && mine.since >= since) {
        if (!mine.endpoint && endpoint) out.set(row.agentId, { ...mine, endpoint, ...(row.extension ? { extension: row.extension } : {}) });
        continue;
      }
      out.set(row.agentId, {
        ...mine,
        tenantId: row.tenantId,
        state: isAgentStateName(row.state) ? row.state : 'logged_out',
        reason: row.reason ?? '',
        since,
        ...(mine?.endpoint ? {} : endpoint ? { endpoint } : {}),
        ...(mine?.extension || !row.extension ? {} : { extension: row.extension }),
        ...(row.callUuid ? { callUuid: row.callUuid, ownerNode: row.ownerNode ?? '' } : {}),
      });
    }
    return out;
  }

  /** Free agents restored reserved for a call of `node` that no call came back for (to ready, no miss). */
  private async releaseReservations(node: string): Promise<string[]> {
    const r = await this.store.run('releaseReservations', Date.now(), [node]);
    if (r.extra.length) this.log?.warn({ owner: node, agents: r.extra }, 'agents reserved for calls that did not come back: freed');
    this.process(r);
    return r.extra;
  }

  /** Another node's reservations: that node frees them when it rebuilds; if it is not listening by then, it is dead. */
  private checkOwnerLater(owner: string): void {
    const t = setTimeout(() => {
      void (async () => {
        if (!this.started) return;
        const [, listeners] = (await this.redis.pubsub('NUMSUB', this.channelOf(owner))) as [string, number];
        if (Number(listeners) > 0) return;
        await this.releaseReservations(owner);
      })().catch((err: Error) => this.fail(err));
    }, this.opts.deadOwnerGraceMs ?? 5000);
    t.unref?.();
  }

  /** Stop timers and listening. Waiting callers stay in Redis for the next start (or another node) to adopt. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.redis.off('ready', this.onRedisReady);
    if (this.routingCheck) clearInterval(this.routingCheck);
    this.routingCheck = null;
    this.sub.off('message', this.onMessage);
    await this.sub.unsubscribe(this.nodeChannel, this.busChannel).catch(() => {});
    for (const t of this.callTimers.values()) {
      clearTimeout(t.maxWait);
      clearTimeout(t.pref);
    }
    this.callTimers.clear();
    for (const t of this.wrapTimers.values()) clearTimeout(t);
    this.wrapTimers.clear();
    for (const o of this.offers.values()) clearTimeout(o.guard);
    for (const o of this.withdrawnOffers) clearTimeout(o.guard);
    if (this.queueChangeTimer) clearTimeout(this.queueChangeTimer);
    this.queueChangeTimer = null;
  }

  // ---------------------------------------------------------------------------------------------- groups

  /** Create or update a group's routing (config + members) in Redis; waiting calls are re-matched at once. */
  async applyGroup(cfg: SkillGroupConfig): Promise<void> {
    const routing = {
      name: cfg.name,
      strat: cfg.strategy,
      prio: cfg.priority,
      aging: cfg.agingRate,
      vip: cfg.vipBoost,
      maxlen: cfg.maxQueueLength ?? 0,
      maxwait: cfg.maxWaitMs ?? 0,
      noans: cfg.noAnswerTimeoutMs,
      prevOn: cfg.previousAgentEnabled ? '1' : '0',
      prevWait: cfg.previousAgentWaitMs,
      prevWin: cfg.previousAgentWindowMs,
      wrap: cfg.wrapUpMs,
      members: cfg.members.map((m) => [m.agentId, m.position, m.proficiency]),
    };
    this.groups.set(cfg.id, cfg);
    const r = await this.store.run('setGroup', Date.now(), [cfg.id, cfg.tenantId, JSON.stringify(routing), JSON.stringify(cfg)]);
    this.process(r);
    void this.redis.publish(this.busChannel, JSON.stringify({ t: 'group', id: cfg.id, from: this.nodeId }));
    this.queueChanged({ tenantId: cfg.tenantId, groupId: cfg.id });
  }

  /** Remove a group from routing. Its waiting callers are overflowed with a goodbye (returned). */
  async removeGroup(groupId: string): Promise<string[]> {
    const r = await this.store.run('deleteGroup', Date.now(), [groupId]);
    this.groups.delete(groupId);
    void this.redis.publish(this.busChannel, JSON.stringify({ t: 'group', id: groupId, from: this.nodeId }));
    return r.extra;
  }

  async groupConfig(groupId: string): Promise<SkillGroupConfig | null> {
    const cached = this.groups.get(groupId);
    if (cached) return cached;
    const raw = await this.redis.hget(this.store.key('grp', groupId), 'cfg');
    if (!raw) return null;
    const cfg = JSON.parse(raw) as SkillGroupConfig;
    this.groups.set(groupId, cfg);
    return cfg;
  }

  // ---------------------------------------------------------------------------------------------- callers

  /** A caller asks for an agent. Resolves as soon as the call is offered, queued, waiting for its previous agent or overflowed. */
  async enqueue(req: EnqueueRequest): Promise<EnqueueResult> {
    return this.enqueueHop(req, 0);
  }

  private async enqueueHop(req: EnqueueRequest, hops: number): Promise<EnqueueResult> {
    const now = Date.now();
    const arrival = req.arrivalMs ?? now;
    const pop: ScreenPop = req.screenPop ?? { callerNumber: req.callerNumber };
    const args = [
      req.callUuid,
      req.tenantId,
      req.groupId,
      req.priority ?? 0,
      arrival,
      this.nodeId,
      req.callerNumber,
      JSON.stringify(pop),
      req.preferredAgentId ?? '',
      req.vip ? 1 : 0,
      1,
    ];
    let r = await this.store.run('enqueue', now, args);
    if (r.kind === 'rebuild_prev') {
      await this.rebuildPreviousAgents(req.tenantId);
      r = await this.store.run('enqueue', Date.now(), args);
    }
    if (r.kind === 'duplicate') return { status: 'rejected', reason: r.kind };
    if (r.kind === 'no_group') {
      this.waiters.delete(req.callUuid); // an outcome() asked for before enqueueing will never come
      return { status: 'rejected', reason: r.kind };
    }
    // the enqueue event is recorded before the offer it may have led to
    this.event('enqueue', { tenantId: req.tenantId, callUuid: req.callUuid, groupId: req.groupId, callerNumber: req.callerNumber, at: now });
    this.meta.set(req.callUuid, {
      tenantId: req.tenantId,
      groupId: req.groupId,
      callerNumber: req.callerNumber,
      vip: !!req.vip,
      priority: req.priority ?? 0,
      hops,
      arrivalMs: arrival,
      screenPop: pop,
    });
    if (!this.waiters.has(req.callUuid)) this.waiters.set(req.callUuid, deferred());
    this.process(r);
    this.queueChanged({ tenantId: req.tenantId, groupId: req.groupId });

    if (r.kind === 'full') {
      const cfg = await this.groupConfig(req.groupId);
      const target: OverflowTarget = cfg?.overflowOnLength ?? { kind: 'goodbye' };
      this.event('overflow', {
        tenantId: req.tenantId, callUuid: req.callUuid, groupId: req.groupId, callerNumber: req.callerNumber,
        at: now, waitMs: now - arrival, detail: { reason: 'max_length', target },
      });
      if (target.kind === 'group' && target.groupId && hops < (this.opts.maxOverflowHops ?? 3)) {
        return this.enqueueHop({ ...req, groupId: target.groupId, arrivalMs: arrival, screenPop: pop }, hops + 1);
      }
      this.finishCall(req.callUuid, req.tenantId, { outcome: 'overflow', target, reason: 'max_length', waitMs: now - arrival });
      return { status: 'overflow', target, reason: 'max_length' };
    }
    const maxWait = Number(r.extra[0] || 0);
    if (maxWait > 0) this.scheduleMaxWait(req.callUuid, maxWait);
    if (r.kind === 'offered') return { status: 'offered' };
    if (r.kind === 'waiting_for_agent') {
      const waitMs = Number(r.extra[2]);
      this.schedulePrefTimeout(req.callUuid, waitMs);
      return { status: 'waiting_for_agent', agentId: r.extra[1]!, waitMs };
    }
    return { status: 'queued', position: Number(r.extra[1]) };
  }

  /** Resolves when the call leaves the queue: answered by an agent, overflowed or abandoned (owner node only). */
  outcome(callUuid: string): Promise<CallOutcome> {
    let d = this.waiters.get(callUuid);
    if (!d) {
      d = deferred();
      this.waiters.set(callUuid, d);
    }
    return d.promise;
  }

  /**
   * The caller hung up while waiting (or while an agent was being rung). The routing state first (the offered
   * agents are held reserved), then the executor is stopped; its agents are freed once it settles (releaseOffer).
   */
  async abandon(callUuid: string): Promise<void> {
    const r = await this.store.run('abandon', Date.now(), [callUuid]);
    this.withdrawOffer(callUuid);
    this.process(r);
    if (r.kind !== 'ok') return;
    const [prevState, groupId, waitMs, tenantId, caller, , owner] = r.extra as [string, string, string, string, string, string, string];
    // the owner node rings the agent and runs the caller's queue task: tell it the caller is gone
    if (owner && owner !== this.nodeId) {
      void this.redis.publish(this.channelOf(owner), JSON.stringify({ t: 'gone', callUuid, tenantId, waitMs: Number(waitMs) })).catch(() => {});
    }
    this.event('abandon', {
      tenantId, callUuid, groupId, callerNumber: caller, at: Date.now(), waitMs: Number(waitMs),
      detail: prevState === 'offering' ? { duringOffer: true } : null,
    });
    this.finishCall(callUuid, tenantId, { outcome: 'abandoned', waitMs: Number(waitMs) });
    this.queueChanged({ tenantId, groupId });
  }

  /**
   * Take a waiting caller out of the queue for the caller's own task (e.g. the IVR queue node's timeout).
   * False while an agent is being rung for the call, or when it is not waiting.
   */
  async leaveQueue(callUuid: string, reason: string): Promise<boolean> {
    const now = Date.now();
    const r = await this.store.run('takeForOverflow', now, [callUuid]);
    if (r.kind !== 'ok') return false;
    const [groupId, arr, tenantId, caller] = r.extra as [string, string, string, string];
    const waitMs = now - Number(arr);
    this.event('overflow', { tenantId, callUuid, groupId, callerNumber: caller, at: now, waitMs, detail: { reason, target: { kind: 'ivr' } } });
    this.finishCall(callUuid, tenantId, { outcome: 'left', reason, waitMs });
    this.queueChanged({ tenantId, groupId });
    return true;
  }

  /**
   * Stop an offer this node is performing (the caller is gone, or picked up elsewhere). Its result is then only
   * used to free the agents held for it; the guard timer stays armed in case the executor never settles.
   */
  private withdrawOffer(callUuid: string): void {
    const live = this.offers.get(callUuid);
    if (live && !live.settled && !live.withdrawn) {
      live.withdrawn = true;
      this.offers.delete(callUuid);
      this.withdrawnOffers.add(live);
      live.ac.abort();
    }
  }

  /**
   * The originate of an offer whose caller left has ended (leg killed, never created, failed, or the guard gave
   * up): free the agents the routing state held for it. A leg that still answered is hung up first.
   */
  private async releaseOffer(m: Match, res?: OfferResult | { outcome: 'error' }): Promise<void> {
    if (res?.outcome === 'answered' && res.legUuid) await this.executor.releaseLeg?.(m.callUuid, res.legUuid);
    const r = await this.store.run('offerReleased', Date.now(), [m.callUuid, m.agents.map((a) => a.agentId).join(','), 0]);
    if (r.extra.length) this.log?.info({ call: m.callUuid, agents: r.extra }, 'withdrawn offer ended: agents freed');
    this.process(r);
  }

  /**
   * Resolves once no offer of this call is in progress on this node: its result applied (an answer recorded and
   * its callOutcome emitted, or the agents freed). For the CDR of a caller who hung up while offered: an agent
   * may have answered in the same instant. False when `timeoutMs` passed first.
   */
  async offerSettled(callUuid: string, timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    for (let work = this.offerWork.get(callUuid); work; work = this.offerWork.get(callUuid)) {
      const left = end - Date.now();
      if (left <= 0) return false;
      const done = await withTimeout(work, left).then(() => true, () => false);
      if (!done) return false;
    }
    return true;
  }

  /** Position (1 = next) and estimated wait, for the periodic announcement. Null when the call is not waiting. */
  async position(callUuid: string): Promise<QueuePosition | null> {
    const [g, st] = await this.redis.hmget(this.store.key('call', callUuid), 'g', 'st');
    if (!g || (st !== 'waiting' && st !== 'pref')) return null;
    const stats = await this.groupStats(g);
    const rank = st === 'pref' ? 0 : await this.redis.zrank(this.store.key('grp', g, 'q'), callUuid);
    const position = (rank ?? 0) + 1;
    const staffed = Object.entries(stats.agentsByState)
      .filter(([s]) => s !== 'not_ready' && s !== 'logged_out')
      .reduce((n, [, c]) => n + (c ?? 0), 0);
    return { position, estimatedWaitMs: estimateWaitMs(position, staffed, stats.readyAgents, stats.averageHandleMs) };
  }

  // ---------------------------------------------------------------------------------------------- agents

  /** Sign in with the endpoint chosen for this shift; the agent starts not ready. */
  async login(agentId: string, tenantId: string, endpoint: AgentEndpoint, extension?: string): Promise<void> {
    const ext = extension ?? (endpoint.type === 'sip' ? endpoint.address : '');
    const now = Date.now();
    const r = await this.store.run('login', now, [
      agentId, tenantId, endpoint.type, endpoint.address, endpoint.confirmKey ?? '', endpoint.gateway ?? '', ext, '', endpoint.autoAnswer ? '1' : '',
    ]);
    this.process(r);
    // the endpoint for the shift (an endpoint-only update when already signed in: the state stays as stored)
    this.opts.currentState?.push({
      redisPrefix: this.opts.prefix, agentId, tenantId, since: new Date(now),
      endpointType: endpoint.type, endpointAddress: endpoint.address, confirmKey: endpoint.confirmKey ?? null,
      gateway: endpoint.gateway ?? null, extension: ext, autoAnswer: endpoint.autoAnswer === true,
    });
    const mirrored = this.agentMirror.get(agentId);
    if (mirrored) {
      mirrored.endpoint = endpoint;
      mirrored.extension = ext;
    }
  }

  /** ready: 'ok' | 'pending' (asked during a call: cancels a pending not-ready) | 'logged_out' | 'phone_offline' */
  async setReady(agentId: string): Promise<string> {
    const r = await this.store.run('ready', Date.now(), [agentId]);
    this.process(r);
    return r.kind;
  }

  /** not ready with a reason; during a call it takes effect when the call (and wrap-up) ends: 'pending'. */
  async setNotReady(agentId: string, reason: string): Promise<string> {
    const r = await this.store.run('notReady', Date.now(), [agentId, reason]);
    this.process(r);
    return r.kind;
  }

  /** 'busy' while on a call unless forced. Callers waiting for this agent by name fall back to the group. */
  async logout(agentId: string, force = false): Promise<string> {
    clearTimeout(this.wrapTimers.get(agentId));
    this.wrapTimers.delete(agentId);
    const r = await this.store.run('logout', Date.now(), [agentId, force ? 1 : 0]);
    this.process(r);
    return r.kind;
  }

  /** sofia::unregister / sofia::expire for the agent's extension: not ready 话机离线 (after the call, if on one). */
  async onPhoneUnregistered(extension: string, tenantId: string): Promise<string | null> {
    const r = await this.store.run('phone', Date.now(), [tenantId, extension, 0]);
    this.process(r);
    return r.extra[0] ?? null;
  }

  /** sofia::register: an agent made not ready by 话机离线 returns to the state they had before. */
  async onPhoneRegistered(extension: string, tenantId: string): Promise<string | null> {
    const r = await this.store.run('phone', Date.now(), [tenantId, extension, 1]);
    this.process(r);
    return r.extra[0] ?? null;
  }

  /**
   * The bridged call ended. The agent goes to wrap-up for the group's wrap-up time (or wrapUpMs), to the
   * millisecond, then ready (or the not-ready they asked for meanwhile).
   */
  async callEnded(agentId: string, callUuid: string, talkMs: number, wrapUpMs?: number): Promise<void> {
    const meta = this.meta.get(callUuid);
    const r = await this.store.run('callEnded', Date.now(), [agentId, callUuid, wrapUpMs ?? -1, talkMs]);
    this.process(r);
    if (meta) {
      this.event('complete', { tenantId: meta.tenantId, callUuid, groupId: meta.groupId, agentId, at: Date.now(), talkMs });
      this.meta.delete(callUuid);
    } else {
      const tenantId = await this.redis.hget(this.store.key('agt', agentId), 't');
      if (tenantId) this.event('complete', { tenantId, callUuid, agentId, at: Date.now(), talkMs });
    }
    if (r.kind === 'wrap_up') {
      const mirrored = this.agentMirror.get(agentId);
      if (mirrored) mirrored.wrapUntil = Number(r.extra[0]);
      this.scheduleWrap(agentId, Number(r.extra[0]));
    }
  }

  /** The agent ends wrap-up early ("完成话后处理"). */
  async endWrapUp(agentId: string): Promise<string> {
    clearTimeout(this.wrapTimers.get(agentId));
    this.wrapTimers.delete(agentId);
    const r = await this.store.run('wrapDone', Date.now(), [agentId, 1]);
    this.process(r);
    return r.kind;
  }

  /** Record a transfer for the KPIs (the call layer performs it). */
  recordTransfer(e: { tenantId: string; callUuid: string; groupId?: string; agentId?: string; to: string }): void {
    this.event('transfer', { tenantId: e.tenantId, callUuid: e.callUuid, groupId: e.groupId, agentId: e.agentId, at: Date.now(), detail: { to: e.to } });
  }

  /** The agent's phone is ringing for this offer (the switch reported progress on the agent leg): reserved → ringing. */
  async agentRinging(agentId: string, callUuid: string): Promise<string> {
    const r = await this.store.run('ringing', Date.now(), [agentId, callUuid]);
    this.process(r);
    return r.kind;
  }

  /**
   * 代答: agentId picked the call up while the ACD offered it (or it waited). The offer is withdrawn like an
   * abandoned one: its agent stays reserved until the originate to them settled (leg cancelled, or the guard timer),
   * then is ready with no miss. The picker is talking in the routing state, the answer is logged for agentId.
   */
  async callPickedUp(callUuid: string, agentId: string): Promise<string> {
    const r = await this.store.run('pickedUp', Date.now(), [callUuid, agentId]);
    this.process(r);
    if (r.kind !== 'ok') return r.kind;
    const [, groupId, waitMs, tenantId, caller, owner] = r.extra as [string, string, string, string, string, string];
    const o: CallOutcome = { outcome: 'answered', agentId, waitMs: Number(waitMs) };
    if (owner && owner !== this.nodeId) {
      void this.redis.publish(this.channelOf(owner), JSON.stringify({ t: 'picked', callUuid, tenantId, po: o })).catch(() => {});
    } else {
      this.withdrawOffer(callUuid);
      this.finishCall(callUuid, tenantId, o, true);
    }
    this.event('answer', { tenantId, callUuid, groupId, agentId, callerNumber: caller, at: Date.now(), waitMs: Number(waitMs), detail: { pickup: true } });
    this.queueChanged({ tenantId, groupId });
    return r.kind;
  }

  /**
   * A call handed to an agent by call control (blind transfer): 'reserve' (ready → reserved, atomically, or 'busy'),
   * 'answered' (→ talking), 'failed' (→ ready / pending not-ready).
   */
  async transferAgent(agentId: string, callUuid: string, op: 'reserve' | 'answered' | 'failed'): Promise<string> {
    const r = await this.store.run('transferAgent', Date.now(), [agentId, callUuid, op]);
    this.process(r);
    return r.kind;
  }

  /** Every signed-in agent of a center with their live state (seed 002 (7)). */
  async signedInAgents(tenantId: string): Promise<AgentSnapshot[]> {
    const ids = await this.redis.smembers(this.store.key('ten', tenantId, 'agents'));
    const pipe = this.redis.pipeline();
    for (const id of ids) pipe.hgetall(this.store.key('agt', id)).hkeys(this.store.key('agt', id, 'grp'));
    const res = (await pipe.exec()) ?? [];
    const out: AgentSnapshot[] = [];
    ids.forEach((id, i) => {
      const h = res[2 * i]?.[1] as Record<string, string> | undefined;
      const groups = (res[2 * i + 1]?.[1] as string[] | undefined) ?? [];
      const s = h ? this.snapshotOf(id, h, groups) : null;
      if (s && s.state !== 'logged_out') out.push(s);
    });
    return out;
  }

  async agent(agentId: string): Promise<AgentSnapshot | null> {
    const [h, groups] = await Promise.all([
      this.redis.hgetall(this.store.key('agt', agentId)),
      this.redis.hkeys(this.store.key('agt', agentId, 'grp')),
    ]);
    return this.snapshotOf(agentId, h, groups);
  }

  private snapshotOf(agentId: string, h: Record<string, string>, groups: string[]): AgentSnapshot | null {
    if (!h.st) return null;
    return {
      agentId,
      tenantId: h.t ?? '',
      state: h.st as AgentState,
      reason: h.rs ?? '',
      since: h.since ? Number(h.since) : null,
      callUuid: h.call || null,
      callsToday: h.day === this.store.today(Date.now()) ? Number(h.calls ?? 0) : 0,
      misses: Number(h.miss ?? 0),
      endpoint: h.ep
        ? { type: h.ep === 'mobile' ? 'mobile' : 'sip', address: h.addr ?? '', ...(h.gw ? { gateway: h.gw } : {}), ...(h.ck ? { confirmKey: h.ck } : {}) }
        : null,
      pendingNotReady: h.pnr ?? null,
      groups,
    };
  }

  async groupStats(groupId: string): Promise<GroupStats> {
    const r = await this.store.run('groupStats', Date.now(), [groupId]);
    const [waiting, oldest, ready, aht, ...pairs] = r.extra;
    const agentsByState: Partial<Record<AgentState, number>> = {};
    for (let i = 0; i + 1 < pairs.length; i += 2) {
      const name = pairs[i]!;
      const s: AgentState = isAgentStateName(name) ? name : 'logged_out';
      agentsByState[s] = (agentsByState[s] ?? 0) + Number(pairs[i + 1]);
    }
    return {
      groupId,
      waiting: Number(waiting),
      longestWaitMs: oldest ? Math.max(0, Date.now() - Number(oldest)) : 0,
      readyAgents: Number(ready),
      agentsByState,
      averageHandleMs: aht ? Number(aht) : null,
    };
  }

  // ---------------------------------------------------------------------------------------------- internals

  /** Apply a script result: send offers first (latency), then log and broadcast the agent transitions. */
  private process(r: ScriptResult): void {
    for (const m of r.matches) this.dispatch(m);
    if (r.transitions.length > 0) this.onTransitions(r.transitions, true);
  }

  private dispatch(m: Match): void {
    if (m.ownerNode === this.nodeId) {
      this.runOffer(m);
      return;
    }
    this.redis
      .publish(this.channelOf(m.ownerNode), JSON.stringify({ t: 'offer', m }))
      .then(async (receivers) => {
        if (receivers > 0) return;
        // the owner is down: park the call as an orphan (its place kept) and free the agent(s)
        this.log?.warn({ call: m.callUuid, owner: m.ownerNode }, 'owner node not listening, call parked as orphan');
        this.process(await this.store.run('orphan', Date.now(), [m.callUuid]));
      })
      .catch((err: Error) => this.fail(err));
  }

  private runOffer(m: Match): void {
    const ac = new AbortController();
    const live: LiveOffer = {
      m,
      ac,
      settled: false,
      withdrawn: false,
      guard: setTimeout(() => {
        ac.abort();
        this.log?.warn({ call: m.callUuid }, 'offer executor did not settle in time, treating as no answer');
        finish({ outcome: 'no_answer' });
      }, m.noAnswerTimeoutMs + this.offerGuardMs),
    };
    let applied!: () => void;
    const work = new Promise<void>((r) => (applied = r));
    this.offerWork.set(m.callUuid, work);
    const finish = (res: OfferResult | { outcome: 'error' }) => {
      if (live.settled) return;
      live.settled = true;
      clearTimeout(live.guard);
      if (this.offers.get(m.callUuid) === live) this.offers.delete(m.callUuid);
      if (live.withdrawn) this.withdrawnOffers.delete(live);
      (live.withdrawn ? this.releaseOffer(m, res) : this.handleOfferResult(m, res))
        .catch((err: Error) => this.fail(err))
        .finally(() => {
          if (this.offerWork.get(m.callUuid) === work) this.offerWork.delete(m.callUuid);
          applied();
        });
    };
    this.offers.set(m.callUuid, live);
    const req: OfferRequest = {
      callUuid: m.callUuid,
      tenantId: m.tenantId,
      groupId: m.groupId,
      agent: m.agents[0]!,
      alsoRing: m.agents.slice(1),
      timeoutMs: m.noAnswerTimeoutMs,
      screenPop: m.screenPop,
      waitMs: m.waitMs,
      signal: ac.signal,
    };
    let p: Promise<OfferResult>;
    try {
      p = this.executor.offer(req);
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then(finish, (err: unknown) => {
      this.log?.error({ err, call: m.callUuid }, 'offer executor failed');
      finish({ outcome: 'error' });
    });
    const at = Date.now();
    const offered = { callUuid: m.callUuid, tenantId: m.tenantId, groupId: m.groupId, agentIds: m.agents.map((a) => a.agentId), screenPop: m.screenPop, decidedAt: at };
    this.emit('offer', offered);
    // the agents' WebSocket sessions may live on other nodes: they need the screen pop too
    void this.redis.publish(this.busChannel, JSON.stringify({ t: 'offer', o: offered, from: this.nodeId })).catch(() => {});
    for (const a of m.agents) {
      this.event('offer', { tenantId: m.tenantId, callUuid: m.callUuid, groupId: m.groupId, agentId: a.agentId, callerNumber: m.callerNumber, at, waitMs: m.waitMs });
    }
  }

  private async handleOfferResult(m: Match, res: OfferResult | { outcome: 'error' }): Promise<void> {
    const now = Date.now();
    if (res.outcome === 'caller_gone') {
      await this.abandon(m.callUuid);
      // this originate has ended: the agents the abandon held for it are free
      await this.releaseOffer(m);
      return;
    }
    if (res.outcome === 'answered') {
      const r = await this.store.run('answered', now, [m.callUuid, res.agentId]);
      this.process(r);
      if (r.kind !== 'ok') {
        this.log?.warn({ call: m.callUuid, agent: res.agentId, kind: r.kind }, 'answer for an offer no longer current');
        // the caller left (abandon) between the bridge and this: the agent's phone must not stay off-hook
        await this.releaseOffer(m, res);
        return;
      }
      const waitMs = Number(r.extra[1]);
      const meta = this.meta.get(m.callUuid);
      if (meta) meta.agentId = res.agentId;
      this.event('answer', { tenantId: m.tenantId, callUuid: m.callUuid, groupId: m.groupId, agentId: res.agentId, callerNumber: m.callerNumber, at: now, waitMs });
      this.finishCall(m.callUuid, m.tenantId, { outcome: 'answered', agentId: res.agentId, waitMs, agentLegUuid: res.legUuid }, true);
      this.queueChanged({ tenantId: m.tenantId, groupId: m.groupId });
      return;
    }
    const reason = res.outcome;
    const r = await this.store.run('offerFailed', now, [m.callUuid, reason, this.misses, 1]);
    const failedAgents = 'agentId' in res && res.agentId ? [res.agentId] : m.agents.map((a) => a.agentId);
    for (const agentId of failedAgents) {
      this.event(reason === 'rejected' ? 'reject' : 'no_answer', {
        tenantId: m.tenantId, callUuid: m.callUuid, groupId: m.groupId, agentId, callerNumber: m.callerNumber, at: now,
        waitMs: m.waitMs, detail: { reason },
      });
    }
    this.process(r);
    // the caller left (abandon seen on another node) before this result: the agents held for it are free now
    if (r.kind === 'stale') await this.releaseOffer(m);
    if (r.kind === 'requeued' && this.overdue.has(m.callUuid)) await this.overflow(m.callUuid, 'max_wait');
  }

  private onTransitions(trs: AgentTransition[], local: boolean): void {
    for (const tr of trs) {
      const prev = this.agentMirror.get(tr.agentId);
      // the call stays with the agent from the reservation through ringing and talking
      const keepsCall = tr.to === 'ringing' || tr.to === 'talking';
      const call = tr.callUuid ? { callUuid: tr.callUuid, ownerNode: tr.ownerNode ?? '' } : keepsCall && prev?.callUuid ? { callUuid: prev.callUuid, ownerNode: prev.ownerNode ?? '' } : {};
      if (tr.to === 'logged_out') this.agentMirror.delete(tr.agentId);
      else {
        const { callUuid: _c, ownerNode: _o, ...rest } = prev ?? ({} as Partial<AgentMirror>);
        this.agentMirror.set(tr.agentId, { ...rest, tenantId: tr.tenantId || prev?.tenantId || '', state: tr.to, reason: tr.reason, since: tr.at, ...call });
      }
      if (local && tr.tenantId) {
        this.opts.currentState?.push({
          redisPrefix: this.opts.prefix, agentId: tr.agentId, tenantId: tr.tenantId, state: tr.to, reason: tr.reason || null,
          since: new Date(tr.at), callUuid: call.callUuid ?? null, ownerNode: call.ownerNode ?? null,
        });
      }
      if (local && tr.fromSince !== null && tr.tenantId && this.opts.stateLog) {
        this.opts.stateLog.push({
          tenantId: tr.tenantId,
          agentId: tr.agentId,
          state: tr.from,
          reason: tr.fromReason || null,
          startedAt: new Date(tr.fromSince),
          endedAt: new Date(tr.at),
          durationMs: tr.at - tr.fromSince,
        });
      }
      this.emit('agentState', tr);
    }
    if (local) void this.redis.publish(this.busChannel, JSON.stringify({ t: 'agent', tr: trs, from: this.nodeId })).catch(() => {});
  }

  private handleMessage(channel: string, message: string): void {
    let msg: { t: string; po?: CallOutcome; callUuid?: string; tenantId?: string; waitMs?: number; m?: Match; tr?: AgentTransition[]; id?: string; from?: string; o?: OfferEvent; q?: { tenantId: string; groupId: string }[] };
    try {
      msg = JSON.parse(message);
    } catch {
      return;
    }
    if (channel === this.nodeChannel && msg.t === 'offer' && msg.m) {
      this.runOffer(msg.m);
    } else if (channel === this.nodeChannel && msg.t === 'picked' && msg.callUuid && msg.po) {
      this.withdrawOffer(msg.callUuid);
      this.finishCall(msg.callUuid, msg.tenantId ?? '', msg.po, true);
    } else if (channel === this.nodeChannel && msg.t === 'gone' && msg.callUuid) {
      this.withdrawOffer(msg.callUuid);
      this.finishCall(msg.callUuid, msg.tenantId ?? '', { outcome: 'abandoned', waitMs: msg.waitMs ?? 0 });
    } else if (channel === this.busChannel && msg.from !== this.nodeId) {
      if (msg.t === 'agent' && msg.tr) {
        this.onTransitions(msg.tr, false);
        // every node times every wrap-up, so one ends on time even if the node that started it dies
        for (const tr of msg.tr) if (tr.to === 'wrap_up') void this.followWrap(tr.agentId);
      }
      else if (msg.t === 'group' && msg.id) this.groups.delete(msg.id);
      else if (msg.t === 'offer' && msg.o) this.emit('offer', msg.o);
      else if (msg.t === 'queue' && msg.q) for (const q of msg.q) this.emit('queueChanged', q);
    }
  }

  /** Local listeners at once; other nodes (their wallboards) at most every 100 ms per group. */
  private queueChanged(q: { tenantId: string; groupId: string }): void {
    this.emit('queueChanged', q);
    this.pendingQueueChanges.set(q.groupId, q);
    if (this.queueChangeTimer) return;
    this.queueChangeTimer = setTimeout(() => {
      this.queueChangeTimer = null;
      const list = [...this.pendingQueueChanges.values()];
      this.pendingQueueChanges.clear();
      void this.redis.publish(this.busChannel, JSON.stringify({ t: 'queue', q: list, from: this.nodeId })).catch(() => {});
    }, 100);
    this.queueChangeTimer.unref?.();
  }

  private scheduleMaxWait(callUuid: string, ms: number): void {
    const t = this.callTimers.get(callUuid) ?? {};
    clearTimeout(t.maxWait);
    t.maxWait = setTimeout(() => void this.overflow(callUuid, 'max_wait').catch((e: Error) => this.fail(e)), Math.max(0, ms));
    this.callTimers.set(callUuid, t);
  }

  private schedulePrefTimeout(callUuid: string, ms: number): void {
    const t = this.callTimers.get(callUuid) ?? {};
    clearTimeout(t.pref);
    t.pref = setTimeout(() => {
      this.store
        .run('prefTimeout', Date.now(), [callUuid])
        .then((r) => this.process(r))
        .catch((e: Error) => this.fail(e));
    }, Math.max(0, ms));
    this.callTimers.set(callUuid, t);
  }

  private async followWrap(agentId: string): Promise<void> {
    const wu = await this.redis.hget(this.store.key('agt', agentId), 'wu').catch(() => null);
    const mirrored = this.agentMirror.get(agentId);
    if (wu && mirrored) mirrored.wrapUntil = Number(wu);
    if (wu && this.started) this.scheduleWrap(agentId, Number(wu));
  }

  private scheduleWrap(agentId: string, until: number): void {
    clearTimeout(this.wrapTimers.get(agentId));
    const t = setTimeout(() => {
      this.wrapTimers.delete(agentId);
      this.store
        .run('wrapDone', Date.now(), [agentId, 0])
        .then((r) => {
          this.process(r);
          if (r.kind === 'early') this.scheduleWrap(agentId, Number(r.extra[0]));
        })
        .catch((e: Error) => this.fail(e));
    }, Math.max(0, until - Date.now()));
    this.wrapTimers.set(agentId, t);
  }

  /** Max wait reached: take the caller out (not while an agent is being rung) and send them to the overflow target. */
  private async overflow(callUuid: string, reason: 'max_wait'): Promise<void> {
    const now = Date.now();
    const r = await this.store.run('takeForOverflow', now, [callUuid]);
    if (r.kind === 'busy') {
      if (r.extra[0] === 'offering') this.overdue.add(callUuid);
      return;
    }
    this.overdue.delete(callUuid);
    const [groupId, arr, tenantId, caller, popRaw] = r.extra as [string, string, string, string, string];
    const waitMs = now - Number(arr);
    const cfg = await this.groupConfig(groupId);
    const target: OverflowTarget = cfg?.overflowOnWait ?? { kind: 'goodbye' };
    this.event('overflow', { tenantId, callUuid, groupId, callerNumber: caller, at: now, waitMs, detail: { reason, target } });
    this.queueChanged({ tenantId, groupId });
    const meta = this.meta.get(callUuid);
    const hops = meta?.hops ?? 0;
    if (target.kind === 'group' && target.groupId && hops < (this.opts.maxOverflowHops ?? 3)) {
      this.clearCallTimers(callUuid);
      let screenPop: ScreenPop | undefined;
      try {
        screenPop = popRaw ? (JSON.parse(popRaw) as ScreenPop) : undefined;
      } catch {
        screenPop = undefined;
      }
      await this.enqueueHop(
        { callUuid, tenantId, groupId: target.groupId, callerNumber: caller, vip: meta?.vip, priority: meta?.priority, arrivalMs: Number(arr), ...(screenPop ? { screenPop } : {}) },
        hops + 1,
      );
      return;
    }
    this.finishCall(callUuid, tenantId, { outcome: 'overflow', target, reason, waitMs });
  }

  private clearCallTimers(callUuid: string): void {
    const t = this.callTimers.get(callUuid);
    if (t) {
      clearTimeout(t.maxWait);
      clearTimeout(t.pref);
      this.callTimers.delete(callUuid);
    }
  }

  private finishCall(callUuid: string, tenantId: string, o: CallOutcome, keepMeta = false): void {
    this.clearCallTimers(callUuid);
    this.overdue.delete(callUuid);
    if (!keepMeta) this.meta.delete(callUuid);
    const d = this.waiters.get(callUuid);
    if (d) {
      this.waiters.delete(callUuid);
      d.resolve(o);
    }
    this.emit('callOutcome', { callUuid, tenantId, ...o });
  }

  /**
   * Take over the waiting callers of a node that is gone for good (after this node's call layer re-attached
   * their parked channels). Their queue positions are kept.
   */
  async adoptNode(deadNodeId: string): Promise<AdoptedCall[]> {
    return this.adopt(deadNodeId);
  }

  private async adopt(fromNode = this.nodeId): Promise<AdoptedCall[]> {
    const r = await this.store.run('adopt', Date.now(), [fromNode, this.nodeId]);
    this.process(r);
    const out: AdoptedCall[] = [];
    const now = Date.now();
    for (const line of r.extra) {
      const [callUuid, state, groupId, arr, tenantId] = line.split('|') as [string, string, string, string, string];
      out.push({ callUuid, state, groupId, tenantId });
      if (state !== 'waiting' && state !== 'pref' && state !== 'offering') continue;
      if (!this.waiters.has(callUuid)) this.waiters.set(callUuid, deferred());
      const cfg = await this.groupConfig(groupId);
      if (cfg?.maxWaitMs) this.scheduleMaxWait(callUuid, Number(arr) + cfg.maxWaitMs - now);
      if (state === 'pref') this.schedulePrefTimeout(callUuid, Number(arr) + (cfg?.previousAgentWaitMs ?? 0) - now);
    }
    if (out.length) this.log?.info({ adopted: out.length }, 're-adopted waiting callers');
    return out;
  }

  /** The caller → previous agent map lives in Redis with a TTL; after Redis lost it, reload it from queue_events. */
  async rebuildPreviousAgents(tenantId: string): Promise<void> {
    let p = this.prevRebuilds.get(tenantId);
    if (!p) {
      p = (async () => {
        const windowMs = 7 * 24 * 3600 * 1000;
        let rows: PreviousAgentRecord[];
        try {
          rows = this.opts.loadPreviousAgents ? await withTimeout(this.opts.loadPreviousAgents(tenantId, windowMs), PREV_LOAD_TIMEOUT_MS) : [];
        } catch (err) {
          // calls must not wait on PostgreSQL: route without the history for a while (answers made meanwhile are
          // still remembered in Redis), then try again; the reload only adds callers Redis does not know (NX)
          this.log?.warn({ err: (err as Error).message, tenant: tenantId }, 'previous agents not loaded; routing without them for 30 s');
          await this.redis.set(this.store.key('prev', tenantId, 'built'), 'unloaded', 'PX', PREV_RETRY_MS);
          return;
        }
        const now = Date.now();
        const pipe = this.redis.pipeline();
        for (const row of rows) {
          const ttl = windowMs - (now - row.at);
          if (ttl > 0) pipe.set(this.store.key('prev', tenantId, row.callerNumber), row.agentId, 'PX', ttl, 'NX');
        }
        pipe.set(this.store.key('prev', tenantId, 'built'), String(now));
        await pipe.exec();
      })().finally(() => this.prevRebuilds.delete(tenantId));
      this.prevRebuilds.set(tenantId, p);
    }
    await p;
  }

  private event(
    type: QueueEventType,
    e: { tenantId: string; callUuid: string; groupId?: string | undefined; agentId?: string | undefined; callerNumber?: string; at: number; waitMs?: number; talkMs?: number; detail?: Record<string, unknown> | null },
  ): void {
    this.opts.queueEvents?.push({
      tenantId: e.tenantId,
      type,
      callUuid: e.callUuid,
      groupId: e.groupId || null,
      agentId: e.agentId || null,
      callerNumber: e.callerNumber || null,
      at: new Date(e.at),
      waitMs: e.waitMs ?? null,
      talkMs: e.talkMs ?? null,
      detail: e.detail ?? null,
    });
  }

  private fail(err: Error): void {
    this.log?.error({ err }, 'acd error');
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }
}

function deferred(): Deferred {
  let resolve!: (o: CallOutcome) => void;
  const promise = new Promise<CallOutcome>((r) => (resolve = r));
  return { promise, resolve };
}

/** the previous-agent history may delay a caller's enqueue this long at most (PostgreSQL slow or down) */
const PREV_LOAD_TIMEOUT_MS = 2000;
/** after a failed history load, route without it this long before trying again */
const PREV_RETRY_MS = 30_000;
