import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import pino from 'pino';
import { testDb, freshTenant } from './db.js';
import { FakeExecutor, dropPrefix, newPrefix } from './helpers.js';
import { startAcd } from '../../src/acd/index.js';
import { createGroup } from '../../src/acd/groups.js';
import { loadEnv } from '../../src/config/env.js';
import { TEST_REDIS_URL } from '../helpers/env.js';
import type { AppContext } from '../../src/app-context.js';

const { pool, db } = testDb();
afterAll(async () => {
  await pool.end();
});

describe('startAcd', () => {
  it('pushes the configured groups into routing at start and flushes events on close', async () => {
    const tenant = await freshTenant(pool);
    const g = await createGroup(db, tenant, { name: '咨询', code: 'consult', strategy: 'round_robin' });
    const redis = new Redis(TEST_REDIS_URL);
    const prefix = newPrefix();
    const ctx: AppContext = {
      env: loadEnv({ REDIS_URL: TEST_REDIS_URL }),
      log: pino({ level: 'silent' }),
      nodeId: 'svc1',
      pool,
      db,
      redis,
      redisPrefix: prefix,
    };
    const acd = await startAcd(ctx, new FakeExecutor());
    expect(acd.adopted).toEqual([]);
    expect(acd.routes).toHaveLength(2);
    expect((await acd.engine.groupConfig(g.id))?.strategy).toBe('round_robin');
    const res = await acd.engine.enqueue({ callUuid: crypto.randomUUID(), tenantId: tenant, groupId: g.id, callerNumber: '13800000000' });
    expect(res).toEqual({ status: 'queued', position: 1 });
    // the IVR names the group by its code
    const media = { uuid: 'x', startMusic: async () => {} } as unknown as import('../../src/calls/media.js').CallMedia;
    const ivrCall = crypto.randomUUID();
    const handled = acd.queueHandler(
      { tenantId: tenant, callUuid: ivrCall, callerNumber: '13800000009', destination: '12345', skillGroup: 'consult', priority: 50, flowId: 'f', versionId: 'v', nodeId: 'n', vars: {}, requestedAt: new Date() },
      media,
    );
    for (let i = 0; i < 50 && !(await acd.engine.position(ivrCall)); i++) await new Promise((r) => setTimeout(r, 10));
    expect(await acd.engine.position(ivrCall)).toMatchObject({ position: 1 });
    await acd.engine.abandon(ivrCall);
    expect(await handled).toEqual({ kind: 'caller-gone' });
    await acd.close();
    const { rows } = await pool.query(`select type from queue_events where tenant_id = $1`, [tenant]);
    expect(rows.map((r) => r.type)).toEqual(['enqueue', 'enqueue', 'abandon']);
    redis.disconnect();
    await dropPrefix(prefix);
  });
});

describe('demo skill groups', () => {
  it('creates the groups the demo IVR flow names, with the demo agents, once', async () => {
    const { ensureDemoSkillGroups } = await import('../../src/acd/demo-seed.js');
    const { listGroups, groupRefResolver, listEndpoints } = await import('../../src/acd/groups.js');
    const tenant = await freshTenant(pool);
    const ids = new Map<string, string>();
    for (let i = 1001; i <= 1020; i++) {
      const { rows } = await pool.query<{ id: string }>(
        `insert into users (tenant_id, login_id, display_name, role, extension, password_hash) values ($1, $2, '话务员', 'agent', $3, 'x') returning id`,
        [tenant, `${tenant}-${i}`, String(i)],
      );
      ids.set(String(i), rows[0]!.id);
    }
    expect((await ensureDemoSkillGroups(db, tenant)).sort()).toEqual(['complaint', 'consult', 'enterprise', 'general', 'help', 'suggestion']);
    expect(await ensureDemoSkillGroups(db, tenant)).toEqual([]);
    const groups = await listGroups(db, tenant);
    const consult = groups.find((g) => g.code === 'consult')!;
    const general = groups.find((g) => g.code === 'general')!;
    expect(consult.members).toHaveLength(10);
    expect(consult.overflowOnWait).toEqual({ kind: 'group', groupId: general.id });
    expect(await groupRefResolver(db)(tenant, 'complaint')).toBe(groups.find((g) => g.code === 'complaint')!.id);
    expect(await groupRefResolver(db)(tenant, '紧急求助')).toBe(groups.find((g) => g.code === 'help')!.id);
    expect(await groupRefResolver(db)(tenant, 'nope')).toBeNull();
    const eps = await listEndpoints(db, tenant, ids.get('1020')!);
    expect(eps.find((e) => e.type === 'mobile')).toMatchObject({ address: '13700000001', gateway: 'hotline-carrier', confirmKey: '1' });
  });
});
