// Health sources aggregated by /healthz. A required source that is down makes the node unhealthy (503);
// an optional one that is down makes it `degraded` (still 200: it serves calls) and is reported with its detail.
// Modules add their own (ESL per node, flow load errors…).
import type pg from 'pg';
import type { Redis } from 'ioredis';

export interface HealthResult {
  ok: boolean;
  /** anything worth showing an operator: latency, version, error text, per-item details */
  detail?: unknown;
}

export interface HealthSource {
  /** unique, e.g. "postgres", "redis", "esl:fs1" */
  name: string;
  /** default true: when down, /healthz answers 503 */
  required?: boolean;
  check(): Promise<HealthResult> | HealthResult;
}

export interface HealthReport {
  ok: boolean;
  /** every required source is up but at least one optional source is down */
  degraded: boolean;
  checks: Record<string, HealthResult & { required: boolean; ms: number }>;
}

const CHECK_TIMEOUT_MS = 2000;

export class HealthRegistry {
  private readonly sources = new Map<string, HealthSource>();

  constructor(sources: HealthSource[] = []) {
    for (const s of sources) this.add(s);
  }

  /** Adds or replaces (by name) a source. Returns a function that removes it. */
  add(source: HealthSource): () => void {
    this.sources.set(source.name, source);
    return () => {
      if (this.sources.get(source.name) === source) this.sources.delete(source.name);
    };
  }

  names(): string[] {
    return [...this.sources.keys()];
  }

  /** Runs every check in parallel, each bounded by a timeout so one hung dependency can't hang /healthz. */
  async check(): Promise<HealthReport> {
    const entries = await Promise.all(
      [...this.sources.values()].map(async (s) => {
        const started = Date.now();
        const required = s.required ?? true;
        let result: HealthResult;
        try {
          result = await withTimeout(Promise.resolve().then(() => s.check()), CHECK_TIMEOUT_MS);
        } catch (err) {
          result = { ok: false, detail: { error: err instanceof Error ? err.message : String(err) } };
        }
        return [s.name, { ...result, required, ms: Date.now() - started }] as const;
      }),
    );
    const checks = Object.fromEntries(entries);
    const ok = entries.every(([, r]) => r.ok || !r.required);
    return { ok, degraded: ok && entries.some(([, r]) => !r.ok), checks };
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`health check timed out after ${ms} ms`)), ms);
    p.then(
      (v) => (clearTimeout(timer), resolve(v)),
      (e) => (clearTimeout(timer), reject(e)),
    );
  });
}

/**
 * Not required: calls keep flowing while PostgreSQL is down (CDRs, state logs and queue events are buffered in
 * Redis, sessions are cached there), so a 503 that makes a load balancer or watchdog restart the node would drop
 * live calls for nothing. Down, it makes the node `degraded`.
 */
export function postgresHealth(pool: pg.Pool): HealthSource {
  return {
    name: 'postgres',
    required: false,
    async check() {
      await pool.query('select 1');
      return { ok: true, detail: { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount } };
    },
  };
}

export function redisHealth(redis: Redis): HealthSource {
  return {
    name: 'redis',
    async check() {
      if (redis.status !== 'ready') return { ok: false, detail: { status: redis.status } };
      const pong = await redis.ping();
      return { ok: pong === 'PONG', detail: { status: redis.status } };
    },
  };
}
