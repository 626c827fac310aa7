// The WebSocket hub of one node: who is connected here, and what each gets pushed. The ACD engine emits its
// events (agentState, offer, queueChanged) on every node, and text messages arrive over the WsBus, so an agent
// connected to any node gets their events. Figures (queue stats, agent list changes, wallboards) are coalesced
// on one tick (~1/s) and dropped for a socket that is not draining its buffer, never buffered without bound.
import type { WebSocket } from 'ws';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import type { Db } from '../db/client.js';
import type { AcdEngine, AgentSnapshot, GroupStats } from '../acd/engine.js';
import type { OfferEvent, ScreenPop } from '../acd/types.js';
import type { AgentTransition, AgentState } from '../agents/states.js';
import { AGENT_STATES, isOnCall } from '../agents/states.js';
import type { AuthUser } from '../auth/sessions.js';
import { listGroups } from '../acd/groups.js';
import { dayKpis, type DayKpis } from '../acd/kpi.js';
import { LruCache } from './lru.js';
import { completeScreenPop, type OfferScreenPop, type ScreenPopDeps } from './screen-pop.js';
import { CALL_STATE_LABELS, PROTOCOL_VERSION, stateLabel, type CallStateName } from './protocol.js';
import type { MessageDelivery } from './agent-messages.js';
import { agentSnapshot } from './agent-commands.js';

export interface WsClient {
  ws: WebSocket;
  user: AuthUser;
  kind: 'agent' | 'wallboard';
  /** the session token, re-checked periodically (a lock screen or logout ends the socket) */
  token: string;
  /** agent: the skill groups whose queue stats it gets */
  groups: Set<string>;
  alive: boolean;
  /** the call this agent was last offered or on, for call.state */
  callUuid: string | null;
  lastState: AgentState | null;
  /** coalesced pushes skipped for backpressure: re-sent on the next tick */
  resync: Set<'queue' | 'agents' | 'wallboard'>;
  /** inbound rate limit (token bucket) */
  tokens: number;
  refilledAt: number;
}

export interface AgentListEntry {
  agentId: string;
  loginId: string;
  name: string;
  extension: string | null;
  state: AgentState;
  label: string;
  reason: string;
  since: number | null;
}

export interface GroupFigures extends GroupStats {
  name: string;
}

export interface HubOptions {
  engine: AcdEngine;
  db: Db;
  pool: pg.Pool;
  redis: Redis;
  redisPrefix: string;
  log: Logger;
  screenPop: ScreenPopDeps;
  /** coalescing tick for queue stats, agent list changes and wallboards (default 1000 ms) */
  tickMs?: number;
  /** how often day KPIs may be recomputed for a wallboard tenant with queue activity (default 5000 ms) */
  kpiRefreshMs?: number;
  /** a wallboard is refreshed at least this often so longest-wait figures move (default 5000 ms) */
  wallboardRefreshMs?: number;
}

/** a socket with more than this queued skips coalesced figures until it drains */
const SOFT_BUFFER_BYTES = 256 * 1024;
/** a socket with more than this queued is cut off; the client reconnects and gets the full state */
const HARD_BUFFER_BYTES = 4 * 1024 * 1024;
const POP_TTL_S = 12 * 3600;

type Outbound = { type: string } & Record<string, unknown>;

export class WsHub {
  private readonly byUser = new Map<string, Set<WsClient>>();
  private readonly byTenant = new Map<string, Set<WsClient>>();
  private readonly dirtyGroups = new Map<string, string>(); // groupId -> tenantId
  private readonly dirtyAgents = new Map<string, Set<string>>(); // tenantId -> agentIds
  private readonly dirtyWallboards = new Set<string>();
  private readonly kpiCache = new Map<string, { at: number; kpis: DayKpis | null; stale: boolean }>();
  private readonly statsCache = new Map<string, GroupFigures>();
  private readonly userCache: LruCache<string, { loginId: string; name: string; extension: string | null }>;
  private readonly popCache = new LruCache<string, OfferScreenPop>(2000, 10 * 60_000);
  private readonly groupNames = new LruCache<string, Map<string, string>>(1000, 30_000);
  private tick: NodeJS.Timeout | null = null;
  private lastWallboardRefresh = 0;
  private ticking = false;
  private readonly tickMs: number;
  private readonly kpiRefreshMs: number;
  private readonly wallboardRefreshMs: number;

  private readonly onAgentState = (tr: AgentTransition) => void this.agentStateChanged(tr).catch((err: Error) => this.fail(err));
  private readonly onOffer = (o: OfferEvent) => void this.offered(o).catch((err: Error) => this.fail(err));
  private readonly onQueue = (q: { tenantId: string; groupId: string }) => this.queueChanged(q);

