import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { users, tenants, sessions, auditLog, tenantScope } from '../../src/db/schema/core.js';
import { createUser, listUsers, getUser, updateUser, findSipUser } from '../../src/auth/users.js';
import { writeAudit } from '../../src/auth/audit.js';
import { ensureDemoData, DEMO_TENANTS } from '../../src/auth/demo-data.js';
import { verifyPassword } from '../../src/auth/passwords.js';
import { makeTestContext, createTestTenant, uniq, type TestContext } from '../http/fixture.js';

let t: TestContext;
beforeAll(async () => {
  t = await makeTestContext();
});
afterAll(async () => {
  await t?.close();
});

describe('core schema', () => {
  it('has the tables with tenant_id on every tenant-owned one', async () => {
    const { rows } = await t.ctx.pool.query<{ table_name: string }>(
      `select table_name from information_schema.columns
       where table_schema = 'public' and column_name = 'tenant_id' and table_name in ('users', 'sessions', 'audit_log')`,
    );
    expect(rows.map((r) => r.table_name).sort()).toEqual(['audit_log', 'sessions', 'users']);
    const [tenant] = await t.ctx.db.insert(tenants).values({ id: `t${Date.now()}`, name: '时区中心' }).returning();
    expect(tenant!.timezone).toBe('Asia/Shanghai');
  });

  it('keeps login ids globally unique and extensions unique per tenant', async () => {
    const a = await createTestTenant(t.ctx);
    const b = await createTestTenant(t.ctx);
    const loginId = uniq('g');
    await createUser(t.ctx.db, a, { loginId, displayName: 'x', role: 'agent', password: 'abc12345', extension: '5001' });
    await expect(createUser(t.ctx.db, b, { loginId, displayName: 'y', role: 'admin', password: 'abc12345' })).rejects.toMatchObject({
      statusCode: 409,
      code: 'login_id_taken',
    });
    await expect(createUser(t.ctx.db, a, { loginId: uniq('g'), displayName: 'x', role: 'agent', password: 'abc12345', extension: '5001' })).rejects.toMatchObject({
      code: 'extension_taken',
    });
    const sameExtOtherTenant = await createUser(t.ctx.db, b, { loginId: uniq('g'), displayName: 'x', role: 'agent', password: 'abc12345', extension: '5001' });
    expect(sameExtOtherTenant.sipPassword).toBeTruthy();
    // users without an extension don't collide on null
    await createUser(t.ctx.db, a, { loginId: uniq('g'), displayName: 's1', role: 'supervisor', password: 'abc12345' });
    await createUser(t.ctx.db, a, { loginId: uniq('g'), displayName: 's2', role: 'supervisor', password: 'abc12345' });
  });

  it('rejects an unknown role in the database itself', async () => {
    const a = await createTestTenant(t.ctx);
    await expect(
      t.ctx.pool.query(`insert into users (tenant_id, login_id, display_name, role, password_hash) values ($1, $2, 'x', 'root', 'h')`, [a, uniq('r')]),
    ).rejects.toThrow(/users_role_ck/);
  });

  it('scopes every user query by tenant', async () => {
    const a = await createTestTenant(t.ctx);
    const b = await createTestTenant(t.ctx);
    const ua = await createUser(t.ctx.db, a, { loginId: uniq('s'), displayName: 'a', role: 'agent', password: 'abc12345', extension: '6001' });
    await createUser(t.ctx.db, b, { loginId: uniq('s'), displayName: 'b', role: 'agent', password: 'abc12345', extension: '6001' });

    expect((await listUsers(t.ctx.db, a)).map((u) => u.id)).toEqual([ua.id]);
    expect(await getUser(t.ctx.db, b, ua.id)).toBeNull();
    expect(await updateUser(t.ctx.db, b, ua.id, { displayName: 'hijacked' })).toBeNull();
    expect((await getUser(t.ctx.db, a, ua.id))!.displayName).toBe('a');
    expect((await findSipUser(t.ctx.db, a, '6001'))!.id).toBe(ua.id);

    const scoped = await t.ctx.db.select().from(users).where(tenantScope(users.tenantId, b, eq(users.id, ua.id)));
    expect(scoped).toEqual([]);
  });

  it('writes audit entries and cascades sessions with their user', async () => {
    const a = await createTestTenant(t.ctx);
    const u = await createUser(t.ctx.db, a, { loginId: uniq('au'), displayName: 'a', role: 'admin', password: 'abc12345' });
    await writeAudit(t.ctx.db, { tenantId: a, userId: u.id, action: 'test.action', target: 'x', details: { n: 1 } });
    const rows = await t.ctx.db.select().from(auditLog).where(eq(auditLog.tenantId, a));
    expect(rows).toMatchObject([{ action: 'test.action', target: 'x', details: { n: 1 } }]);
    await t.ctx.db.insert(sessions).values({ tokenHash: uniq('h'), userId: u.id, tenantId: a, expiresAt: new Date(Date.now() + 60_000), csrfToken: 'c' });
    await t.ctx.db.delete(users).where(eq(users.id, u.id));
    expect(await t.ctx.db.select().from(sessions).where(eq(sessions.userId, u.id))).toEqual([]);
  });
});

