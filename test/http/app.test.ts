import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { buildHttpApp } from '../../src/http/app.js';
import { metrics, eslMetrics } from '../../src/http/metrics.js';
import { Lifecycle } from '../../src/lifecycle.js';
import { requireRole, currentUser } from '../../src/auth/guard.js';
import { createPool, createDb } from '../../src/db/client.js';
import { freePort } from '../helpers/pg-instance.js';
import { makeTestContext, createTestTenant, createTestUser, login, type TestContext } from './fixture.js';

let t: TestContext;
let app: FastifyInstance;
const lifecycle = new Lifecycle();
let eslUp = true;

// a module's routes, as other modules hand them to buildHttpApp
const moduleRoutes: FastifyPluginAsync = async (m) => {
  m.post<{ Body: { n: number } }>(
    '/test/echo',
    { onRequest: requireRole('supervisor'), schema: { body: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] } } },
    async (request) => ({ n: request.body.n, tenant: currentUser(request).tenantId }),
  );
  m.get('/test/boom', { schema: {} }, async () => {
    throw new Error('secret internals: password=hunter2');
  });
};

beforeAll(async () => {
  t = await makeTestContext();
  app = await buildHttpApp(t.ctx, {
    routes: [moduleRoutes],
    health: [
      { name: 'esl:fs1', check: () => ({ ok: eslUp, detail: { connected: eslUp } }) },
      { name: 'flows', required: false, check: () => ({ ok: false, detail: { errors: ['main.yaml: bad node'] } }) },
    ],
    lifecycle,
  });
});
afterAll(async () => {
  await app?.close();
  await t?.close();
});

describe('/healthz', () => {
  it('is 200 when PostgreSQL, Redis and every required source are up (optional failures: degraded, reported)', async () => {
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.status).toBe('degraded');
    expect(body.checks.postgres.ok).toBe(true);
    expect(body.checks.redis.ok).toBe(true);
    expect(body.checks['esl:fs1']).toMatchObject({ ok: true, required: true });
    expect(body.checks.flows).toMatchObject({ ok: false, required: false, detail: { errors: ['main.yaml: bad node'] } });
  });

  it('is 503 when a required part is down, and sources can be added later', async () => {
    eslUp = false;
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ status: 'down', checks: { 'esl:fs1': { ok: false } } });
    eslUp = true;

    const remove = app.health.add({ name: 'hung', check: () => new Promise(() => {}) });
    const hung = await app.inject({ method: 'GET', url: '/healthz' });
    expect(hung.statusCode).toBe(503);
    expect(hung.json().checks.hung.detail.error).toMatch(/timed out/);
    remove();
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });

  it('PostgreSQL down is degraded, not down: 200 with the error (calls go on), while Redis and ESL stay required', async () => {
    const deadPool = createPool(`postgres://postgres@127.0.0.1:${await freePort()}/postgres`, 1);
    const pgDownApp = await buildHttpApp({ ...t.ctx, pool: deadPool, db: createDb(deadPool) }, { lifecycle: new Lifecycle() });
    try {
      const res = await pgDownApp.inject({ method: 'GET', url: '/healthz' });
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body.status).toBe('degraded');
      expect(body.checks.postgres).toMatchObject({ ok: false, required: false });
      expect(body.checks.postgres.detail.error).toMatch(/ECONNREFUSED|connect/);
      expect(body.checks.redis).toMatchObject({ ok: true, required: true });

      const redisDown = pgDownApp.health.add({ name: 'redis', check: () => ({ ok: false, detail: { status: 'end' } }) });
      const both = await pgDownApp.inject({ method: 'GET', url: '/healthz' });
      expect(both.statusCode).toBe(503);
      expect(both.json().status).toBe('down');
      redisDown();
    } finally {
      await pgDownApp.close();
      await deadPool.end();
    }
  });

  it('is 503 with status draining once the node drains', async () => {
    const other = new Lifecycle();
    const drainingApp = await buildHttpApp(t.ctx, { lifecycle: other });
    try {
      await other.drainAndClose({ timeoutMs: 10 });
      const res = await drainingApp.inject({ method: 'GET', url: '/healthz' });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ status: 'draining', draining: true });
    } finally {
      await drainingApp.close();
    }
  });
});

