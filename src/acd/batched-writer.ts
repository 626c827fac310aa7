// Buffers rows and inserts them in batches off the routing path. A failed batch is retried with backoff;
// the buffer is bounded so a long database outage cannot exhaust memory (the oldest rows are dropped, logged).
import type { Logger } from 'pino';

export interface BatchedWriterOptions<T> {
  name: string;
  write: (rows: T[]) => Promise<void>;
  flushIntervalMs?: number;
  maxBatch?: number;
  maxBuffered?: number;
  log?: Logger;
}

export class BatchedWriter<T> {
  private buf: T[] = [];
  private timer: NodeJS.Timeout | null = null;
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

  /** Write everything buffered now (resolves when done or when the current attempt failed). */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.buf.length === 0) return;
    const batch = this.buf.splice(0, this.opts.maxBatch ?? 500);
    this.flushing = this.opts
      .write(batch)
      .then(() => {
        this.failures = 0;
        if (this.buf.length > 0) this.schedule(0);
      })
      .catch((err: unknown) => {
        this.failures++;
        this.buf.unshift(...batch);
        const backoff = Math.min(30_000, 200 * 2 ** Math.min(this.failures, 8));
        this.opts.log?.warn({ writer: this.opts.name, err, retryInMs: backoff }, 'batch write failed, will retry');
        if (this.timer) clearTimeout(this.timer);
        this.timer = setTimeout(() => {
          this.timer = null;
          void this.flush();
        }, backoff);
        this.timer.unref?.();
      })
      .finally(() => {
        this.flushing = null;
      });
    await this.flushing;
  }

  /** Flush until empty (or until attempts keep failing for timeoutMs), then stop. */
  async close(timeoutMs = 5000): Promise<void> {
    this.closed = true;
    const until = Date.now() + timeoutMs;
    while (this.buf.length > 0 && Date.now() < until) {
      await this.flush();
      if (this.failures > 0) await new Promise((r) => setTimeout(r, 100));
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
