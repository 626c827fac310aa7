// The directory cache behind POST /freeswitch/directory: one PostgreSQL query for a burst of lookups of one agent,
// and changes made through the admin API reach every node at once (two apps on one Redis prefix, as two CTI nodes).
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { buildHttpApp } from '../../src/http/app.js';
import { NOT_FOUND_XML } from '../../src/http/freeswitch-directory.js';
import { DirectoryCache } from '../../src/http/directory-cache.js';
import { createPool, createDb } from '../../src/db/client.js';
import type { AppContext } from '../../src/app-context.js';
import { until } from '../e2e/cti-fixture.js';
import { makeTestContext, createTestTenant, createTestUser, login, type LoggedIn, type TestContext, type TestUser } from './fixture.js';

let t: TestContext;
let nodeB: AppContext;
let appA: FastifyInstance;
let appB: FastifyInstance;
let tenantId: string;
let agent: TestUser;
let admin: LoggedIn;

/** counts the statements a pool runs against one table (drizzle quotes table names) */
function countQueries(pool: pg.Pool, table: string): { readonly n: number } {
  const counter = { n: 0 };
  const original = pool.query.bind(pool) as (...args: unknown[]) => unknown;
  vi.spyOn(pool, 'query').mockImplementation(((...args: unknown[]) => {
    const first = args[0];
    const text = typeof first === 'string' ? first : (first as { text?: string }).text ?? '';
    if (text.includes(`from "${table}"`)) counter.n++;
    return original(...args);
  }) as never);
  return counter;
}

function ask(app: FastifyInstance, user: string, domain = tenantId) {
  const payload = new URLSearchParams({ section: 'directory', tag_name: 'domain', key_name: 'name', key_value: domain, user, domain, action: 'sip_auth' });
  return app.inject({ method: 'POST', url: '/freeswitch/directory', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: payload.toString() });
}
const passwordIn = (xml: string) => /<param name="password" value="([^"]*)"\/>/.exec(xml)?.[1];

let usersQueriesA: { readonly n: number };
let usersQueriesB: { readonly n: number };
let tenantQueriesA: { readonly n: number };

beforeAll(async () => {
  t = await makeTestContext();
  tenantId = await createTestTenant(t.ctx);
  // node B: its own pool (and so its own cache), the same Redis and key prefix
  const poolB = createPool(t.ctx.env.DATABASE_URL, 4);
  nodeB = { ...t.ctx, nodeId: 'test-node-b', pool: poolB, db: createDb(poolB) };
  usersQueriesA = countQueries(t.ctx.pool, 'users');
  tenantQueriesA = countQueries(t.ctx.pool, 'tenants');
  usersQueriesB = countQueries(poolB, 'users');
  appA = await buildHttpApp(t.ctx);
  appB = await buildHttpApp(nodeB);
  agent = await createTestUser(t.ctx, tenantId, 'agent', { extension: '3101' });
  const adminUser = await createTestUser(t.ctx, tenantId, 'admin');
  admin = await login(appA, adminUser.loginId, adminUser.password);
});
afterAll(async () => {
  vi.restoreAllMocks();
  await appA?.close();
  await appB?.close();
  await nodeB?.pool.end();
  await t?.close();
});

