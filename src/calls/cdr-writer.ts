// Writes CDRs to PostgreSQL, exactly once per call:
// - the insert is idempotent (cdrs on conflict (call_uuid) do nothing; leg events on conflict (call_uuid, seq));
// - if PostgreSQL is unreachable the CDR goes to the BullMQ queue `cdr` (in Redis, job id = the call uuid, so the
//   same call is never queued twice) and a worker retries with capped backoff until the database is back.
// Writes are batched: the CDRs written in the same tick go in one statement (multi-row inserts of the CDRs and their
// leg events), which is what makes a burst of hang-ups cheap.
import { Queue, Worker, UnrecoverableError, type Job, type ConnectionOptions } from 'bullmq';
import type pg from 'pg';
import type { Logger } from 'pino';
import { cdrs, callLegEvents, type NewCallLegEvent, type NewCdr } from '../db/schema/calls.js';
import { buildCdr, type CallRecord } from './call-record.js';
import { bulkInsert, buildBulkInsert } from '../db/bulk-insert.js';

export const CDR_QUEUE = 'cdr';
/** CDRs per transaction */
const BATCH_MAX = 200;
const MAX_PARALLEL_FLUSHES = 4;
/** leg events per insert statement (9 parameters each; PostgreSQL allows 65535) */
const LEG_CHUNK = 5000;

export interface CdrJob {
  record: CallRecord;
  recovered?: boolean;
  endAt?: number;
}

export type CdrWriteResult = 'written' | 'duplicate' | 'queued';

export interface CdrWriterOptions {
  pool: pg.Pool;
  /** Redis for the BullMQ buffer (its own connections; BullMQ needs maxRetriesPerRequest: null) */
  redisUrl: string;
  /** BullMQ key prefix: the app's REDIS_PREFIX */
  prefix: string;
  log: Logger;
  /** retry delay cap while the database is down (ms) */
  maxRetryDelayMs?: number;
  /** run the worker that drains the buffer in this process (default true) */
  worker?: boolean;
}

/** SQLSTATE classes that will fail the same way on every retry: data exceptions, constraint violations, syntax. */
export function isPermanentDbError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^(22|23|42)/.test(code);
}

export function redisConnectionOptions(url: string): ConnectionOptions {
  const u = new URL(url);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    db: Number.isFinite(db) ? db : 0,
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    maxRetriesPerRequest: null,
    // reconnect within 2 s once Redis is back (BullMQ's default backs off to 20 s)
    retryStrategy: (times: number) => Math.min(100 * times, 2000),
  };
}

export class CdrWriter {
  private readonly queue: Queue<CdrJob>;
  private readonly worker: Worker<CdrJob> | null;
  private readonly log: Logger;
  private readonly pool: pg.Pool;
  private batch: { job: CdrJob; resolve(r: 'written' | 'duplicate'): void; reject(e: unknown): void }[] = [];
  private flushScheduled = false;
  private flushing = 0;
  /** counts for health/metrics and tests */
  readonly stats = { written: 0, duplicates: 0, queued: 0, drained: 0 };

  constructor(opts: CdrWriterOptions) {
    this.pool = opts.pool;
    this.log = opts.log.child({ module: 'cdr' });
    const connection = redisConnectionOptions(opts.redisUrl);
    // short cap: after an outage the buffered CDRs go in within seconds of the database returning
    const cap = opts.maxRetryDelayMs ?? 5_000;
    this.queue = new Queue<CdrJob>(CDR_QUEUE, { connection, prefix: opts.prefix });
    this.queue.on('error', (err) => this.log.warn({ err: err.message }, 'cdr queue error'));
    this.worker =
      opts.worker === false
        ? null
        : new Worker<CdrJob>(CDR_QUEUE, (job) => this.drain(job), {
            connection,
            prefix: opts.prefix,
            concurrency: 4,
            settings: { backoffStrategy: (attempts: number) => Math.min(cap, 200 * 2 ** Math.min(attempts, 20)) },
          });
    this.worker?.on('error', (err) => this.log.warn({ err: err.message }, 'cdr worker error'));
    this.worker?.on('failed', (job, err) => {
      if (job && err instanceof UnrecoverableError) this.log.error({ call: job.data.record.uuid, err }, 'CDR rejected by the database; kept in the failed set');
    });
  }

