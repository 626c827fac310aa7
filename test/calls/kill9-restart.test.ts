// The real thing: a CTI process holding parked calls is killed with SIGKILL; a new CTI re-adopts every call that is
// still up, finalizes the ones that ended meanwhile, and every call ends with exactly one CDR.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pino from 'pino';
import type pg from 'pg';
import { startEmulator, type RunningEmulator } from '../../src/sim/index.js';
import { createPool } from '../../src/db/client.js';
import { EslCluster } from '../../src/esl/index.js';
import { CallTracker, CdrWriter, type CallSession } from '../../src/calls/index.js';
import { TEST_DATABASE_URL, TEST_REDIS_URL, randomPrefix } from '../helpers/env.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const log = pino({ level: process.env.TEST_LOG ?? 'silent' });
const until = async (cond: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> => {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('kill -9 of a CTI process with parked calls', () => {
  let emu: RunningEmulator;
  let pool: pg.Pool;
  let redis: Redis;
  let child: ChildProcess | undefined;
  let cluster: EslCluster | undefined;
  let tracker: CallTracker | undefined;
  let writer: CdrWriter | undefined;
  const prefix = randomPrefix('kill9');
  const tenant = `t-kill9-${Math.random().toString(36).slice(2, 8)}`;

  beforeAll(async () => {
    emu = await startEmulator({ heartbeatSec: 1 });
    pool = createPool(TEST_DATABASE_URL, 4);
    await pool.query('insert into tenants (id, name) values ($1, $2) on conflict do nothing', [tenant, '测试中心']);
    redis = new Redis(TEST_REDIS_URL);
  });

  afterAll(async () => {
    child?.kill('SIGKILL');
    await tracker?.stop();
    await cluster?.stop();
    await writer?.close();
    await emu.close();
    await redis.quit();
    await pool.end();
  });

  it('re-adopts every call still up and loses no CDR', async () => {
    child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'fixtures/cti-child.ts')], {
      cwd: root,
      env: { ...process.env, ESL_PORT: String(emu.port), ESL_PASSWORD: emu.password, REDIS_URL: TEST_REDIS_URL, DATABASE_URL: TEST_DATABASE_URL, PREFIX: prefix, TENANT: tenant },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines: { ready?: boolean; call?: string }[] = [];
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        lines.push(JSON.parse(buf.slice(0, i)));
        buf = buf.slice(i + 1);
      }
    });
    await until(() => lines.some((l) => l.ready), 30_000);
    const callers = Array.from({ length: 8 }, (_, i) => emu.world.dial({ from: `1350000000${i}` }));
    await until(() => lines.filter((l) => l.call).length === 8);

    const exited = new Promise((r) => child!.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    // while no CTI runs, two callers give up
    callers[6]!.hangup();
    callers[7]!.hangup();
    await until(() => callers[6]!.ended && callers[7]!.ended);

    cluster = new EslCluster({ nodes: [{ host: emu.host, port: emu.port, name: 'fs1' }], password: emu.password, log });
    writer = new CdrWriter({ pool, redisUrl: TEST_REDIS_URL, prefix, log });
    tracker = new CallTracker({ esl: cluster, redis, redisPrefix: prefix, cdr: writer, log, defaultTenant: tenant, ctiNode: 'cti-restarted', legSettleMs: 200 });
    const fresh: CallSession[] = [];
    tracker.onNewCall = (s) => void fresh.push(s);
    tracker.start();
    cluster.start();
    await cluster.waitConnected(5000);

    const up = callers.slice(0, 6).map((c) => c.uuid!);
    await until(() => up.every((u) => tracker!.get(u)?.adopted === true));
    expect(fresh).toEqual([]);
    for (const u of up) expect(tracker.get(u)).toMatchObject({ state: 'ivr', lastIvrNode: 'child-menu' });
    const all = callers.map((c) => c.uuid!);
    const count = async (): Promise<number> =>
      (await pool.query('select count(*)::int n from cdrs where call_uuid = any($1)', [all])).rows[0].n;
    await until(async () => (await count()) === 2);
    for (const c of callers.slice(0, 6)) c.hangup();
    await until(async () => (await count()) === 8);
    await tracker.whenIdle();
    const rows = await pool.query('select call_uuid, recovered, last_ivr_node, answer_at from cdrs where call_uuid = any($1)', [all]);
    expect(rows.rows).toHaveLength(8);
    for (const r of rows.rows) expect(r).toMatchObject({ last_ivr_node: 'child-menu' });
    expect(rows.rows.every((r: { answer_at: Date | null }) => r.answer_at !== null)).toBe(true);
    expect(rows.rows.filter((r: { recovered: boolean }) => r.recovered).map((r: { call_uuid: string }) => r.call_uuid).sort()).toEqual(
      [callers[6]!.uuid!, callers[7]!.uuid!].sort(),
    );
    expect(await redis.smembers(`${prefix}:calls:fs1`)).toEqual([]);
  });
});
