// The Fastify app: security headers, cookies, login rate limit, OpenAPI docs, the one error shape, authentication,
// /healthz, /metrics, the auth + users admin + FreeSWITCH directory routes, then every module's routes.
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import cookie from '@fastify/cookie';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { AppContext } from '../app-context.js';
import { frameworkErrorHandler, installErrorHandler } from './error-handler.js';
import { HealthRegistry, postgresHealth, redisHealth, type HealthSource } from './health.js';
import { metrics, metricsRegistry } from './metrics.js';
import { freeswitchDirectoryRoutes } from './freeswitch-directory.js';
import { lifecycle as processLifecycle, type Lifecycle } from '../lifecycle.js';
import { installAuthGuard } from '../auth/guard.js';
import { sessionCacheFor } from '../auth/session-cache.js';
import { authRoutes } from '../auth/auth-routes.js';
import { usersAdminRoutes } from '../auth/users-routes.js';
import { HttpError } from './errors.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** add health sources at any time: `app.health.add({ name: 'esl:fs1', check })` */
    health: HealthRegistry;
    /** every route as registered (method, url, websocket?), in order: the fuzz suite walks it so new routes are covered */
    routeTable: RegisteredRoute[];
  }
}

export interface RegisteredRoute {
  method: string;
  url: string;
  websocket: boolean;
}

export interface HttpAppOptions {
  /** each module's routes, registered after auth so `requireRole` and `request.user` work in them */
  routes?: FastifyPluginAsync[];
  /** health sources besides PostgreSQL and Redis (ESL per node, flow load errors…) */
  health?: HealthSource[];
  /** defaults to the process-wide lifecycle; /healthz answers 503 while draining */
  lifecycle?: Lifecycle;
}

/** Builds (does not listen) the HTTP app. Callers `await app.listen({ host, port })` and `app.close()` on drain. */
export async function buildHttpApp(ctx: AppContext, opts: HttpAppOptions = {}): Promise<FastifyInstance> {
  const { env } = ctx;
  const lifecycle = opts.lifecycle ?? processLifecycle;
  const app = Fastify({
    loggerInstance: ctx.log.child({ mod: 'http' }) as FastifyBaseLogger,
    // request.ip (login rate limit, audit) is the client's, not the proxy's, only for the proxies named here
    trustProxy: env.TRUST_PROXY,
    frameworkErrors: frameworkErrorHandler,
    ajv: {
      // report unknown properties as a 400 naming them rather than silently dropping them
      customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false },
    },
  });

  installErrorHandler(app);
  // first hook of all, so even the plugins' own routes (/docs) are listed
  const routeTable: RegisteredRoute[] = [];
  app.decorate('routeTable', routeTable);
  app.addHook('onRoute', (route) => {
    const websocket = (route as { websocket?: boolean }).websocket === true;
    for (const method of ([] as string[]).concat(route.method)) routeTable.push({ method, url: route.url, websocket });
  });
  const health = new HealthRegistry([postgresHealth(ctx.pool), redisHealth(ctx.redis), ...(opts.health ?? [])]);
  app.decorate('health', health);

  await app.register(helmet, {
    // the API answers JSON; the only HTML is /docs, whose swagger-ui assets are same-origin
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        styleSrc: ["'self'", "'unsafe-inline'"],
        scriptSrc: ["'self'"],
        // on a plain-HTTP LAN deployment, upgrading sub-resources to https would break /docs
        upgradeInsecureRequests: env.COOKIE_SECURE ? [] : null,
      },
    },
  });
  await app.register(cookie);
  await app.register(rateLimit, {
    global: false, // only routes that ask (login); keys live in Redis so every node shares the count
    redis: ctx.redis,
    nameSpace: `${ctx.redisPrefix}:ratelimit:`,
    skipOnError: true,
    errorResponseBuilder: (_request, context) =>
      new HttpError(429, 'too_many_requests', `请求过于频繁，请${Math.ceil(context.ttl / 1000)}秒后再试`),
  });
  await app.register(swagger, {
    openapi: {
      info: { title: '12345 Hotline CTI', version: '0.1.0', description: 'CTI server for 12345 government-service hotlines' },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer' },
          cookie: { type: 'apiKey', in: 'cookie', name: 'hotline_session' },
        },
      },
      security: [{ bearer: [] }, { cookie: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });

  app.addHook('onRoute', (route) => {
    const methods = ([] as string[]).concat(route.method);
    if (methods.some((m) => m === 'POST' || m === 'PUT' || m === 'PATCH') && !route.schema && !route.url.startsWith('/docs')) {
      ctx.log.warn({ url: route.url }, 'route without a schema: bad input will not get a 400 naming the field');
    }
  });
  app.addHook('onResponse', async (request, reply) => {
    metrics.httpRequestSeconds.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  installAuthGuard(app, ctx.db, env.SESSION_TTL_HOURS * 3_600_000, sessionCacheFor(ctx));

  app.get(
    '/healthz',
    {
      schema: {
        tags: ['ops'],
        summary:
          'Health of this node: 200 when every required part (ESL, Redis) is up and the node is not draining, else 503; ' +
          'status degraded (still 200) when an optional part such as PostgreSQL is down',
        querystring: { type: 'object', additionalProperties: false },
      },
    },
    async (_request, reply) => {
      const report = await health.check();
      const draining = lifecycle.draining;
      const ok = report.ok && !draining;
      reply.code(ok ? 200 : 503);
      const status = draining ? 'draining' : !report.ok ? 'down' : report.degraded ? 'degraded' : 'ok';
      return { status, node: ctx.nodeId, draining, checks: report.checks };
    },
  );

  app.get(
    '/metrics',
    {
      schema: { tags: ['ops'], summary: 'Prometheus metrics', querystring: { type: 'object', additionalProperties: false } },
    },
    async (_request, reply) => {
      reply.type(metricsRegistry.contentType);
      return metricsRegistry.metrics();
    },
  );

  await app.register(authRoutes(ctx));
  await app.register(usersAdminRoutes(ctx));
  await app.register(freeswitchDirectoryRoutes(ctx));
  for (const routes of opts.routes ?? []) await app.register(routes);
  return app;
}