describe('/metrics', () => {
  it('exposes the CTI metrics in Prometheus format', async () => {
    metrics.liveCalls.set({ node: 'test-node' }, 3);
    // fed through the ESL layer's hook interface
    eslMetrics.eventReceived('fs1', 'CHANNEL_ANSWER');
    eslMetrics.commandDone('fs1', 'bgapi', 0.012, 'ok');
    eslMetrics.reconnected('fs1');
    eslMetrics.connectionUp('fs1', true);
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    expect(res.body).toContain('hotline_live_calls{node="test-node"} 3');
    expect(res.body).toContain('hotline_esl_events_total{node="fs1",event="CHANNEL_ANSWER"} 1');
    expect(res.body).toContain('hotline_esl_command_duration_seconds_bucket{le="0.025",node="fs1",kind="bgapi",outcome="ok"} 1');
    expect(res.body).toContain('hotline_esl_reconnects_total{node="fs1"} 1');
    expect(res.body).toContain('hotline_esl_connected{node="fs1"} 1');
    expect(res.body).toContain('hotline_process_cpu_user_seconds_total');
    expect(res.body).toMatch(/hotline_http_request_duration_seconds_count\{method="GET",route="\/healthz",status="200"\} \d+/);
  });
});

describe('errors and docs', () => {
  it('serves the OpenAPI document and the UI at /docs', async () => {
    const ui = await app.inject({ method: 'GET', url: '/docs' });
    expect(ui.statusCode).toBe(200);
    expect(ui.body).toContain('Swagger UI');
    // the UI's script is a same-origin file, so the strict CSP holds
    const init = await app.inject({ method: 'GET', url: '/docs/static/swagger-initializer.js' });
    expect(init.statusCode).toBe(200);
    const spec = await app.inject({ method: 'GET', url: '/docs/json' });
    expect(spec.statusCode).toBe(200);
    const doc = spec.json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/auth/login', '/admin/users', '/healthz', '/freeswitch/directory', '/test/echo']));
  });

  it('answers JSON 404s, 400s for bad JSON, and 500s without internals', async () => {
    const nf = await app.inject({ method: 'GET', url: '/no/such/route' });
    expect(nf.statusCode).toBe(404);
    expect(nf.json()).toMatchObject({ code: 'not_found' });

    const badJson = await app.inject({ method: 'POST', url: '/auth/login', headers: { 'content-type': 'application/json' }, payload: '{"loginId":' });
    expect(badJson.statusCode).toBe(400);
    expect(badJson.json()).toMatchObject({ error: 'bad_request', field: 'body' });

    const notObject = await app.inject({ method: 'POST', url: '/auth/login', payload: [1, 2] });
    expect(notObject.statusCode).toBe(400);
    expect(notObject.json().field).toBe('body');

    const boom = await app.inject({ method: 'GET', url: '/test/boom' });
    expect(boom.statusCode).toBe(500);
    expect(boom.json()).toEqual({ error: 'internal_error', code: 'internal_error', message: '服务器内部错误，请稍后再试' });
    expect(boom.body).not.toContain('hunter2');
  });

  it("guards a module's routes with requireRole and validates their input", async () => {
    const tenantId = await createTestTenant(t.ctx);
    const sup = await createTestUser(t.ctx, tenantId, 'supervisor');
    const agent = await createTestUser(t.ctx, tenantId, 'agent');
    const s = await login(app, sup.loginId, sup.password);
    const a = await login(app, agent.loginId, agent.password);
    expect((await app.inject({ method: 'POST', url: '/test/echo', headers: a.bearer, payload: { n: 1 } })).statusCode).toBe(403);
    const ok = await app.inject({ method: 'POST', url: '/test/echo', headers: s.bearer, payload: { n: 7 } });
    expect(ok.json()).toEqual({ n: 7, tenant: tenantId });
    const bad = await app.inject({ method: 'POST', url: '/test/echo', headers: s.bearer, payload: { n: 'seven' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: 'bad_request', field: 'n', message: 'n must be integer' });
  });
});