  constructor(private readonly opts: HubOptions) {
    this.tickMs = opts.tickMs ?? 1000;
    this.kpiRefreshMs = opts.kpiRefreshMs ?? 5000;
    this.wallboardRefreshMs = opts.wallboardRefreshMs ?? 5000;
    this.userCache = new LruCache(20_000, 5 * 60_000);
  }

  start(): void {
    const { engine } = this.opts;
    engine.on('agentState', this.onAgentState);
    engine.on('offer', this.onOffer);
    engine.on('queueChanged', this.onQueue);
    this.tick = setInterval(() => void this.flush(), this.tickMs);
    this.tick.unref();
  }

  stop(): void {
    const { engine } = this.opts;
    engine.off('agentState', this.onAgentState);
    engine.off('offer', this.onOffer);
    engine.off('queueChanged', this.onQueue);
    if (this.tick) clearInterval(this.tick);
    this.tick = null;
  }

  get clients(): WsClient[] {
    return [...this.byTenant.values()].flatMap((s) => [...s]);
  }

  add(c: WsClient): void {
    let u = this.byUser.get(c.user.userId);
    if (!u) this.byUser.set(c.user.userId, (u = new Set()));
    u.add(c);
    let t = this.byTenant.get(c.user.tenantId);
    if (!t) this.byTenant.set(c.user.tenantId, (t = new Set()));
    t.add(c);
  }

  remove(c: WsClient): void {
    const u = this.byUser.get(c.user.userId);
    u?.delete(c);
    if (u && u.size === 0) this.byUser.delete(c.user.userId);
    const t = this.byTenant.get(c.user.tenantId);
    t?.delete(c);
    if (t && t.size === 0) this.byTenant.delete(c.user.tenantId);
  }

  /**
   * Sends one frame. Coalesced figures are skipped while the socket's buffer is backed up (and re-sent on the next
   * tick); any frame to a socket hopelessly behind closes it, so a slow client never grows this process's memory.
   */
  send(c: WsClient, msg: Outbound, coalesced?: 'queue' | 'agents' | 'wallboard'): boolean {
    if (c.ws.readyState !== c.ws.OPEN) return false;
    if (c.ws.bufferedAmount > HARD_BUFFER_BYTES) {
      this.opts.log.warn({ user: c.user.userId }, 'websocket client too far behind, closing it');
      c.ws.terminate();
      return false;
    }
    if (coalesced && c.ws.bufferedAmount > SOFT_BUFFER_BYTES) {
      c.resync.add(coalesced);
      return false;
    }
    if (coalesced) c.resync.delete(coalesced);
    c.ws.send(JSON.stringify({ v: PROTOCOL_VERSION, ...msg }));
    return true;
  }

  // ------------------------------------------------------------------------------------------ what an agent sees

  agentStateMessage(s: AgentSnapshot): Outbound {
    return {
      type: 'agent.state',
      state: s.state,
      label: stateLabel(s.state),
      reason: s.reason,
      since: s.since,
      pendingNotReady: s.pendingNotReady,
      callUuid: s.callUuid,
      endpoint: s.endpoint,
      callsToday: s.callsToday,
      groups: s.groups,
    };
  }

  callStateMessage(callUuid: string, state: CallStateName, extra: Record<string, unknown> = {}): Outbound {
    return { type: 'call.state', callUuid, state, label: CALL_STATE_LABELS[state], at: Date.now(), ...extra };
  }

  private popKey(callUuid: string): string {
    return `${this.opts.redisPrefix}:ws:pop:${callUuid}`;
  }

  /** The full pop of a call: this node's cache, the copy kept in Redis, or the ACD's own call record. */
  async screenPopOf(tenantId: string, callUuid: string, raw?: ScreenPop): Promise<OfferScreenPop | null> {
    const cached = this.popCache.get(callUuid);
    if (cached) return cached;
    const kept = await this.opts.redis.get(this.popKey(callUuid)).catch(() => null);
    if (kept) {
      const pop = JSON.parse(kept) as OfferScreenPop;
      this.popCache.set(callUuid, pop);
      return pop;
    }
    let source = raw;
    if (!source) {
      const fromAcd = await this.opts.redis.hget(this.opts.engine.store.key('call', callUuid), 'pop').catch(() => null);
      if (fromAcd) source = JSON.parse(fromAcd) as ScreenPop;
    }
    if (!source) return null;
    const pop = await completeScreenPop(this.opts.screenPop, tenantId, callUuid, source);
    this.popCache.set(callUuid, pop);
    // kept past the ACD's call record (dropped at hang-up) so a reconnect during wrap-up still shows the caller
    await this.opts.redis.set(this.popKey(callUuid), JSON.stringify(pop), 'EX', POP_TTL_S).catch(() => undefined);
    return pop;
  }

