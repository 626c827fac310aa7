// Buffers rows and inserts them in batches off the routing path (the CDR writer's approach, for append-only rows).
// A batch PostgreSQL refuses goes to a Redis list (when `spill` is given), so a database outage survives a CTI
// restart; any node drains that list with capped backoff once the database is back. Without `spill`, failed
// batches wait in memory (bounded: the oldest rows are dropped, logged).
// Draining is a reliable queue: a batch is moved (LMOVE, atomic) to this writer's processing list, written, and
// only then removed (LREM). A writer that dies in between leaves it there; its lease key expires and any writer
// moves the batch back to the spill list (at start and every lease/3), so it is written again — `rewrite` skips
// the rows a first attempt may have stored, so each row is stored once.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

export interface BatchedWriterOptions<T> {
  name: string;
  write: (rows: T[]) => Promise<void>;
  /**
   * Write a batch that may already be stored (a spilled or retried batch: the failed attempt may have committed
   * before its connection died), skipping rows already there, so each row is stored exactly once. Default: write.
   */
  rewrite?: (rows: T[]) => Promise<void>;
  flushIntervalMs?: number;
  maxBatch?: number;
  maxBuffered?: number;
  log?: Logger | undefined;
  /** durable overflow for batches the database refused */
  spill?: SpillOptions<T> | undefined;
  /** retry delay cap while the database is down (ms) */
  maxRetryDelayMs?: number;
}

export interface SpillOptions<T> {
  redis: Redis;
  key: string;
  revive: (row: T) => T;
  /** a dead writer's batches in flight go back to the spill list this long after its last sign of life (ms) */
  leaseMs?: number;
  /** test seams: run between taking a batch and writing it, and between writing it and removing it */
  hooks?: { taken?: () => Promise<void> | void; written?: () => Promise<void> | void };
}

export const DEFAULT_SPILL_LEASE_MS = 30_000;

