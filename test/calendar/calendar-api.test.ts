// Calendar edits through the admin API are saved in PostgreSQL, apply at once on this node and, via Redis pub/sub,
// on another node; the center's file is the base they override.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { CalendarService } from '../../src/calendar/service.js';
import { calendarAdminRoutes } from '../../src/calendar/routes.js';
import { buildHttpApp } from '../../src/http/app.js';
import { makeTestContext, createTestTenant, createTestUser, login, type TestContext, type LoggedIn } from '../http/fixture.js';
import { TEST_REDIS_URL } from '../helpers/env.js';

const bj = (s: string) => new Date(`${s}+08:00`);

async function eventually(check: () => boolean, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

let t: TestContext;
let app: FastifyInstance;
let nodeA: CalendarService;
let nodeB: CalendarService;
let redisB: Redis;
let tenant: string;
let admin: LoggedIn;
let supervisor: LoggedIn;

beforeAll(async () => {
  t = await makeTestContext();
  tenant = await createTestTenant(t.ctx);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cal-'));
  fs.writeFileSync(
    path.join(dir, `${tenant}.yaml`),
    ['official: true', 'weekly:', ...['mon', 'tue', 'wed', 'thu', 'fri'].map((d) => `  ${d}: ["09:00-17:00"]`), 'days:', '  - { date: "2026-11-26", kind: holiday, name: 文件假日 }', ''].join('\n'),
  );
  redisB = new Redis(TEST_REDIS_URL);
  nodeA = new CalendarService({ db: t.ctx.db, calendarDir: dir, redis: t.ctx.redis, redisPrefix: t.ctx.redisPrefix });
  nodeB = new CalendarService({ db: t.ctx.db, calendarDir: dir, redis: redisB, redisPrefix: t.ctx.redisPrefix });
  await nodeA.start();
  await nodeB.start();
  app = await buildHttpApp(t.ctx, { routes: [calendarAdminRoutes(t.ctx, nodeA)] });
  const [a, s] = await Promise.all([createTestUser(t.ctx, tenant, 'admin'), createTestUser(t.ctx, tenant, 'supervisor')]);
  admin = await login(app, a.loginId, a.password);
  supervisor = await login(app, s.loginId, s.password);
});
afterAll(async () => {
  await app?.close();
  await nodeA?.stop();
  await nodeB?.stop();
  redisB?.disconnect();
  await t?.close();
});

describe('calendar admin API', () => {
  it('starts from the center file', async () => {
    expect(nodeB.status(tenant, bj('2026-11-24T09:30:00'))).toBe('open');
    expect(nodeB.status(tenant, bj('2026-11-24T08:30:00'))).toBe('closed');
    expect(nodeB.status(tenant, bj('2026-11-26T10:00:00'))).toBe('holiday');
    const res = await app.inject({ method: 'GET', url: '/admin/calendar', headers: supervisor.bearer });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ timezone: 'Asia/Shanghai', official: true, weekly: { mon: ['09:00-17:00'] } });
  });

  it('a closed day set by the admin applies on both nodes and is saved', async () => {
    const res = await app.inject({ method: 'PUT', url: '/admin/calendar/days/2026-11-24', headers: admin.bearer, payload: { kind: 'closed', name: '系统割接' } });
    expect(res.statusCode).toBe(204);
    expect(nodeA.status(tenant, bj('2026-11-24T10:00:00'))).toBe('closed');
    await eventually(() => nodeB.status(tenant, bj('2026-11-24T10:00:00')) === 'closed');
    // a third node starting later reads it from PostgreSQL
    const late = new CalendarService({ db: t.ctx.db, calendarDir: '/nonexistent' });
    await late.start();
    expect(late.get(tenant).day('2026-11-24')).toMatchObject({ kind: 'closed', name: '系统割接', source: 'override' });

    expect((await app.inject({ method: 'DELETE', url: '/admin/calendar/days/2026-11-24', headers: admin.bearer })).statusCode).toBe(204);
    await eventually(() => nodeB.status(tenant, bj('2026-11-24T10:00:00')) === 'open');
    expect((await app.inject({ method: 'DELETE', url: '/admin/calendar/days/2026-11-24', headers: admin.bearer })).statusCode).toBe(404);
  });

  it('weekly hours with two intervals a day, and a 调休 Saturday with its own hours', async () => {
    const weekly = Object.fromEntries(['mon', 'tue', 'wed', 'thu', 'fri'].map((d) => [d, ['08:00-12:00', '14:00-20:00']]));
    const put = await app.inject({ method: 'PUT', url: '/admin/calendar/weekly', headers: admin.bearer, payload: { weekly, official: true, makeUpDayHours: ['09:00-12:00'] } });
    expect(put.statusCode).toBe(204);
    await eventually(() => nodeB.status(tenant, bj('2026-11-23T19:00:00')) === 'open');
    expect(nodeB.status(tenant, bj('2026-11-23T13:00:00'))).toBe('closed');
    expect(nodeB.status(tenant, bj('2026-10-10T10:00:00'))).toBe('open'); // 调休 Saturday, make-up hours
    expect(nodeB.status(tenant, bj('2026-10-10T13:00:00'))).toBe('closed');

    const days = await app.inject({ method: 'GET', url: '/admin/calendar/days?from=2026-09-30&to=2026-10-10', headers: supervisor.bearer });
    const byDate = Object.fromEntries(days.json().days.map((d: { date: string }) => [d.date, d]));
    expect(byDate['2026-10-01']).toMatchObject({ kind: 'holiday', name: '国庆节', hours: [] });
    expect(byDate['2026-10-10']).toMatchObject({ kind: 'makeup-workday', hours: ['09:00-12:00'] });
    expect(byDate['2026-09-30']).toMatchObject({ kind: 'workday', hours: ['08:00-12:00', '14:00-20:00'] });
  });

  it('refuses a bad interval (400 with the field) and supervisors (403)', async () => {
    const bad = await app.inject({ method: 'PUT', url: '/admin/calendar/weekly', headers: admin.bearer, payload: { weekly: { mon: ['18:00-09:00'] } } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().field).toBe('weekly.mon');
    const sup = await app.inject({ method: 'PUT', url: '/admin/calendar/days/2026-12-01', headers: supervisor.bearer, payload: { kind: 'holiday' } });
    expect(sup.statusCode).toBe(403);
  });

  it('status endpoint: open now or when next', async () => {
    const res = await app.inject({ method: 'GET', url: `/calendar/status?at=${encodeURIComponent('2026-09-30T21:00:00+08:00')}`, headers: supervisor.bearer });
    expect(res.json()).toEqual({ status: 'closed', open: false, nextOpening: bj('2026-10-08T08:00:00').toISOString() });
  });
});
