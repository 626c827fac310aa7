// HTTP fuzz: every route of the real app (startCti's composition, routes listed by the app's onRoute table so a new
// route is fuzzed without touching this file) gets malformed and hostile requests — wrong types, missing and extra
// fields, bodies over the limit, deep nesting, unicode edge cases, SQL/script injection, path traversal, huge and
// negative numbers, tenant B's ids — as anonymous, agent, supervisor and admin of tenant A.
// Expected: no 5xx, no crash or unhandled rejection, every 4xx in the one error shape (400s name the field), and no
// id, name or number of tenant B in any answer to tenant A.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { prepareE2eTenant, startTestCti, type E2eTenant, type StartedCti } from '../e2e/cti-fixture.js';
import { createTestUser, login, type LoggedIn, type TestUser } from '../http/fixture.js';
import type { UserRole } from '../../src/db/schema/core.js';
import { seedTenantData, type TenantData } from './tenants.js';
import {
  deepNesting,
  fuzzSeed,
  hostileString,
  hostileValue,
  makeRng,
  mutateObject,
  pctEncode,
  plausible,
  PATH_TRAVERSAL,
  PROTOTYPE_POLLUTION,
  SQL_INJECTION,
  UNICODE,
  type JsonSchema,
  type Rng,
} from './hostile.js';

const TOTAL_INPUTS = 10_000;
const CONCURRENCY = 8;
/** over Fastify's default bodyLimit (1 MiB) */
const HUGE_BODY = JSON.stringify({ text: 'x'.repeat(1_100_000) });

type Identity = 'anonymous' | Exclude<UserRole, 'department'>;
/** answered to the switch (mod_xml_curl, loopback only) in its own protocol, not to a tenant's user */
const SWITCH_ROUTES = new Set(['/freeswitch/directory']);
/** session-changing routes: run one at a time and heal the session after each */
const SESSION_ROUTES = new Set(['/auth/logout', '/auth/lock', '/auth/unlock', '/auth/password', '/auth/login']);

interface OpenApiOperation {
  parameters?: { in: string; name: string; schema?: JsonSchema; required?: boolean }[];
  requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
}

interface PlannedRoute {
  method: string;
  url: string;
  op?: OpenApiOperation;
  inputs: number;
}

interface Finding {
  route: string;
  identity: Identity;
  status: number;
  problem: string;
  request: string;
  body: string;
}