  private async offered(o: OfferEvent): Promise<void> {
    const local = o.agentIds.flatMap((a) => [...(this.byUser.get(a) ?? [])].filter((c) => c.kind === 'agent'));
    if (local.length === 0) return;
    const pop = await this.screenPopOf(o.tenantId, o.callUuid, o.screenPop);
    const groupName = (await this.opts.engine.groupConfig(o.groupId).catch(() => null))?.name ?? null;
    for (const c of local) {
      if (c.user.tenantId !== o.tenantId) continue;
      c.callUuid = o.callUuid;
      this.send(c, { type: 'call.offer', callUuid: o.callUuid, groupId: o.groupId, groupName, offeredAt: o.decidedAt, ringAll: o.agentIds.length > 1, screenPop: pop });
      this.send(c, this.callStateMessage(o.callUuid, 'offered'));
    }
  }

  /** A call handed to the agent by a transfer or pickup: the same call.offer, marked `transferred`. */
  async transferred(p: { tenantId: string; agentId: string; callUuid: string; data: ScreenPop }): Promise<void> {
    const mine = [...(this.byUser.get(p.agentId) ?? [])].filter((c) => c.kind === 'agent' && c.user.tenantId === p.tenantId);
    if (mine.length === 0) return;
    // the transfer's pop replaces what was kept for the call (the IVR data the transferring agent attached)
    this.popCache.delete(p.callUuid);
    await this.opts.redis.del(this.popKey(p.callUuid)).catch(() => undefined);
    const pop = await this.screenPopOf(p.tenantId, p.callUuid, { ...p.data, callerNumber: p.data.callerNumber ?? '' });
    for (const c of mine) {
      c.callUuid = p.callUuid;
      this.send(c, { type: 'call.offer', callUuid: p.callUuid, groupId: null, groupName: null, offeredAt: Date.now(), ringAll: false, transferred: true, screenPop: pop });
    }
  }

  private async agentStateChanged(tr: AgentTransition): Promise<void> {
    this.markAgentDirty(tr.tenantId, tr.agentId);
    if (this.wallboardsOf(tr.tenantId).length > 0) this.dirtyWallboards.add(tr.tenantId);
    const mine = [...(this.byUser.get(tr.agentId) ?? [])].filter((c) => c.kind === 'agent' && c.user.tenantId === tr.tenantId);
    if (mine.length === 0) return;
    const s = await agentSnapshot(this.opts.engine, tr.tenantId, tr.agentId).catch(() => null);
    for (const c of mine) {
      if (s) {
        for (const g of s.groups) c.groups.add(g);
        this.send(c, this.agentStateMessage(s));
      }
      const cs = callStateFor(tr.from, tr.to);
      // a call that just ended or went unanswered is the one this socket knew; a new one comes from the snapshot
      const call = cs === 'talking' ? (s?.callUuid ?? c.callUuid) : (c.callUuid ?? s?.callUuid);
      if (cs && call) this.send(c, this.callStateMessage(call, cs));
      if (s?.callUuid) c.callUuid = s.callUuid;
      else if (!isOnCall(tr.to)) c.callUuid = null;
      c.lastState = tr.to;
    }
  }

  // ------------------------------------------------------------------------------------------ agent list (seed 002 (7))

  private markAgentDirty(tenantId: string, agentId: string): void {
    if (!this.byTenant.has(tenantId)) return;
    let s = this.dirtyAgents.get(tenantId);
    if (!s) this.dirtyAgents.set(tenantId, (s = new Set()));
    s.add(agentId);
  }

  private async usersOf(tenantId: string, ids: string[]): Promise<Map<string, { loginId: string; name: string; extension: string | null }>> {
    const out = new Map<string, { loginId: string; name: string; extension: string | null }>();
    const missing: string[] = [];
    for (const id of ids) {
      const u = this.userCache.get(`${tenantId}|${id}`);
      if (u) out.set(id, u);
      else missing.push(id);
    }
    if (missing.length) {
      const { rows } = await this.opts.pool.query<{ id: string; login_id: string; display_name: string; extension: string | null }>(
        'select id, login_id, display_name, extension from users where tenant_id = $1 and id = any($2::uuid[])',
        [tenantId, missing],
      );
      for (const r of rows) {
        const u = { loginId: r.login_id, name: r.display_name, extension: r.extension };
        this.userCache.set(`${tenantId}|${r.id}`, u);
        out.set(r.id, u);
      }
    }
    return out;
  }

