// The caller directory (registered citizens and enterprises) behind the screen pop: lookups by number through a
// per-node LRU cache; edits invalidate the entry on every node (Redis pub/sub, see WsBus).
import { and, asc, eq, ilike, or, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { callers, tenantScope, type CallerKind, type CallerRow } from '../db/schema/index.js';
import { LruCache } from './lru.js';

export interface CallerRecord {
  id: string;
  number: string;
  name: string;
  address: string | null;
  kind: CallerKind;
  vip: boolean;
  registeredAt: string;
}

export interface CallerInput {
  number: string;
  name: string;
  address?: string | null;
  kind?: CallerKind;
  vip?: boolean;
  registeredAt?: string;
}

const toRecord = (r: CallerRow): CallerRecord => ({
  id: r.id,
  number: r.number,
  name: r.name,
  address: r.address,
  kind: r.kind,
  vip: r.vip,
  registeredAt: r.registeredAt.toISOString(),
});

/** Numbers are compared as digits with a leading + kept: "+86 138-0000-0001" and "+8613800000001" are one. */
export function normalizeNumber(n: string): string {
  const t = n.trim();
  return (t.startsWith('+') ? '+' : '') + t.replace(/[^0-9]/g, '');
}

/** built once: drizzle's query building per call cost more than the query itself (new callers miss the cache) */
function prepareByNumber(db: Db) {
  return db
    .select()
    .from(callers)
    .where(and(eq(callers.tenantId, sql.placeholder('tenantId')), eq(callers.number, sql.placeholder('number'))))
    .limit(1)
    .prepare('caller_directory_by_number');
}

const cacheKey = (tenantId: string, normalizedNumber: string) => `${tenantId}|${normalizedNumber}`;

export class CallerDirectory {
  // null is cached too: most callers are not registered, and the miss must not hit PostgreSQL on every offer
  private readonly cache: LruCache<string, CallerRecord | null>;
  /** set by the bus: tells the other nodes to drop their cached entry */
  onChange: ((tenantId: string, number: string) => void) | null = null;

  constructor(
    private readonly db: Db,
    opts: { cacheSize?: number; cacheTtlMs?: number } = {},
  ) {
    this.cache = new LruCache(opts.cacheSize ?? 10_000, opts.cacheTtlMs ?? 5 * 60_000);
    this.byNumber = prepareByNumber(db);
  }

  private readonly byNumber: ReturnType<typeof prepareByNumber>;
  /** queries under way: the queue node's screen pop and VIP check (and a prefetch) ask for one caller at once */
  private readonly inFlight = new Map<string, Promise<CallerRecord | null>>();

  async lookup(tenantId: string, number: string): Promise<CallerRecord | null> {
    const n = normalizeNumber(number);
    if (!n) return null;
    const key = cacheKey(tenantId, n);
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    const query = this.byNumber.execute({ tenantId, number: n }).then(([row]) => {
      const rec = row ? toRecord(row) : null;
      // an edit made while the query ran dropped this entry from inFlight: its answer may be the old record
      if (this.inFlight.get(key) === query) this.cache.set(key, rec);
      return rec;
    });
    this.inFlight.set(key, query);
    try {
      return await query;
    } finally {
      if (this.inFlight.get(key) === query) this.inFlight.delete(key);
    }
  }

  /**
   * Look a caller up ahead of need (a new call, while the IVR greets them), so the queue node's screen pop and VIP
   * check find the record cached instead of waiting on PostgreSQL with the caller between the key press and the ACD.
   */
  prefetch(tenantId: string, number: string): void {
    this.lookup(tenantId, number).catch(() => {});
  }

  /** drop a cached entry (this node); called for edits made on any node */
  invalidate(tenantId: string, number: string): void {
    const key = cacheKey(tenantId, normalizeNumber(number));
    this.cache.delete(key);
    this.inFlight.delete(key);
  }

  private changed(tenantId: string, number: string): void {
    this.invalidate(tenantId, number);
    this.onChange?.(tenantId, number);
  }

  async list(tenantId: string, opts: { q?: string; limit: number; offset: number }): Promise<CallerRecord[]> {
    const conds: (SQL | undefined)[] = [];
    if (opts.q) {
      const like = `%${opts.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      conds.push(or(ilike(callers.number, like), ilike(callers.name, like), ilike(callers.address, like)));
    }
    const rows = await this.db
      .select()
      .from(callers)
      .where(tenantScope(callers.tenantId, tenantId, ...conds))
      .orderBy(asc(callers.number))
      .limit(opts.limit)
      .offset(opts.offset);
    return rows.map(toRecord);
  }

  async get(tenantId: string, id: string): Promise<CallerRecord | null> {
    const [row] = await this.db.select().from(callers).where(tenantScope(callers.tenantId, tenantId, eq(callers.id, id)));
    return row ? toRecord(row) : null;
  }

  /** null when the number is already registered in this center */
  async create(tenantId: string, input: CallerInput): Promise<CallerRecord | null> {
    const number = normalizeNumber(input.number);
    const rows = await this.db
      .insert(callers)
      .values({
        tenantId,
        number,
        name: input.name,
        address: input.address ?? null,
        kind: input.kind ?? 'citizen',
        vip: input.vip ?? false,
        ...(input.registeredAt ? { registeredAt: new Date(input.registeredAt) } : {}),
      })
      .onConflictDoNothing()
      .returning();
    if (!rows[0]) return null;
    this.changed(tenantId, number);
    return toRecord(rows[0]);
  }

  /** 'conflict' when the new number belongs to another record */
  async update(tenantId: string, id: string, patch: Partial<CallerInput>): Promise<CallerRecord | null | 'conflict'> {
    const before = await this.get(tenantId, id);
    if (!before) return null;
    const number = patch.number !== undefined ? normalizeNumber(patch.number) : undefined;
    try {
      const [row] = await this.db
        .update(callers)
        .set({
          ...(number !== undefined ? { number } : {}),
          ...(patch.name !== undefined ? { name: patch.name } : {}),
          ...(patch.address !== undefined ? { address: patch.address } : {}),
          ...(patch.kind !== undefined ? { kind: patch.kind } : {}),
          ...(patch.vip !== undefined ? { vip: patch.vip } : {}),
          ...(patch.registeredAt !== undefined ? { registeredAt: new Date(patch.registeredAt) } : {}),
          updatedAt: new Date(),
        })
        .where(and(eq(callers.tenantId, tenantId), eq(callers.id, id)))
        .returning();
      this.changed(tenantId, before.number);
      if (number) this.changed(tenantId, number);
      return row ? toRecord(row) : null;
    } catch (err) {
      const e = err as { code?: string; cause?: { code?: string } };
      if (e.code === '23505' || e.cause?.code === '23505') return 'conflict';
      throw err;
    }
  }

  async remove(tenantId: string, id: string): Promise<boolean> {
    const rows = await this.db.delete(callers).where(and(eq(callers.tenantId, tenantId), eq(callers.id, id))).returning({ number: callers.number });
    if (!rows[0]) return false;
    this.changed(tenantId, rows[0].number);
    return true;
  }
}
