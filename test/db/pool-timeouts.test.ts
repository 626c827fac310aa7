// The pool's guards against a PostgreSQL that goes silent (no RST, e.g. a host frozen or a firewall dropping
// packets): TCP keep-alive on, statement_timeout on a live server, a client-side cut on a silent one, and the
// way out for a statement that is meant to be long (queryWithTimeout).
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { createPool, queryWithTimeout } from '../../src/db/client.js';
import { TEST_DATABASE_URL } from '../helpers/env.js';

/** A TCP relay to the test PostgreSQL that can stop relaying (both ways) without closing: a silent server. */
async function freezableRelay(target: URL): Promise<{ port: number; freeze(): void; close(): Promise<void> }> {
  let frozen = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname || '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (b) => void (frozen || upstream.write(b)));
    upstream.on('data', (b) => void (frozen || client.write(b)));
    const end = () => (client.destroy(), upstream.destroy());
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    freeze: () => void (frozen = true),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const target = new URL(TEST_DATABASE_URL);
const pools: ReturnType<typeof createPool>[] = [];
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end().catch(() => {})));
});

describe('PostgreSQL pool timeouts', () => {
  it('sets TCP keep-alive and a 10 s statement timeout by default', async () => {
    const pool = createPool(TEST_DATABASE_URL, 1);
    pools.push(pool);
    expect(pool.options).toMatchObject({ keepAlive: true, statement_timeout: 10_000, query_timeout: 11_000 });
    expect((await pool.query<{ statement_timeout: string }>('show statement_timeout')).rows[0]!.statement_timeout).toBe('10s');
  });

  it('a live server cancels a statement over the timeout, and the connection is reused', async () => {
    const pool = createPool(TEST_DATABASE_URL, 1, { queryTimeoutMs: 1000 });
    pools.push(pool);
    const started = Date.now();
    await expect(pool.query('select pg_sleep(5)')).rejects.toThrow(/statement timeout/);
    expect(Date.now() - started).toBeLessThan(2500);
    expect((await pool.query('select 1 as one')).rows[0]).toEqual({ one: 1 });
  });

  it('a server gone silent on an open connection: the query fails after the timeout instead of hanging', async () => {
    const relay = await freezableRelay(target);
    const url = new URL(TEST_DATABASE_URL);
    url.hostname = '127.0.0.1';
    url.port = String(relay.port);
    url.searchParams.delete('host');
    const pool = createPool(url.toString(), 1, { queryTimeoutMs: 1000 });
    pools.push(pool);
    try {
      expect((await pool.query('select 1 as one')).rows[0]).toEqual({ one: 1 }); // the connection is open and idle
      relay.freeze();
      const started = Date.now();
      await expect(pool.query('select 2')).rejects.toThrow(/timeout/i);
      const waited = Date.now() - started;
      expect(waited).toBeGreaterThanOrEqual(1900); // 1 s + the margin that lets a live server cancel first
      expect(waited).toBeLessThan(4000);
      expect(pool.totalCount).toBe(0); // the stuck connection was thrown away, not handed to the next query
    } finally {
      await relay.close();
    }
  });

  it('queryWithTimeout lets a known-long statement run past the pool timeout, and still cuts it at its own', async () => {
    const pool = createPool(TEST_DATABASE_URL, 1, { queryTimeoutMs: 1000 });
    pools.push(pool);
    const long = await queryWithTimeout<{ done: boolean }>(pool, 'select pg_sleep(1.5) is not null as done', [], 5000);
    expect(long.rows[0]).toEqual({ done: true });
    await expect(queryWithTimeout(pool, 'select pg_sleep(5)', [], 1200)).rejects.toThrow(/statement timeout/);
    // the transaction's SET LOCAL did not leak into the pool's connection
    expect((await pool.query<{ statement_timeout: string }>('show statement_timeout')).rows[0]!.statement_timeout).toBe('1s');
  });
});