  private async entries(tenantId: string, snaps: AgentSnapshot[]): Promise<AgentListEntry[]> {
    const names = await this.usersOf(tenantId, snaps.map((s) => s.agentId));
    return snaps
      .filter((s) => names.has(s.agentId))
      .map((s) => {
        const u = names.get(s.agentId)!;
        return { agentId: s.agentId, loginId: u.loginId, name: u.name, extension: u.extension, state: s.state, label: stateLabel(s.state), reason: s.reason, since: s.since };
      })
      .sort((a, b) => a.loginId.localeCompare(b.loginId));
  }

  /** Every signed-in agent of the center with number (工号), name and state. */
  async agentList(tenantId: string): Promise<AgentListEntry[]> {
    return this.entries(tenantId, await this.opts.engine.signedInAgents(tenantId));
  }

  // ------------------------------------------------------------------------------------------ queue stats

  private queueChanged(q: { tenantId: string; groupId: string }): void {
    this.dirtyGroups.set(q.groupId, q.tenantId);
    const k = this.kpiCache.get(q.tenantId);
    if (k) k.stale = true;
    if (this.wallboardsOf(q.tenantId).length > 0) this.dirtyWallboards.add(q.tenantId);
  }

  async groupFigures(groupId: string): Promise<GroupFigures> {
    const [stats, cfg] = await Promise.all([this.opts.engine.groupStats(groupId), this.opts.engine.groupConfig(groupId).catch(() => null)]);
    const f = { ...stats, name: cfg?.name ?? '' };
    this.statsCache.set(groupId, f);
    return f;
  }

  async queueStatsMessage(c: WsClient): Promise<Outbound> {
    const groups: GroupFigures[] = [];
    for (const g of c.groups) groups.push(this.statsCache.get(g) ?? (await this.groupFigures(g)));
    return { type: 'queue.stats', at: Date.now(), groups };
  }

  // ------------------------------------------------------------------------------------------ wallboard

  private wallboardsOf(tenantId: string): WsClient[] {
    return [...(this.byTenant.get(tenantId) ?? [])].filter((c) => c.kind === 'wallboard');
  }

  private async kpisOf(tenantId: string): Promise<DayKpis | null> {
    const k = this.kpiCache.get(tenantId);
    const now = Date.now();
    // recomputed after queue activity, at most every kpiRefreshMs (one query set per center, not per socket), and
    // once a minute regardless, so the figures turn over at midnight and catch up with batched event writes
    if (k && now - k.at < (k.stale ? this.kpiRefreshMs : 60_000)) return k.kpis;
    const tz = (await this.opts.pool.query<{ timezone: string }>('select timezone from tenants where id = $1', [tenantId])).rows[0]?.timezone;
    const kpis = await dayKpis(this.opts.pool, tenantId, undefined, tz ?? 'Asia/Shanghai').catch((err: Error) => {
      this.fail(err);
      return k?.kpis ?? null;
    });
    this.kpiCache.set(tenantId, { at: now, kpis, stale: false });
    return kpis;
  }

  private async namesOfGroups(tenantId: string): Promise<Map<string, string>> {
    let m = this.groupNames.get(tenantId);
    if (!m) {
      m = new Map((await listGroups(this.opts.db, tenantId)).map((g) => [g.id, g.name]));
      this.groupNames.set(tenantId, m);
    }
    return m;
  }

