// Per-node cache of the SIP directory's lookups (does a tenant exist; the SIP user of tenant+extension).
// mod_xml_curl asks /freeswitch/directory on every REGISTER and every `user/` originate, so under load each ACD
// offer cost PostgreSQL queries and the pool queued them past xml_curl's timeout (SIPp run, test/sipp/README.md).
//
// - found: kept DIRECTORY_TTL_MS; not found: DIRECTORY_NEGATIVE_TTL_MS (a scanner trying extensions cannot hammer
//   the database, and a user that appears by another path than the admin API is found within seconds);
// - concurrent lookups of one key share one query (single flight);
// - a change to a user's extension, SIP password, enabled flag or tenant calls invalidateDirectoryUser, which drops
//   the entries here and publishes on `<prefix>:directory:changed` so every node drops them too. A lookup that was
//   in flight across an invalidation answers its callers but is not cached (it may have read the old row).
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { AppContext } from '../app-context.js';
import type { Db } from '../db/client.js';
import type { User } from '../db/schema/core.js';
import { findSipUser, tenantExists } from '../auth/users.js';

export const DIRECTORY_TTL_MS = 60_000;
export const DIRECTORY_NEGATIVE_TTL_MS = 5_000;
/** bound on entries (a scanner's misses included); the oldest go first */
const MAX_ENTRIES = 50_000;

export function directoryChannel(redisPrefix: string): string {
  return `${redisPrefix}:directory:changed`;
}

/** what is published: the tenant and the extensions whose entries are stale ([] = the whole tenant) */
export interface DirectoryChange {
  tenantId: string;
  extensions: string[];
}

const userKey = (tenantId: string, extension: string) => `u\u0000${tenantId}\u0000${extension}`;
const tenantKey = (tenantId: string) => `t\u0000${tenantId}`;

export class DirectoryCache {
  private readonly entries = new Map<string, { value: unknown; expiresAt: number }>();
  private readonly inflight = new Map<string, Promise<unknown>>();
  /** bumped by every invalidation: a lookup that started before it must not fill the cache */
  private epoch = 0;
  private subscriber?: Redis;
  /** apps started on this cache (tests build several apps on one context); the last stop unsubscribes */
  private starts = 0;
  /**
   * Told of every change this node hears of (its own and other nodes'), and of `null` when changes may have been
   * missed: the switch's own user cache (XML_CURL_USER_CACHE_MS) is flushed from here.
   */
  onChange: ((change: DirectoryChange | null) => void) | null = null;

  constructor(
    private readonly db: Db,
    private readonly opts: { ttlMs?: number; negativeTtlMs?: number; now?: () => number } = {},
  ) {}

  tenantExists(tenantId: string): Promise<boolean> {
    return this.lookup(tenantKey(tenantId), () => tenantExists(this.db, tenantId), (found) => found);
  }

  /** The enabled user with this extension and a SIP password, or null. */
  findSipUser(tenantId: string, extension: string): Promise<User | null> {
    return this.lookup(userKey(tenantId, extension), () => findSipUser(this.db, tenantId, extension), (u) => u !== null);
  }

  /** Drops the entries of these extensions (none given: the tenant and all its users). */
  forget(change: DirectoryChange): void {
    this.epoch++;
    const keys =
      change.extensions.length > 0
        ? change.extensions.map((x) => userKey(change.tenantId, x))
        : [...this.entries.keys(), ...this.inflight.keys()].filter(
            (k) => k === tenantKey(change.tenantId) || k.startsWith(userKey(change.tenantId, '')),
          );
    for (const k of keys) {
      this.entries.delete(k);
      this.inflight.delete(k);
    }
  }

  clear(): void {
    this.epoch++;
    this.entries.clear();
    this.inflight.clear();
  }

  get size(): number {
    return this.entries.size;
  }

  /** Listens for other nodes' changes. After a lost subscription the cache is emptied (changes may have been missed). */
  async start(redis: Redis, redisPrefix: string, log: Logger): Promise<void> {
    if (this.starts++ > 0) return;
    const channel = directoryChannel(redisPrefix);
    const sub = redis.duplicate();
    this.subscriber = sub;
    sub.on('error', (err: unknown) => log.warn({ err }, 'directory cache subscriber error'));
    sub.on('message', (ch: string, message: string) => {
      if (ch !== channel) return;
      try {
        const change = JSON.parse(message) as DirectoryChange;
        if (typeof change.tenantId === 'string' && Array.isArray(change.extensions)) {
          this.forget(change);
          this.onChange?.(change);
        }
      } catch {
        log.warn({ message }, 'directory cache: unreadable change message ignored');
      }
    });
    let subscribedOnce = false;
    sub.on('ready', () => {
      if (!subscribedOnce) return;
      this.clear();
      this.onChange?.(null);
    });
    await sub.subscribe(channel);
    subscribedOnce = true;
  }

  async stop(): Promise<void> {
    if (this.starts === 0 || --this.starts > 0) return;
    const sub = this.subscriber;
    this.subscriber = undefined;
    if (!sub) return;
    await sub.quit().catch(() => sub.disconnect());
  }

  private lookup<T>(key: string, load: () => Promise<T>, isPositive: (v: T) => boolean): Promise<T> {
    const now = this.opts.now?.() ?? Date.now();
    const hit = this.entries.get(key);
    if (hit && hit.expiresAt > now) return Promise.resolve(hit.value as T);
    if (hit) this.entries.delete(key);
    const pending = this.inflight.get(key);
    if (pending) return pending as Promise<T>;
    const epoch = this.epoch;
    const promise = load()
      .then((value) => {
        if (this.epoch === epoch) {
          const ttl = isPositive(value) ? (this.opts.ttlMs ?? DIRECTORY_TTL_MS) : (this.opts.negativeTtlMs ?? DIRECTORY_NEGATIVE_TTL_MS);
          if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
          this.entries.set(key, { value, expiresAt: (this.opts.now?.() ?? Date.now()) + ttl });
        }
        return value;
      })
      .finally(() => {
        if (this.inflight.get(key) === promise) this.inflight.delete(key);
      });
    this.inflight.set(key, promise);
    return promise;
  }
}

const caches = new WeakMap<AppContext, DirectoryCache>();

/** The directory cache of this node (one per AppContext). */
export function directoryCacheFor(ctx: AppContext): DirectoryCache {
  let cache = caches.get(ctx);
  if (!cache) {
    cache = new DirectoryCache(ctx.db);
    caches.set(ctx, cache);
  }
  return cache;
}

/**
 * A user's extension, SIP password, enabled flag or tenant changed (or the user was created): every node must read
 * them again. Give the old and the new extension. A failed publish is logged, not thrown: the change is saved,
 * and other nodes serve the old entry at most DIRECTORY_TTL_MS longer.
 */
export async function invalidateDirectoryUser(ctx: AppContext, tenantId: string, extensions: (string | null | undefined)[]): Promise<void> {
  const change: DirectoryChange = { tenantId, extensions: [...new Set(extensions.filter((x): x is string => !!x))] };
  if (change.extensions.length === 0) return;
  const cache = caches.get(ctx);
  cache?.forget(change);
  // this node flushes the switches' user cache itself: it must not depend on Redis delivering the message
  cache?.onChange?.(change);
  try {
    await ctx.redis.publish(directoryChannel(ctx.redisPrefix), JSON.stringify(change));
  } catch (err) {
    ctx.log.warn({ err, tenantId }, 'directory change not published: other nodes may serve the old SIP entry for up to 60 s');
  }
}