  /** Write the CDR now; if the database is unreachable, buffer it in Redis (BullMQ) instead. */
  async write(job: CdrJob): Promise<CdrWriteResult> {
    try {
      const result = await new Promise<'written' | 'duplicate'>((resolve, reject) => {
        this.batch.push({ job, resolve, reject });
        if (!this.flushScheduled) {
          this.flushScheduled = true;
          setImmediate(() => this.flush());
        }
      });
      if (result === 'written') this.stats.written++;
      else this.stats.duplicates++;
      return result;
    } catch (err) {
      if (isPermanentDbError(err)) {
        this.log.error({ err, call: job.record.uuid }, 'CDR rejected by the database');
      } else {
        this.log.warn({ err: (err as Error).message, call: job.record.uuid }, 'database unavailable; CDR buffered in Redis');
      }
      await this.enqueue(job);
      return 'queued';
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    // a few transactions at a time; the rest waits and joins the next (bigger) batch instead of queueing on the pool
    while (this.batch.length > 0 && this.flushing < MAX_PARALLEL_FLUSHES) {
      const batch = this.batch.splice(0, BATCH_MAX);
      this.flushing++;
      void this.flushBatch(batch).finally(() => {
        this.flushing--;
        if (this.batch.length > 0) this.flush();
      });
    }
  }

  private flushBatch(batch: { job: CdrJob; resolve(r: 'written' | 'duplicate'): void; reject(e: unknown): void }[]): Promise<void> {
    return this.insertMany(batch.map((b) => b.job)).then(
      (inserted) => {
        for (const b of batch) {
          const uuid = b.job.record.uuid;
          // the first of several writes of one call in the batch takes "written"
          b.resolve(inserted.delete(uuid) ? 'written' : 'duplicate');
        }
      },
      async (err: unknown) => {
        if (!isPermanentDbError(err) || batch.length === 1) {
          for (const b of batch) b.reject(err);
          return;
        }
        // one bad CDR must not take the batch down: retry them one by one
        for (const b of batch) {
          await this.insertMany([b.job]).then(
            (ins) => b.resolve(ins.has(b.job.record.uuid) ? 'written' : 'duplicate'),
            (e: unknown) => b.reject(e),
          );
        }
      },
    );
  }

  /** Idempotent insert of the CDR and its leg events in one transaction; true when the CDR was new. */
  async insert(job: CdrJob): Promise<boolean> {
    return (await this.insertMany([job])).has(job.record.uuid);
  }

  /**
   * Multi-row inserts, on conflict do nothing, all or nothing. Returns the call uuids that were new.
   * One statement when it can be; otherwise (rows needing column defaults, thousands of leg events) one transaction
   * whose client is checked out by hand (not db.transaction on the pool): drizzle does not release the client when
   * BEGIN itself fails, which is exactly what happens when the database has just gone away.
   */
  private async insertMany(jobs: CdrJob[]): Promise<Set<string>> {
    const rows: NewCdr[] = [];
    const legs: NewCallLegEvent[] = [];
    const seen = new Set<string>();
    for (const job of jobs) {
      if (seen.has(job.record.uuid)) continue;
      seen.add(job.record.uuid);
      const { cdr, legEvents } = buildCdr(job.record, { recovered: job.recovered, endAt: job.endAt });
      rows.push(cdr);
      legs.push(...legEvents);
    }
    // the usual case, one statement: both inserts in one round trip, atomic without begin/commit (a statement is
    // its own transaction; data-modifying WITH parts always run to completion)
    const cdrInsert = buildBulkInsert(cdrs, rows, { onConflictDoNothing: ['callUuid'], returning: 'callUuid' });
    const legInsert = legs.length > 0 && legs.length <= LEG_CHUNK ? buildBulkInsert(callLegEvents, legs, { onConflictDoNothing: ['callUuid', 'seq'] }, 2) : null;
    if (cdrInsert && (legs.length === 0 || legInsert)) {
      const res = legInsert
        ? await this.pool.query<{ v: string }>(`with c as (${cdrInsert.text}), l as (${legInsert.text}) select v from c`, [cdrInsert.json, legInsert.json])
        : await this.pool.query<{ v: string }>(cdrInsert.text, [cdrInsert.json]);
      return new Set(res.rows.map((r) => r.v));
    }
    const client = await this.pool.connect();
    // a checked-out client has no error listener: a dropped connection would otherwise be an uncaught 'error'
    const swallow = (): void => {};
    client.on('error', swallow);
    let broken = false;
    try {
      await client.query('begin');
      try {
        const inserted = (await bulkInsert(client, cdrs, rows, { onConflictDoNothing: ['callUuid'], returning: 'callUuid' })) as string[];
        for (let i = 0; i < legs.length; i += LEG_CHUNK) {
          await bulkInsert(client, callLegEvents, legs.slice(i, i + LEG_CHUNK), { onConflictDoNothing: ['callUuid', 'seq'] });
        }
        await client.query('commit');
        return new Set(inserted);
      } catch (err) {
        await client.query('rollback').catch(() => {
          broken = true;
        });
        throw err;
      }
    } catch (err) {
      if (!isPermanentDbError(err)) broken = true;
      throw err;
    } finally {
      client.off('error', swallow);
      client.release(broken || undefined);
    }
  }

  private async enqueue(job: CdrJob): Promise<void> {
    await this.queue.add('cdr', job, {
      jobId: `cdr-${job.record.uuid}`,
      attempts: 1_000_000,
      backoff: { type: 'custom' },
      removeOnComplete: true,
      removeOnFail: false,
    });
    this.stats.queued++;
  }

  private async drain(job: Job<CdrJob>): Promise<void> {
    try {
      const inserted = await this.insert(job.data);
      this.stats.drained++;
      if (inserted) this.stats.written++;
      else this.stats.duplicates++;
      this.log.info({ call: job.data.record.uuid, inserted, attempt: job.attemptsMade + 1 }, 'buffered CDR written');
    } catch (err) {
      if (isPermanentDbError(err)) throw new UnrecoverableError((err as Error).message);
      throw err;
    }
  }

  /** CDRs still waiting in Redis (waiting + delayed + active). */
  async backlog(): Promise<number> {
    const c = await this.queue.getJobCounts('waiting', 'delayed', 'active', 'prioritized');
    return Object.values(c).reduce((a, b) => a + b, 0);
  }

  /**
   * Stop the worker (a job in progress may finish; an unfinished one stays in Redis for the next start) and close
   * the queue. Bounded: while Redis is unreachable BullMQ's close would wait for its reconnect backoff.
   */
  async close(timeoutMs = 5000): Promise<void> {
    const closing = Promise.all([this.worker?.close(), this.queue.close()]);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      closing.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.log.warn('CDR queue did not close in time; dropping its Redis connections');
      // not awaited: BullMQ's disconnect also waits for a reconnect that may never come
      void Promise.allSettled([this.worker?.disconnect(), this.queue.disconnect()]);
    }
  }
}