describe('ensureDemoData', () => {
  it('creates the demo centers once, with working credentials, and is idempotent under concurrency', async () => {
    const [first, second] = await Promise.all([ensureDemoData(t.ctx, { print: false }), ensureDemoData(t.ctx, { print: false })]);
    const third = await ensureDemoData(t.ctx, { print: false });
    expect(third).toEqual({ createdTenants: [], credentials: [] });
    // the two concurrent calls never both create the same center
    const created = [...first.createdTenants, ...second.createdTenants];
    expect(new Set(created).size).toBe(created.length);

    const demo = await t.ctx.db.select().from(tenants).where(eq(tenants.id, 'demo'));
    expect(demo[0]?.name).toBe('示范热线中心');
    const other = await t.ctx.db.select().from(tenants).where(eq(tenants.id, 'other'));
    expect(other).toHaveLength(1);

    const creds = [...first.credentials, ...second.credentials];
    const spec = DEMO_TENANTS.find((s) => s.id === 'demo')!;
    const demoUsers = await listUsers(t.ctx.db, 'demo');
    if (created.includes('demo')) {
      // this run created it (a fresh test database): check what a new user gets
      expect(demoUsers.filter((u) => u.role === 'admin')).toHaveLength(1);
      expect(demoUsers.filter((u) => u.role === 'supervisor')).toHaveLength(2);
      const agents = demoUsers.filter((u) => u.role === 'agent');
      expect(agents.map((u) => u.extension).sort()).toEqual(Array.from({ length: 20 }, (_, i) => String(1001 + i)));
      expect(agents.every((u) => u.sipPassword)).toBe(true);
      const admin = creds.find((c) => c.tenantId === 'demo' && c.role === 'admin')!;
      const row = demoUsers.find((u) => u.loginId === admin.loginId)!;
      expect(await verifyPassword(row.passwordHash, admin.password)).toBe(true);
      expect(creds.filter((c) => c.tenantId === 'demo')).toHaveLength(spec.users.length);
    }
  });
});

describe('sessions housekeeping', () => {
  it('purges expired sessions only', async () => {
    const { purgeExpiredSessions, authenticateToken, createSession } = await import('../../src/auth/sessions.js');
    const a = await createTestTenant(t.ctx);
    const u = await createUser(t.ctx.db, a, { loginId: uniq('p'), displayName: 'p', role: 'agent', password: 'abc12345', extension: '7001' });
    const live = await createSession(t.ctx.db, u, 60_000);
    const dead = await createSession(t.ctx.db, u, -1000);
    expect(await authenticateToken(t.ctx.db, dead.token)).toBeNull();
    expect(await purgeExpiredSessions(t.ctx.db)).toBeGreaterThanOrEqual(1);
    expect(await t.ctx.db.select().from(sessions).where(eq(sessions.tokenHash, dead.tokenHash))).toEqual([]);
    expect((await authenticateToken(t.ctx.db, live.token))!.user.userId).toBe(u.id);
  });
});
