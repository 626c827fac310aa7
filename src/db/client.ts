import pg from 'pg';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as schema from './schema/index.js';

export type Db = NodePgDatabase<typeof schema>;
export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../sql');

/** PG_QUERY_TIMEOUT_MS's default: an OLTP CTI's statements take milliseconds; 10 s means the server is in trouble */
export const DEFAULT_QUERY_TIMEOUT_MS = 10_000;
/** the client-side cut comes this much after the server's statement_timeout, so a live server cancels cleanly first */
const CLIENT_TIMEOUT_MARGIN_MS = 1000;

export interface PoolOptions {
  /** statement_timeout on the server and, just after it, a client-side query timeout; 0 = none */
  queryTimeoutMs?: number;
}

/**
 * TCP keep-alive finds connections whose server vanished (host down, cable cut) instead of keeping them idle
 * forever; the client-side query timeout fails a query on a server that went silent (not refusing: no RST),
 * which would otherwise hang with its connection. A timed-out client is destroyed by the pool, not reused.
 * Longer statements (reports over months) go through `queryWithTimeout`.
 */
export function createPool(url: string, max = 10, opts: PoolOptions = {}): pg.Pool {
  const timeoutMs = opts.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
  const pool = new pg.Pool({
    connectionString: url,
    max,
    connectionTimeoutMillis: 3000,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    ...(timeoutMs > 0 ? { statement_timeout: timeoutMs, query_timeout: timeoutMs + CLIENT_TIMEOUT_MARGIN_MS } : {}),
  });
  // an idle client's error (e.g. the server restarting) must not crash the process; the next query fails instead
  pool.on('error', () => {});
  return pool;
}

/**
 * One statement allowed to run longer than the pool's timeout (a report the caller knows is long): its own
 * transaction with `SET LOCAL statement_timeout`, and the client-side cut moved to match.
 */
export async function queryWithTimeout<R extends pg.QueryResultRow>(
  pool: pg.Pool,
  text: string,
  values: unknown[],
  timeoutMs: number,
): Promise<pg.QueryResult<R>> {
  const client = await pool.connect();
  const queryTimeout = timeoutMs + CLIENT_TIMEOUT_MARGIN_MS;
  let failed: Error | undefined;
  try {
    await client.query('begin');
    await client.query(`set local statement_timeout = ${Math.max(0, Math.trunc(timeoutMs))}`);
    const result = await client.query<R>({ text, values, query_timeout: queryTimeout } as pg.QueryConfig);
    await client.query('commit');
    return result;
  } catch (err) {
    failed = err as Error;
    await client.query('rollback').catch(() => {});
    throw err;
  } finally {
    // after a client-side timeout the connection may still be busy with the old statement: don't reuse it
    client.release(failed && /timeout/i.test(failed.message) ? failed : undefined);
  }
}

export function createDb(pool: pg.Pool): Db {
  return drizzle(pool, { schema });
}

/** Apply sql/ migrations under an advisory lock, so several CTI nodes (or test workers) starting at once do not race. */
export async function applyMigrations(pool: pg.Pool): Promise<void> {
  // its own connection without the pool's statement timeouts: an index built on a big table may take minutes,
  // and waiting for another node's lock may too
  const { statement_timeout: _s, query_timeout: _q, ...connection } = pool.options as pg.PoolConfig;
  const client = new pg.Client(connection);
  await client.connect();
  try {
    await client.query('select pg_advisory_lock(727312345)');
    await migrate(drizzle(client), { migrationsFolder: MIGRATIONS_DIR });
  } finally {
    await client.query('select pg_advisory_unlock(727312345)').catch(() => {});
    await client.end();
  }
}
