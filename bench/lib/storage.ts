// The load runs' own storage: their PostgreSQL database (bench/run.ts: hotline_bench, test/sipp/run.ts: hotline_sipp) and
// their Redis keys under a random prefix.
import pg from 'pg';
import { Redis } from 'ioredis';
import { createPool, createDb, applyMigrations, type Db } from '../../src/db/client.js';

/** create the database named in the URL if it does not exist */
export async function ensureDatabase(url: string): Promise<void> {
  const u = new URL(url);
  const name = u.pathname.slice(1);
  u.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: u.toString() });
  await admin.connect();
  try {
    const r = await admin.query('select 1 from pg_database where datname = $1', [name]);
    // the app role has CREATEDB (scripts/setup.sh); otherwise create it as the postgres OS user
    if (r.rowCount === 0) await admin.query(`create database "${name.replace(/"/g, '')}"`);
  } finally {
    await admin.end();
  }
}

/** the run's Redis keys (ACD state, BullMQ queues) under its random prefix */
export async function dropRedisKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** the run's database, created and migrated if need be, with a small pool (the CTI under test has its own) */
export async function openRunDatabase(url: string): Promise<{ pool: pg.Pool; db: Db }> {
  await ensureDatabase(url);
  const pool = createPool(url, 4);
  await applyMigrations(pool);
  return { pool, db: createDb(pool) };
}