describe('directory cache', () => {
  it('answers 50 concurrent lookups of one agent with one query, and the next burst with none', async () => {
    const users0 = usersQueriesA.n;
    const tenants0 = tenantQueriesA.n;
    const burst = await Promise.all(Array.from({ length: 50 }, () => ask(appA, '3101')));
    for (const res of burst) expect(passwordIn(res.body)).toBe(agent.sipPassword);
    expect(usersQueriesA.n - users0).toBe(1);
    expect(tenantQueriesA.n - tenants0).toBe(1);
    const again = await Promise.all(Array.from({ length: 50 }, () => ask(appA, '3101')));
    for (const res of again) expect(passwordIn(res.body)).toBe(agent.sipPassword);
    expect(usersQueriesA.n - users0).toBe(1);
    expect(tenantQueriesA.n - tenants0).toBe(1);
  });

  it('a SIP password regenerated on node A is served by node B at once', async () => {
    expect(passwordIn((await ask(appB, '3101')).body)).toBe(agent.sipPassword); // B has it cached
    const cachedOnB = usersQueriesB.n;
    expect(passwordIn((await ask(appB, '3101')).body)).toBe(agent.sipPassword);
    expect(usersQueriesB.n).toBe(cachedOnB);

    const res = await appA.inject({
      method: 'PATCH', url: `/admin/users/${agent.id}`, headers: { ...admin.bearer, 'x-csrf-token': admin.csrfToken },
      payload: { regenerateSipPassword: true },
    });
    expect(res.statusCode).toBe(200);
    const newPassword = (res.json() as { sipPassword: string }).sipPassword;
    expect(newPassword).not.toBe(agent.sipPassword);
    expect(passwordIn((await ask(appA, '3101')).body)).toBe(newPassword); // the writer's own node: synchronously
    // node B hears it over Redis pub/sub (milliseconds), then re-reads PostgreSQL
    await until(async () => passwordIn((await ask(appB, '3101')).body) === newPassword, 1000, 'node B serving the new password');
    expect(usersQueriesB.n).toBe(cachedOnB + 1);
  });

  it('an unknown extension is looked up once per short interval, and found as soon as an admin creates it', async () => {
    const users0 = usersQueriesB.n;
    for (let i = 0; i < 20; i++) expect((await ask(appB, '3102')).body).toBe(NOT_FOUND_XML);
    expect(usersQueriesB.n - users0).toBe(1);
    const res = await appA.inject({
      method: 'POST', url: '/admin/users', headers: { ...admin.bearer, 'x-csrf-token': admin.csrfToken },
      payload: { loginId: `new-agent-${Date.now()}`, displayName: '新座席', role: 'agent', extension: '3102' },
    });
    expect(res.statusCode).toBe(201);
    const { sipPassword } = res.json() as { sipPassword: string };
    await until(async () => passwordIn((await ask(appB, '3102')).body) === sipPassword, 1000, 'node B finding the new agent');
  });

  it('a disabled agent is not found at once on either node', async () => {
    expect(passwordIn((await ask(appA, '3101')).body)).toBeDefined();
    expect(passwordIn((await ask(appB, '3101')).body)).toBeDefined();
    const res = await appA.inject({
      method: 'PATCH', url: `/admin/users/${agent.id}`, headers: { ...admin.bearer, 'x-csrf-token': admin.csrfToken },
      payload: { disabled: true },
    });
    expect(res.statusCode).toBe(200);
    expect((await ask(appA, '3101')).body).toBe(NOT_FOUND_XML);
    await until(async () => (await ask(appB, '3101')).body === NOT_FOUND_XML, 1000, 'node B refusing the disabled agent');
  });

  it('entries expire (found after the TTL, not found after the short negative TTL); a lookup overtaken by a change is not kept', async () => {
    let now = 1_000_000;
    const cache = new DirectoryCache(t.ctx.db, { ttlMs: 60_000, negativeTtlMs: 5_000, now: () => now });
    const agent2 = await createTestUser(t.ctx, tenantId, 'agent', { extension: '3103' });
    const u0 = usersQueriesA.n;
    expect((await cache.findSipUser(tenantId, '3103'))?.sipPassword).toBe(agent2.sipPassword);
    expect(await cache.findSipUser(tenantId, '3199')).toBeNull();
    expect(usersQueriesA.n - u0).toBe(2);
    now += 5_001; // the miss is asked again, the hit is not
    await cache.findSipUser(tenantId, '3103');
    await cache.findSipUser(tenantId, '3199');
    expect(usersQueriesA.n - u0).toBe(3);
    now += 55_000;
    await cache.findSipUser(tenantId, '3103');
    expect(usersQueriesA.n - u0).toBe(4);

    // a change while a lookup is in flight: that lookup's answer is not cached, the next one reads again
    cache.forget({ tenantId, extensions: ['3103'] });
    const inFlight = cache.findSipUser(tenantId, '3103');
    cache.forget({ tenantId, extensions: ['3103'] });
    await inFlight;
    await cache.findSipUser(tenantId, '3103');
    expect(usersQueriesA.n - u0).toBe(6);
  });
});
