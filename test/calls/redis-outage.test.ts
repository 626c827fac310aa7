// Redis (call records, CDR buffer) going away must not stop calls nor lose their CDRs while PostgreSQL is up.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { Redis } from 'ioredis';
import pino from 'pino';
import type pg from 'pg';
import { startEmulator, type RunningEmulator } from '../../src/sim/index.js';
import { createPool } from '../../src/db/client.js';
import { EslCluster } from '../../src/esl/index.js';
import { CallTracker, CdrWriter, type CallSession } from '../../src/calls/index.js';
import { TEST_DATABASE_URL, randomPrefix } from '../helpers/env.js';
import { RedisInstance } from '../helpers/redis-instance.js';

const log = pino({ level: process.env.TEST_LOG ?? 'silent' });
const until = async (cond: () => boolean | Promise<boolean>, timeoutMs = 8000): Promise<void> => {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('calls while the private Redis is down', () => {
  let redisServer: RedisInstance;
  let redis: Redis;
  let pool: pg.Pool;
  let emu: RunningEmulator;
  let cluster: EslCluster;
  let tracker: CallTracker;
  let writer: CdrWriter;
  const tenant = `t-redis-${Math.random().toString(36).slice(2, 8)}`;
  const newCalls: CallSession[] = [];

  beforeAll(async () => {
    redisServer = await RedisInstance.create();
    redis = new Redis(redisServer.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
    redis.on('error', () => {});
    pool = createPool(TEST_DATABASE_URL, 4);
    await pool.query('insert into tenants (id, name) values ($1, $2) on conflict do nothing', [tenant, '测试中心']);
    emu = await startEmulator({ heartbeatSec: 1 });
    const prefix = randomPrefix('rdown');
    cluster = new EslCluster({ nodes: [{ host: emu.host, port: emu.port, name: 'fs1' }], password: emu.password, log });
    writer = new CdrWriter({ pool, redisUrl: redisServer.url, prefix, log });
    tracker = new CallTracker({ esl: cluster, redis, redisPrefix: prefix, cdr: writer, log, defaultTenant: tenant, legSettleMs: 200 });
    tracker.onNewCall = (s) => void newCalls.push(s);
    tracker.start();
    cluster.start();
    await cluster.waitConnected(5000);
  }, 60_000);

  afterAll(async () => {
    await redisServer.start();
    await tracker?.stop();
    await cluster?.stop();
    await writer?.close(1000);
    await emu?.close();
    redis?.disconnect();
    await pool?.end();
    await redisServer?.destroy();
  });

  it('keeps handling calls and writes their CDRs straight to PostgreSQL', async () => {
    const first = emu.world.dial({ from: '13800000031' });
    await until(() => newCalls.length === 1);
    await until(async () => (await redis.exists(`${tracker.store.key(first.uuid!)}`)) === 1);
    await redisServer.stop();
    const second = emu.world.dial({ from: '13800000032' });
    await until(() => newCalls.length === 2);
    await newCalls[1]!.media.answer();
    first.hangup();
    second.hangup();
    await until(async () => {
      const r = await pool.query('select count(*)::int n from cdrs where call_uuid = any($1)', [[first.uuid, second.uuid]]);
      return r.rows[0].n === 2;
    });
    await until(() => tracker.size === 0);
    await redisServer.start();
  });
});