export class BatchedWriter<T> {
  private buf: T[] = [];
  private timer: NodeJS.Timeout | null = null;
  private drainTimer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private failures = 0;
  private closed = false;
  dropped = 0;
  /** this writer's name in the spill's owner set: its processing list and lease key carry it */
  readonly spillOwner = `${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private recoverTimer: NodeJS.Timeout | null = null;
  private draining: Promise<number> | null = null;

  constructor(private readonly opts: BatchedWriterOptions<T>) {
    if (opts.spill) {
      const every = Math.max(100, Math.floor(this.leaseMs / 3));
      this.recoverTimer = setInterval(() => {
        // a slow write must not look like a dead writer
        if (this.draining) void this.renewLease().catch(() => undefined);
        void this.recoverSpill().catch(() => undefined);
      }, every);
      this.recoverTimer.unref?.();
    }
  }

  private get leaseMs(): number {
    return this.opts.spill?.leaseMs ?? DEFAULT_SPILL_LEASE_MS;
  }

  private processingKey(owner = this.spillOwner): string {
    return `${this.opts.spill!.key}:processing:${owner}`;
  }

  private leaseKey(owner = this.spillOwner): string {
    return `${this.opts.spill!.key}:lease:${owner}`;
  }

  private get ownersKey(): string {
    return `${this.opts.spill!.key}:owners`;
  }

  push(row: T): void {
    this.buf.push(row);
    const max = this.opts.maxBuffered ?? 200_000;
    if (this.buf.length > max) {
      const n = this.buf.length - max;
      this.buf.splice(0, n);
      this.dropped += n;
      this.opts.log?.error({ writer: this.opts.name, dropped: n }, 'batched writer buffer full, oldest rows dropped');
    }
    if (this.buf.length >= (this.opts.maxBatch ?? 500)) this.schedule(0);
    else this.schedule(this.opts.flushIntervalMs ?? 200);
  }

  get pending(): number {
    return this.buf.length;
  }

  private schedule(ms: number): void {
    if (this.closed && ms > 0) return;
    if (this.timer) {
      if (ms > 0) return;
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, ms);
    this.timer.unref?.();
  }

  private backoff(): number {
    // short cap: after an outage the spilled rows go in within seconds of the database returning
    return Math.min(this.opts.maxRetryDelayMs ?? 5_000, 200 * 2 ** Math.min(this.failures, 8));
  }

  /** Write everything buffered now (resolves when done or when the current attempt failed). */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.buf.length === 0) return;
    const batch = this.buf.splice(0, this.opts.maxBatch ?? 500);
    // after a failure the buffer holds rows of the failed attempt again
    const write = this.failures > 0 ? (this.opts.rewrite ?? this.opts.write) : this.opts.write;
    this.flushing = write(batch)
      .then(() => {
        this.failures = 0;
        if (this.buf.length > 0) this.schedule(0);
      })
      .catch(async (err: unknown) => {
        this.failures++;
        const spill = this.opts.spill;
        if (spill) {
          try {
            await spill.redis.rpush(spill.key, JSON.stringify(batch));
            this.opts.log?.warn({ writer: this.opts.name, err, rows: batch.length }, 'batch write failed, spilled to Redis');
            this.scheduleDrain(this.backoff());
            return;
          } catch {
            // Redis is down too: keep the rows in memory
          }
        }
        this.buf.unshift(...batch);
        const delay = this.backoff();
        this.opts.log?.warn({ writer: this.opts.name, err, retryInMs: delay }, 'batch write failed, will retry');
        if (this.timer) clearTimeout(this.timer);
        this.timer = setTimeout(() => {
          this.timer = null;
          void this.flush();
        }, delay);
        this.timer.unref?.();
      })
      .finally(() => {
        this.flushing = null;
      });
    await this.flushing;
  }

  private scheduleDrain(ms: number): void {
    if (this.drainTimer || this.closed) return;
    this.drainTimer = setTimeout(() => {
      this.drainTimer = null;
      void this.drainSpill();
    }, ms);
    this.drainTimer.unref?.();
  }

  /** Write spilled batches back (any node may; each batch is taken by one). Returns the batches written. */
  async drainSpill(): Promise<number> {
    if (!this.opts.spill) return 0;
    // one drain at a time per writer: its processing list holds at most the batch in flight
    while (this.draining) await this.draining;
    this.draining = this.drainOnce().finally(() => {
      this.draining = null;
    });
    return this.draining;
  }

  private async drainOnce(): Promise<number> {
    const spill = this.opts.spill!;
    const processing = this.processingKey();
    await this.recoverSpill().catch(() => undefined);
    let written = 0;
    for (;;) {
      try {
        await this.renewLease();
      } catch {
        break; // Redis down: nothing to take anyway
      }
      const raw = await spill.redis.lmove(spill.key, processing, 'LEFT', 'RIGHT').catch(() => null);
      if (!raw) break;
      const rows = (JSON.parse(raw) as T[]).map(spill.revive);
      try {
        await spill.hooks?.taken?.();
        await (this.opts.rewrite ?? this.opts.write)(rows);
      } catch {
        this.failures++;
        // back to the head of the spill list; if Redis fails here, recovery moves it back later
        await spill.redis
          .multi()
          .lrem(processing, 1, raw)
          .lpush(spill.key, raw)
          .exec()
          .catch(() => undefined);
        this.scheduleDrain(this.backoff());
        break;
      }
      written++;
      this.failures = 0;
      await spill.hooks?.written?.();
      // if this fails the batch stays in processing and is written again later: rewrite keeps that to once
      await spill.redis.lrem(processing, 1, raw).catch(() => undefined);
    }
    return written;
  }

  private async renewLease(): Promise<void> {
    const redis = this.opts.spill!.redis;
    await redis.multi().set(this.leaseKey(), '1', 'PX', this.leaseMs).sadd(this.ownersKey, this.spillOwner).exec();
  }

  /**
   * Moves batches in flight back to the spill list: those of writers whose lease expired (dead nodes, or this
   * node before a restart), and this writer's own when it is not draining (a write whose LREM failed).
   * Returns the batches moved; a drain is scheduled when there are any.
   */
  async recoverSpill(): Promise<number> {
    const spill = this.opts.spill;
    if (!spill) return 0;
    const owners = await spill.redis.smembers(this.ownersKey);
    let moved = 0;
    for (const owner of owners) {
      const own = owner === this.spillOwner;
      if (own ? this.draining !== null : await spill.redis.exists(this.leaseKey(owner))) continue;
      const processing = this.processingKey(owner);
      // one element at a time, each move atomic: a concurrent recovery by another node cannot duplicate a batch
      while (await spill.redis.lmove(processing, spill.key, 'RIGHT', 'LEFT')) moved++;
      if (!own) await spill.redis.srem(this.ownersKey, owner);
    }
    if (moved > 0) {
      this.opts.log?.warn({ writer: this.opts.name, batches: moved }, 'spilled batches of a stopped writer moved back to be written');
      this.scheduleDrain(0);
    }
    return moved;
  }

  /** Flush until empty (or until attempts keep failing for timeoutMs), then stop. */
  async close(timeoutMs = 5000): Promise<void> {
    this.closed = true;
    const until = Date.now() + timeoutMs;
    while (this.buf.length > 0 && Date.now() < until) {
      await this.flush();
      if (this.failures > 0 && this.buf.length > 0) await new Promise((r) => setTimeout(r, 100));
    }
    if (this.timer) clearTimeout(this.timer);
    if (this.drainTimer) clearTimeout(this.drainTimer);
    if (this.recoverTimer) clearInterval(this.recoverTimer);
    this.timer = null;
    this.drainTimer = null;
    this.recoverTimer = null;
    while (this.draining) await this.draining;
    const spill = this.opts.spill;
    if (spill) {
      // nothing of ours in flight now: hand back anything left (a failed LREM), and leave the owner set
      const processing = this.processingKey();
      while (await spill.redis.lmove(processing, spill.key, 'RIGHT', 'LEFT').catch(() => null));
      await spill.redis.multi().del(this.leaseKey()).srem(this.ownersKey, this.spillOwner).exec().catch(() => undefined);
    }
  }
}