describe('HTTP fuzz: every route, hostile input', () => {
  let e: E2eTenant;
  let cti: StartedCti;
  let app: FastifyInstance;
  let tenantA: TenantData;
  let tenantB: TenantData;
  const actors = new Map<Identity, { user: TestUser; session: LoggedIn }>();
  const crashes: unknown[] = [];
  const onCrash = (err: unknown) => crashes.push(err);

  beforeAll(async () => {
    process.on('unhandledRejection', onCrash);
    process.on('uncaughtException', onCrash);
    e = await prepareE2eTenant({ agentCount: 1 });
    cti = await startTestCti(e);
    app = cti.app;
    const users: TestUser[] = [];
    for (const role of ['admin', 'supervisor', 'agent'] as const) {
      const user = await createTestUser(cti.ctx, e.tenant, role);
      users.push(user);
      actors.set(role, { user, session: await login(app, user.loginId, user.password) });
    }
    // tenant A's own rows belong to a victim agent, never to the acting users (a PATCH must not lock the fuzzer out)
    tenantA = await seedTenantData(cti.ctx, { tenant: e.tenant, tag: '甲', users: e.agents });
    tenantB = await seedTenantData(cti.ctx, { tag: '乙' });
  }, 120_000);

  afterAll(async () => {
    await cti?.close();
    await e?.close();
    process.off('unhandledRejection', onCrash);
    process.off('uncaughtException', onCrash);
  });

  /** a session that was logged out, locked or lost its user (a fuzzed PATCH) is made whole again */
  async function heal(identity: Identity): Promise<void> {
    if (identity === 'anonymous') return;
    const actor = actors.get(identity)!;
    const me = await app.inject({ method: 'GET', url: '/auth/me', headers: actor.session.bearer });
    if (me.statusCode === 200) return;
    try {
      actor.session = await login(app, actor.user.loginId, actor.user.password);
    } catch {
      actor.user = await createTestUser(cti.ctx, e.tenant, identity);
      actor.session = await login(app, actor.user.loginId, actor.user.password);
    }
  }

  it(`sends ${TOTAL_INPUTS} hostile requests across every route: no 5xx, clear 4xx, no tenant B data`, async () => {
    const seed = fuzzSeed();
    console.log(`[http-fuzz] seed ${seed} (replay with FUZZ_SEED=${seed})`);
    const rng = makeRng(seed);
    const swagger = app.swagger() as { paths: Record<string, Record<string, OpenApiOperation>> };

    // the route table the app recorded in its onRoute hook: every method of every route, in registration order
    const table = app.routeTable;
    expect(table.length).toBeGreaterThan(50);
    const wsRoutes = table.filter((r) => r.websocket).map((r) => `${r.method} ${r.url}`);
    const httpRoutes = table.filter((r) => !r.websocket);
    // weights: HEAD mirrors GET and the /docs assets are static, so they get fewer inputs than the API routes
    const weightOf = (r: { method: string; url: string }) => (r.url.startsWith('/docs') ? 0.15 : r.method === 'HEAD' ? 0.25 : 1);
    const totalWeight = httpRoutes.reduce((s, r) => s + weightOf(r), 0);
    const plan: PlannedRoute[] = httpRoutes.map((r) => ({
      method: r.method,
      url: r.url,
      op: swagger.paths[r.url.replace(/:(\w+)/g, '{$1}')]?.[r.method.toLowerCase()],
      inputs: Math.max(3, Math.floor((TOTAL_INPUTS * weightOf(r)) / totalWeight)),
    }));
    // spread the rounding remainder over the API routes so the total is exact
    const apiRoutes = plan.filter((p) => weightOf(p) === 1);
    for (let i = 0, sum = plan.reduce((s, p) => s + p.inputs, 0); sum !== TOTAL_INPUTS; i++) {
      apiRoutes[i % apiRoutes.length]!.inputs += sum < TOTAL_INPUTS ? 1 : -1;
      sum += sum < TOTAL_INPUTS ? 1 : -1;
    }

    const idPool = [...tenantB.ids, ...tenantB.ids, ...tenantA.ids];
    const sentIds = new Set<string>();
    const findings: Finding[] = [];
    const sentPerRoute = new Map<string, number>();
    const perClass = new Map<string, number>();
    const perStatus = new Map<number, number>();

    const check = (route: PlannedRoute, identity: Identity, req: InjectOptions, res: LightMyRequestResponse) => {
      const key = `${route.method} ${route.url}`;
      const requestText = `${req.url} ${typeof req.payload === 'string' ? req.payload.slice(0, 2000) : JSON.stringify(req.query ?? '')}`;
      const note = (problem: string) =>
        findings.push({ route: key, identity, status: res.statusCode, problem, request: requestText.slice(0, 300), body: res.body.slice(0, 300) });
      perStatus.set(res.statusCode, (perStatus.get(res.statusCode) ?? 0) + 1);
      if (res.statusCode >= 500) note('5xx');
      const isSwitch = SWITCH_ROUTES.has(route.url);
      if (res.statusCode >= 400 && res.statusCode < 500 && route.method !== 'HEAD' && !isSwitch) {
        let body: Record<string, unknown> | undefined;
        try {
          body = JSON.parse(res.body) as Record<string, unknown>;
        } catch {
          note('4xx body is not JSON');
        }
        if (body) {
          if (typeof body.code !== 'string' || body.error !== body.code || typeof body.message !== 'string' || body.message.length === 0) note('4xx not in the error shape');
          else if (res.statusCode === 400 && (typeof body.field !== 'string' || body.field.length === 0)) note('400 without the field');
        }
      }
      if (!isSwitch) {
        // tenant B's names, numbers, login ids and tenant id are never sent by the fuzzer: seeing one is a leak
        for (const secret of tenantB.strings) if (res.body.includes(secret)) note(`tenant B data in the answer: ${secret}`);
        // its ids are sent (as params and body values, and may be stored as text in tenant A's rows, then echoed);
        // one the fuzzer never sent showing up is a leak
        for (const id of tenantB.ids) if (!sentIds.has(id) && res.body.includes(id)) note(`tenant B id in the answer: ${id}`);
      }
    };

    const buildRequest = (route: PlannedRoute, identity: Identity): { req: InjectOptions; klass: string } => {
      const op = route.op;
      let klass = 'params';
      // path parameters: a plausible value, one of tenant B's (or A's) ids, a hostile string, or raw traversal
      const url = route.url.replace(/:(\w+)|\*/g, (_m, name: string | undefined) => {
        const schema = op?.parameters?.find((p) => p.in === 'path' && p.name === name)?.schema;
        const roll = rng.int(0, 9);
        if (roll <= 2) return pctEncode(String(plausible(schema, rng, idPool)));
        if (roll <= 5) return pctEncode(rng.pick(idPool));
        if (roll === 6) return rng.pick(PATH_TRAVERSAL);
        return pctEncode(hostileString(rng, idPool));
      });
      const query: Record<string, string | string[]> = {};
      const queryParams = op?.parameters?.filter((p) => p.in === 'query') ?? [];
      if (rng.chance(0.5)) {
        for (const p of queryParams) {
          if (rng.chance(0.5)) query[p.name] = String(plausible(p.schema, rng, idPool));
        }
        if (queryParams.length && rng.chance(0.7)) {
          const p = rng.pick(queryParams);
          query[p.name] = rng.chance(0.2) ? [hostileString(rng, idPool), hostileString(rng, idPool)] : hostileString(rng, idPool);
        } else query[rng.pick(['tenantId', 'limit', 'q', 'x'.repeat(100)])] = hostileString(rng, idPool);
        klass = 'query';
      }
      const headers: Record<string, string> = identity === 'anonymous' ? {} : { ...actors.get(identity)!.session.bearer };
      if (rng.chance(0.03)) {
        headers.authorization = rng.pick(['Bearer ', `Bearer ${rng.pick(SQL_INJECTION)}`, 'Basic Zm9vOmJhcg==', `Bearer ${'a'.repeat(5000)}`, 'Bearer \u00ff\u00fe']);
        klass = 'auth header';
      }
      if (rng.chance(0.02)) {
        headers.cookie = `hotline_session=${pctEncode(rng.pick(UNICODE))}; hotline_csrf=${pctEncode(rng.pick(SQL_INJECTION))}`;
        klass = 'auth header';
      }
      let payload: string | undefined;
      const hasBody = ['POST', 'PUT', 'PATCH', 'DELETE'].includes(route.method) || rng.chance(0.05);
      if (hasBody) {
        const schema = op?.requestBody?.content?.['application/json']?.schema ?? op?.requestBody?.content?.['application/x-www-form-urlencoded']?.schema;
        const roll = rng.next();
        headers['content-type'] = 'application/json';
        if (roll < 0.45) {
          payload = JSON.stringify(mutateObject(schema, rng, idPool));
          klass = 'body: broken field';
        } else if (roll < 0.55) {
          payload = JSON.stringify(plausible(schema, rng, idPool));
          klass = 'body: plausible';
        } else if (roll < 0.65) {
          payload = JSON.stringify(hostileValue(rng, idPool)) ?? 'null';
          klass = 'body: wrong type';
        } else if (roll < 0.7) {
          payload = rng.pick(['{"a":', '{a:1}', "{'a':1}", '[1,]', '{"a":1}}', '\u0000', 'undefined', '{"a":"\\uD800"}', '{"a":"\\x00"}']);
          klass = 'body: invalid JSON';
        } else if (roll < 0.75) {
          payload = deepNesting(rng.pick([1000, 10_000, 100_000]), rng.chance(0.5) ? 'array' : 'object');
          klass = 'body: deep nesting';
        } else if (roll < 0.78) {
          payload = HUGE_BODY;
          klass = 'body: over the limit';
        } else if (roll < 0.85) {
          headers['content-type'] = rng.pick([
            'text/plain',
            'application/x-www-form-urlencoded',
            'multipart/form-data; boundary=x',
            'application/xml',
            'application/json; charset=utf-16',
            'application/octet-stream',
            '',
          ]);
          payload = rng.chance(0.5) ? `a=${pctEncode(hostileString(rng, idPool))}&a=2` : hostileString(rng, idPool);
          klass = 'body: content type';
        } else if (roll < 0.88) {
          payload = rng.pick(PROTOTYPE_POLLUTION);
          klass = 'body: prototype pollution';
        } else if (roll < 0.92) {
          payload = rng.chance(0.5) ? '' : ' ';
          klass = 'body: empty';
        } else {
          const obj = (plausible(schema, rng, idPool) ?? {}) as Record<string, unknown>;
          payload = JSON.stringify(typeof obj === 'object' && obj !== null ? { ...obj, [rng.pick(UNICODE)]: rng.pick(UNICODE) } : obj);
          klass = 'body: unicode keys';
        }
      }
      const sentText = `${url} ${JSON.stringify(query)} ${payload ?? ''}`;
      for (const id of tenantB.ids) if (sentText.includes(id)) sentIds.add(id);
      const req: InjectOptions = { method: route.method as InjectOptions['method'], url, headers, ...(Object.keys(query).length ? { query } : {}) };
      if (payload !== undefined) req.payload = payload;
      return { req, klass };
    };

    const identities: Identity[] = ['anonymous', 'agent', 'agent', 'supervisor', 'supervisor', 'admin', 'admin', 'admin', 'admin', 'admin'];
    const started = Date.now();
    for (const route of plan) {
      const key = `${route.method} ${route.url}`;
      const jobs = Array.from({ length: route.inputs }, () => {
        const identity = rng.pick(identities);
        return { identity, ...buildRequest(route, identity) };
      });
      const sequential = SESSION_ROUTES.has(route.url);
      for (let i = 0; i < jobs.length; i += sequential ? 1 : CONCURRENCY) {
        const batch = jobs.slice(i, i + (sequential ? 1 : CONCURRENCY));
        await Promise.all(
          batch.map(async ({ identity, req, klass }) => {
            const res = await app.inject(req);
            check(route, identity, req, res);
            sentPerRoute.set(key, (sentPerRoute.get(key) ?? 0) + 1);
            perClass.set(klass, (perClass.get(klass) ?? 0) + 1);
          }),
        );
        if (sequential) for (const id of new Set(batch.map((b) => b.identity))) await heal(id);
      }
      for (const id of ['agent', 'supervisor', 'admin'] as const) await heal(id);
    }
    const elapsed = Date.now() - started;

    const total = [...sentPerRoute.values()].reduce((s, n) => s + n, 0);
    console.log(
      `[http-fuzz] ${total} requests over ${plan.length} routes (+${wsRoutes.length} WebSocket routes, see ws-fuzz) in ${elapsed} ms\n` +
        `[http-fuzz] by input class: ${JSON.stringify(Object.fromEntries([...perClass].sort()))}\n` +
        `[http-fuzz] by status: ${JSON.stringify(Object.fromEntries([...perStatus].sort((a, b) => a[0] - b[0])))}`,
    );
    // a route listed by the app but never fuzzed is a failure (new routes are covered automatically)
    const skipped = httpRoutes.map((r) => `${r.method} ${r.url}`).filter((k) => !sentPerRoute.has(k));
    expect(skipped).toEqual([]);
    expect(wsRoutes.every((r) => r.endsWith('/ws/agent') || r.endsWith('/ws/wallboard'))).toBe(true);
    expect(total).toBe(TOTAL_INPUTS);

    const distinct = new Map<string, Finding>();
    for (const f of findings) distinct.set(`${f.route} ${f.status} ${f.problem}`, f);
    if (distinct.size) console.log(`[http-fuzz] findings:\n${[...distinct.values()].map((f) => JSON.stringify(f)).join('\n')}`);
    expect([...distinct.keys()]).toEqual([]);
    expect(crashes).toEqual([]);

    // the detector sees tenant B's data where it belongs: B's own admin reads its rows with the markers in them
    const adminB = tenantB.users[0]!;
    const sessionB = await login(app, adminB.loginId, adminB.password);
    for (const url of ['/callers', '/admin/blacklist', '/acd/groups', '/recordings']) {
      const res = await app.inject({ method: 'GET', url, headers: sessionB.bearer });
      expect(res.statusCode, url).toBe(200);
      expect(tenantB.strings.some((secret) => res.body.includes(secret)), url).toBe(true);
    }
  }, 600_000);
});
