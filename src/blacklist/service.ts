// BlacklistService (恶意号码拦截): screens a caller before the IVR answers, from a per-node in-memory cache, so a call
// costs no database round-trip. Every change reloads the tenant here and is announced on Redis pub/sub
// (<prefix>:blacklist:changed) so the other nodes reload it too. A blocked call is rejected unanswered and logged.
import { and, desc, eq, gt, isNull, or, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import type { Db } from '../db/client.js';
import type { CallMedia } from '../calls/media.js';
import type { UserRole } from '../db/schema/core.js';
import {
  blacklistEntries,
  blacklistHits,
  blacklistProposals,
  blacklistSettings,
  type BlacklistEntry,
  type BlacklistMatchKind,
  type BlacklistProposal,
} from '../db/schema/ivr.js';
import { TenantBlacklist, normalizeNumber, isValidNumber, type CachedEntry } from './matcher.js';

export type BlacklistEditors = 'admin' | 'admin+supervisor';
export const BLACKLIST_EDITORS: readonly BlacklistEditors[] = ['admin', 'admin+supervisor'];

export interface BlacklistServiceOptions {
  db: Db;
  /** command connection (publishes changes) */
  redis: Redis;
  /** a dedicated subscriber connection; default redis.duplicate() */
  subscriber?: Redis;
  redisPrefix: string;
  log?: Logger;
  now?: () => Date;
}

export class BlacklistError extends Error {
  override name = 'BlacklistError';
  constructor(
    readonly code: 'bad_number' | 'duplicate' | 'not_found' | 'not_pending',
    message: string,
  ) {
    super(message);
  }
}

export interface NewEntry {
  number: string;
  match?: BlacklistMatchKind;
  reason: string;
  expiresAt?: Date | null;
  createdBy: string;
}

export class BlacklistService {
  private readonly lists = new Map<string, TenantBlacklist>();
  /** per-tenant reload generation: a slow older reload never overwrites a newer one */
  private readonly gen = new Map<string, number>();
  private readonly channel: string;
  private subscriber?: Redis;
  private ownSubscriber = false;
  private readonly now: () => Date;

  constructor(private readonly opts: BlacklistServiceOptions) {
    this.channel = `${opts.redisPrefix}:blacklist:changed`;
    this.now = opts.now ?? (() => new Date());
  }

  /** Subscribe first (so no change slips between the load and the subscription), then load every tenant. */
  async start(): Promise<void> {
    this.subscriber = this.opts.subscriber ?? this.opts.redis.duplicate();
    this.ownSubscriber = this.opts.subscriber === undefined;
    this.subscriber.on('message', (ch: string, tenantId: string) => {
      if (ch !== this.channel) return;
      this.reload(tenantId).catch((err) => this.opts.log?.error({ err, tenantId }, 'blacklist reload failed'));
    });
    await this.subscriber.subscribe(this.channel);
    const genAtStart = new Map(this.gen);
    const rows = await this.opts.db.select().from(blacklistEntries).where(this.notExpired());
    const byTenant = new Map<string, CachedEntry[]>();
    for (const r of rows) {
      if (!byTenant.has(r.tenantId)) byTenant.set(r.tenantId, []);
      byTenant.get(r.tenantId)!.push(toCached(r));
    }
    // a tenant reloaded by a change message meanwhile already holds newer data than this bulk read
    for (const [t, list] of byTenant) if ((this.gen.get(t) ?? 0) === (genAtStart.get(t) ?? 0)) this.lists.set(t, new TenantBlacklist(list));
    this.opts.log?.info({ tenants: byTenant.size, entries: rows.length }, 'blacklist loaded');
  }

  async stop(): Promise<void> {
    if (!this.subscriber) return;
    await this.subscriber.unsubscribe(this.channel).catch(() => {});
    if (this.ownSubscriber) this.subscriber.disconnect();
    this.subscriber = undefined;
  }

  private notExpired() {
    return or(isNull(blacklistEntries.expiresAt), gt(blacklistEntries.expiresAt, this.now()));
  }

  /** Re-read one tenant from PostgreSQL into the cache. */
  async reload(tenantId: string): Promise<void> {
    const g = (this.gen.get(tenantId) ?? 0) + 1;
    this.gen.set(tenantId, g);
    const rows = await this.opts.db
      .select()
      .from(blacklistEntries)
      .where(and(eq(blacklistEntries.tenantId, tenantId), this.notExpired()));
    if (this.gen.get(tenantId) !== g) return;
    this.lists.set(tenantId, new TenantBlacklist(rows.map(toCached)));
  }

  private async changed(tenantId: string): Promise<void> {
    await this.reload(tenantId);
    await this.opts.redis.publish(this.channel, tenantId);
  }

  /** Synchronous, from memory: the entry blocking this caller, or null. */
  check(tenantId: string, callerNumber: string): CachedEntry | null {
    return this.lists.get(tenantId)?.match(normalizeNumber(callerNumber), this.now()) ?? null;
  }

  /**
   * Call this before the IVR answers. A listed caller is rejected without answer (CALL_REJECTED: the caller is
   * not charged) and the hit is logged; returns true when the call was rejected.
   */
  async screen(tenantId: string, callerNumber: string, media: CallMedia, log?: Logger): Promise<boolean> {
    const entry = this.check(tenantId, callerNumber);
    if (!entry) return false;
    (log ?? this.opts.log)?.info({ call: media.uuid, caller: callerNumber, entry: entry.id, reason: entry.reason }, 'blacklisted caller rejected');
    await media.reject('CALL_REJECTED');
    // the hit is bookkeeping: never let it delay or fail call handling
    void this.recordHit(tenantId, entry, callerNumber, media.uuid);
    return true;
  }

  async recordHit(tenantId: string, entry: CachedEntry, callerNumber: string, callUuid?: string): Promise<void> {
    try {
      const at = this.now();
      // one statement: nobody ever sees the hit row without its count (or the count without its row)
      await this.opts.db.execute(sql`
        with hit as (
          insert into ${blacklistHits} (tenant_id, entry_id, caller_number, call_uuid, at)
          values (${tenantId}, ${entry.id}, ${callerNumber}, ${callUuid ?? null}, ${at.toISOString()})
        )
        update ${blacklistEntries} set hit_count = hit_count + 1, last_hit_at = ${at.toISOString()}
        where tenant_id = ${tenantId} and id = ${entry.id}`);
    } catch (err) {
      this.opts.log?.error({ err, entry: entry.id }, 'blacklist hit not recorded');
    }
  }

  // --- administration ------------------------------------------------------------------------------------------
  async list(tenantId: string, opts: { includeExpired?: boolean } = {}): Promise<BlacklistEntry[]> {
    const where = opts.includeExpired ? eq(blacklistEntries.tenantId, tenantId) : and(eq(blacklistEntries.tenantId, tenantId), this.notExpired());
    return this.opts.db.select().from(blacklistEntries).where(where).orderBy(desc(blacklistEntries.createdAt));
  }

  async add(tenantId: string, e: NewEntry): Promise<BlacklistEntry> {
    const number = normalizeNumber(e.number);
    if (!isValidNumber(number)) throw new BlacklistError('bad_number', `号码 ${e.number} 无效`);
    const match = e.match ?? 'exact';
    const [row] = await this.opts.db
      .insert(blacklistEntries)
      .values({ tenantId, number, match, reason: e.reason, expiresAt: e.expiresAt ?? null, createdBy: e.createdBy })
      .onConflictDoNothing()
      .returning();
    if (!row) throw new BlacklistError('duplicate', `号码 ${number} 已在黑名单中`);
    await this.changed(tenantId);
    return row;
  }

  async update(tenantId: string, id: string, patch: { reason?: string; expiresAt?: Date | null }): Promise<BlacklistEntry> {
    const [row] = await this.opts.db
      .update(blacklistEntries)
      .set(patch)
      .where(and(eq(blacklistEntries.tenantId, tenantId), eq(blacklistEntries.id, id)))
      .returning();
    if (!row) throw new BlacklistError('not_found', '黑名单记录不存在');
    await this.changed(tenantId);
    return row;
  }

  async remove(tenantId: string, id: string): Promise<void> {
    const rows = await this.opts.db
      .delete(blacklistEntries)
      .where(and(eq(blacklistEntries.tenantId, tenantId), eq(blacklistEntries.id, id)))
      .returning({ id: blacklistEntries.id });
    if (rows.length === 0) throw new BlacklistError('not_found', '黑名单记录不存在');
    await this.changed(tenantId);
  }

  async hits(tenantId: string, limit = 100) {
    return this.opts.db
      .select()
      .from(blacklistHits)
      .where(eq(blacklistHits.tenantId, tenantId))
      .orderBy(desc(blacklistHits.at), desc(blacklistHits.id))
      .limit(limit);
  }

  async editors(tenantId: string): Promise<BlacklistEditors> {
    const [row] = await this.opts.db.select().from(blacklistSettings).where(eq(blacklistSettings.tenantId, tenantId));
    return (row?.editors as BlacklistEditors | undefined) ?? 'admin+supervisor';
  }

  async setEditors(tenantId: string, editors: BlacklistEditors, by: string): Promise<void> {
    const row = { tenantId, editors, updatedBy: by, updatedAt: this.now() };
    await this.opts.db.insert(blacklistSettings).values(row).onConflictDoUpdate({ target: blacklistSettings.tenantId, set: row });
  }

  /** Who may add, change, remove entries and decide proposals: admins always; supervisors if the tenant says so. */
  async canEdit(tenantId: string, role: UserRole): Promise<boolean> {
    if (role === 'admin') return true;
    return role === 'supervisor' && (await this.editors(tenantId)) === 'admin+supervisor';
  }

  // --- proposals: an agent flags a caller, an editor decides -------------------------------------------------------
  async propose(
    tenantId: string,
    p: { number: string; match?: BlacklistMatchKind; reason: string; callUuid?: string; expiresInDays?: number; proposedBy: string },
  ): Promise<BlacklistProposal> {
    const number = normalizeNumber(p.number);
    if (!isValidNumber(number)) throw new BlacklistError('bad_number', `号码 ${p.number} 无效`);
    const [row] = await this.opts.db
      .insert(blacklistProposals)
      .values({ tenantId, number, match: p.match ?? 'exact', reason: p.reason, callUuid: p.callUuid ?? null, expiresInDays: p.expiresInDays ?? null, proposedBy: p.proposedBy })
      .returning();
    return row!;
  }

  async proposals(tenantId: string, status?: BlacklistProposal['status']): Promise<BlacklistProposal[]> {
    const where = status ? and(eq(blacklistProposals.tenantId, tenantId), eq(blacklistProposals.status, status)) : eq(blacklistProposals.tenantId, tenantId);
    return this.opts.db.select().from(blacklistProposals).where(where).orderBy(desc(blacklistProposals.proposedAt));
  }

  /** Approve: the entry is created (or the existing one for that number is linked) and the proposal closed. */
  async approve(tenantId: string, id: string, by: string, note?: string): Promise<BlacklistProposal> {
    const [p] = await this.opts.db.select().from(blacklistProposals).where(and(eq(blacklistProposals.tenantId, tenantId), eq(blacklistProposals.id, id)));
    if (!p) throw new BlacklistError('not_found', '申请不存在');
    if (p.status !== 'pending') throw new BlacklistError('not_pending', '该申请已处理');
    const expiresAt = p.expiresInDays ? new Date(this.now().getTime() + p.expiresInDays * 86_400_000) : null;
    let entryId: string;
    try {
      entryId = (await this.add(tenantId, { number: p.number, match: p.match, reason: p.reason, expiresAt, createdBy: by })).id;
    } catch (err) {
      if (!(err instanceof BlacklistError && err.code === 'duplicate')) throw err;
      const [existing] = await this.opts.db
        .select({ id: blacklistEntries.id })
        .from(blacklistEntries)
        .where(and(eq(blacklistEntries.tenantId, tenantId), eq(blacklistEntries.match, p.match), eq(blacklistEntries.number, p.number)));
      entryId = existing!.id;
    }
    return this.decide(tenantId, id, 'approved', by, note, entryId);
  }

  async reject(tenantId: string, id: string, by: string, note?: string): Promise<BlacklistProposal> {
    return this.decide(tenantId, id, 'rejected', by, note);
  }

  private async decide(tenantId: string, id: string, status: 'approved' | 'rejected', by: string, note?: string, entryId?: string): Promise<BlacklistProposal> {
    const [row] = await this.opts.db
      .update(blacklistProposals)
      .set({ status, decidedBy: by, decidedAt: this.now(), decisionNote: note ?? null, entryId: entryId ?? null })
      .where(and(eq(blacklistProposals.tenantId, tenantId), eq(blacklistProposals.id, id), eq(blacklistProposals.status, 'pending')))
      .returning();
    if (!row) throw new BlacklistError('not_pending', '该申请已处理或不存在');
    return row;
  }
}

function toCached(r: BlacklistEntry): CachedEntry {
  return { id: r.id, number: r.number, match: r.match, reason: r.reason, expiresAt: r.expiresAt };
}
