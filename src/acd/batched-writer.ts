// Buffers rows and inserts them in batches off the routing path (the CDR writer's approach, for append-only rows).
// A batch PostgreSQL refuses goes to a Redis list (when `spill` is given), so a database outage survives a CTI
// restart; any node drains that list with capped backoff once the database is back. Without `spill`, failed
// batches wait in memory (bounded: the oldest rows are dropped, logged).
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
  spill?: { redis: Redis; key: string; revive: (row: T) => T } | undefined;
  /** retry delay cap while the database is down (ms) */
  maxRetryDelayMs?: number;
}

export class BatchedWriter<T> {
  private buf: T[] = [];
  private timer: NodeJS.Timeout | null = null;
  private drainTimer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private failures = 0;
  private closed = false;
  dropped = 0;

  constructor(private readonly opts: BatchedWriterOptions<T>) {}

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
    const spill = this.opts.spill;
    if (!spill) return 0;
    let written = 0;
    for (;;) {
      const raw = await spill.redis.lpop(spill.key).catch(() => null);
      if (!raw) break;
      const rows = (JSON.parse(raw) as T[]).map(spill.revive);
      try {
        await (this.opts.rewrite ?? this.opts.write)(rows);
        written++;
        this.failures = 0;
      } catch {
        this.failures++;
        await spill.redis.lpush(spill.key, raw).catch(() => this.buf.unshift(...rows));
        this.scheduleDrain(this.backoff());
        break;
      }
    }
    return written;
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
    this.timer = null;
    this.drainTimer = null;
  }
}