  /** The wallboard frame of one center: per group and for the whole center. */
  async wallboardMessage(tenantId: string): Promise<Outbound> {
    const [names, kpis, snaps] = await Promise.all([this.namesOfGroups(tenantId), this.kpisOf(tenantId), this.opts.engine.signedInAgents(tenantId)]);
    const groups = [];
    let waiting = 0;
    let longestWaitMs = 0;
    for (const [groupId, name] of names) {
      const s = await this.opts.engine.groupStats(groupId);
      const k = kpis?.groups.find((g) => g.groupId === groupId);
      waiting += s.waiting;
      longestWaitMs = Math.max(longestWaitMs, s.longestWaitMs);
      groups.push({
        groupId,
        name,
        waiting: s.waiting,
        longestWaitMs: s.longestWaitMs,
        readyAgents: s.readyAgents,
        agentsByState: s.agentsByState,
        askedToday: k?.asked ?? 0,
        answeredToday: k?.answered ?? 0,
        abandonedToday: k?.abandoned ?? 0,
        serviceLevel20s: k?.serviceLevel20s ?? null,
        answerRate: k?.answerRate ?? null,
      });
    }
    const agentsByState: Partial<Record<AgentState, number>> = {};
    for (const st of AGENT_STATES) if (st !== 'logged_out') agentsByState[st] = 0;
    for (const s of snaps) agentsByState[s.state] = (agentsByState[s.state] ?? 0) + 1;
    return {
      type: 'wallboard',
      at: Date.now(),
      day: kpis?.day ?? null,
      center: {
        waiting,
        longestWaitMs,
        signedIn: snaps.length,
        agentsByState,
        askedToday: kpis?.total.asked ?? 0,
        answeredToday: kpis?.total.answered ?? 0,
        abandonedToday: kpis?.total.abandoned ?? 0,
        serviceLevel20s: kpis?.total.serviceLevel20s ?? null,
        answerRate: kpis?.total.answerRate ?? null,
        systemLossRate: kpis?.total.systemLossRate ?? null,
      },
      groups,
      agents: await this.entries(tenantId, snaps),
    };
  }

  /** After a skill group edit, the wallboard's group list must be re-read. */
  forgetGroups(tenantId: string): void {
    this.groupNames.delete(tenantId);
    this.dirtyWallboards.add(tenantId);
  }

  // ------------------------------------------------------------------------------------------ messages

  deliver(d: MessageDelivery): void {
    const targets = d.recipients ? d.recipients.flatMap((id) => [...(this.byUser.get(id) ?? [])]) : [...(this.byTenant.get(d.tenantId) ?? [])];
    for (const c of targets) if (c.user.tenantId === d.tenantId) this.send(c, { type: 'message', message: d.message });
  }

  // ------------------------------------------------------------------------------------------ the tick

  /** One coalesced push of everything that changed since the last tick. */
  async flush(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const groups = new Set(this.dirtyGroups.keys());
      this.dirtyGroups.clear();
      for (const g of groups) await this.groupFigures(g).catch((err: Error) => this.fail(err));
      const agents = new Map(this.dirtyAgents);
      this.dirtyAgents.clear();
      const now = Date.now();
      if (now - this.lastWallboardRefresh >= this.wallboardRefreshMs) {
        this.lastWallboardRefresh = now;
        for (const [t, set] of this.byTenant) if ([...set].some((c) => c.kind === 'wallboard')) this.dirtyWallboards.add(t);
      }
      const wallboards = new Set(this.dirtyWallboards);
      this.dirtyWallboards.clear();

      for (const [tenantId, set] of this.byTenant) {
        const changed = agents.get(tenantId);
        let update: AgentListEntry[] | null = null;
        let removed: string[] = [];
        if (changed) {
          const snaps = await Promise.all([...changed].map((id) => this.opts.engine.agent(id).catch(() => null)));
          const live = snaps.filter((s): s is AgentSnapshot => !!s && s.tenantId === tenantId && s.state !== 'logged_out');
          update = await this.entries(tenantId, live);
          removed = [...changed].filter((id) => !live.some((s) => s.agentId === id));
        }
        let board: Outbound | null = null;
        for (const c of set) {
          if (c.kind === 'agent') {
            if ([...c.groups].some((g) => groups.has(g)) || c.resync.has('queue')) this.send(c, await this.queueStatsMessage(c), 'queue');
            if (c.resync.has('agents')) this.send(c, { type: 'agents.list', agents: await this.agentList(tenantId) }, 'agents');
            else if (update) this.send(c, { type: 'agents.update', agents: update, removed }, 'agents');
          } else if (wallboards.has(tenantId) || c.resync.has('wallboard')) {
            board ??= await this.wallboardMessage(tenantId);
            this.send(c, board, 'wallboard');
          }
        }
      }
    } catch (err) {
      this.fail(err as Error);
    } finally {
      this.ticking = false;
    }
  }

  private fail(err: Error): void {
    this.opts.log.error({ err }, 'websocket hub error');
  }
}

/** The agent's call as seen from their state change. */
function callStateFor(from: AgentState, to: AgentState): CallStateName | null {
  if (to === 'talking') return 'talking';
  if (from === 'talking') return to === 'wrap_up' ? 'wrap_up' : 'ended';
  if (from === 'wrap_up') return null;
  if ((from === 'reserved' || from === 'ringing') && to !== 'ringing') return 'missed';
  return null;
}
