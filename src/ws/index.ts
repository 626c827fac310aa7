// The agent and wallboard WebSockets (/ws/agent, /ws/wallboard; docs/agent-protocol.md) and their REST companions
// (/agents/messages, /callers). main.ts registers `wsRoutes(ctx, { engine, callControl })` with the HTTP app.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import websocket from '@fastify/websocket';
import type { AppContext } from '../app-context.js';
import type { AcdEngine } from '../acd/engine.js';
import type { UserRole } from '../db/schema/index.js';
import { authenticateToken, type AuthUser } from '../auth/sessions.js';
import { sessionCacheFor } from '../auth/session-cache.js';
import { sessionTokenFrom } from '../auth/guard.js';
import { HttpError } from '../http/errors.js';
import { WsHub } from './hub.js';
import { WsBus } from './bus.js';
import { CallerDirectory } from './caller-directory.js';
import { AgentMessageService } from './agent-messages.js';
import { AgentCommands } from './agent-commands.js';
import { serveAgent, serveWallboard, type AgentCallControl, type SocketDeps } from './sockets.js';
import { wsRestRoutes } from './routes.js';
import { MAX_FRAME_BYTES, WS_ERRORS } from './protocol.js';

export type { AgentCallControl } from './sockets.js';
export { CallerDirectory, normalizeNumber, type CallerRecord, type CallerInput } from './caller-directory.js';
export { queueScreenPop, callerIsVip, completeScreenPop, type OfferScreenPop, type PreviousCall } from './screen-pop.js';
export { AgentMessageService, type AgentMessage } from './agent-messages.js';
export { PROTOCOL_VERSION, WS_ERRORS, type WsErrorCode } from './protocol.js';

export interface WsRoutesDeps {
  engine: AcdEngine;
  /** the call layer's soft answer / hang-up; without it those commands answer `not_supported` */
  callControl?: AgentCallControl;
  /** share one directory with the queue task (queueScreenPop / callerIsVip) so edits reach both caches */
  directory?: CallerDirectory;
  /** ws ping interval; a socket that missed one pong is closed (default 20 s) */
  heartbeatMs?: number;
  /** how often an open socket's session is re-checked (lock screen, logout, expiry; default 60 s) */
  reauthMs?: number;
  /** coalescing tick for queue stats, agent list changes and wallboards (default 1 s) */
  statsTickMs?: number;
  /** least time between two day-KPI computations per center for the wallboard (default 5 s) */
  kpiRefreshMs?: number;
}

/** the subprotocol clients ask for; a bearer token may ride along as a second one, `bearer.<token>` */
export const WS_SUBPROTOCOL = 'hotline.v1';
const BEARER_PROTOCOL = /^bearer\.(.+)$/;

/** Where an upgrade request's session token is: Authorization / cookie (browsers: cookie), ?token=, or a subprotocol. */
function upgradeToken(request: FastifyRequest): { token: string; via: 'cookie' | 'bearer' | 'query' | 'protocol' } | null {
  const std = sessionTokenFrom(request);
  if (std) return std;
  const q = (request.query as Record<string, unknown> | undefined)?.token;
  if (typeof q === 'string' && q) return { token: q, via: 'query' };
  const header = request.headers['sec-websocket-protocol'];
  for (const p of (typeof header === 'string' ? header : '').split(',')) {
    const m = BEARER_PROTOCOL.exec(p.trim());
    if (m) return { token: m[1]!, via: 'protocol' };
  }
  return null;
}

export function wsRoutes(ctx: AppContext, deps: WsRoutesDeps): FastifyPluginAsync {
  return async (app) => {
    const log = ctx.log.child({ mod: 'ws' });
    const ttlMs = ctx.env.SESSION_TTL_HOURS * 3_600_000;
    const heartbeatMs = deps.heartbeatMs ?? 20_000;
    const reauthMs = deps.reauthMs ?? 60_000;
    const directory = deps.directory ?? new CallerDirectory(ctx.db);
    const hub = new WsHub({
      engine: deps.engine,
      db: ctx.db,
      pool: ctx.pool,
      redis: ctx.redis,
      redisPrefix: ctx.redisPrefix,
      log,
      screenPop: { pool: ctx.pool, directory },
      ...(deps.statsTickMs !== undefined ? { tickMs: deps.statsTickMs } : {}),
      ...(deps.kpiRefreshMs !== undefined ? { kpiRefreshMs: deps.kpiRefreshMs } : {}),
    });
    const bus = new WsBus(ctx.redis, ctx.env.REDIS_URL, ctx.redisPrefix, {
      message: (d) => hub.deliver(d),
      transferPop: (p) => void hub.transferred(p).catch((err: Error) => log.error({ err }, 'transfer screen pop failed')),
      callerChanged: (tenantId, number) => directory.invalidate(tenantId, number),
    }, log);
    directory.onChange = (tenantId, number) => bus.publishCallerChange(tenantId, number);
    const messages = new AgentMessageService({ db: ctx.db, pool: ctx.pool, redis: ctx.redis, redisPrefix: ctx.redisPrefix, publish: (d) => bus.publishMessage(d) });
    const socketDeps: SocketDeps = {
      db: ctx.db,
      pool: ctx.pool,
      redis: ctx.redis,
      engine: deps.engine,
      hub,
      messages,
      commands: new AgentCommands(ctx.db, deps.engine),
      callControl: deps.callControl,
      log,
      nodeId: ctx.nodeId,
      heartbeatMs,
    };
    if (deps.callControl?.onCallState) {
      const off = deps.callControl.onCallState((e) => {
        for (const c of hub.clients) {
          if (c.kind === 'agent' && c.user.userId === e.agentId && c.user.tenantId === e.tenantId) hub.send(c, hub.callStateMessage(e.callUuid, e.state));
        }
      });
      app.addHook('onClose', async () => off());
    }

    if (deps.callControl?.onScreenPop) {
      const off = deps.callControl.onScreenPop((e) => bus.publishTransferPop(e));
      app.addHook('onClose', async () => off());
    }

    await bus.start();
    hub.start();

    // heartbeats: a socket that did not answer the last ping is dead (half-open TCP, a sleeping laptop)
    const heartbeat = setInterval(() => {
      for (const c of hub.clients) {
        if (!c.alive) {
          c.ws.terminate();
          hub.remove(c);
          continue;
        }
        c.alive = false;
        try {
          c.ws.ping();
        } catch {
          /* closing anyway */
        }
      }
    }, heartbeatMs);
    heartbeat.unref();
    // a lock screen, logout or expiry ends the open sockets of that session too (and keeps an in-use session alive)
    // sessions read through the Redis cache, like REST: an agent can (re)connect while PostgreSQL is down
    const sessions = sessionCacheFor(ctx);
    const reauth = setInterval(() => {
      const seen = new Map<string, Promise<Awaited<ReturnType<typeof authenticateToken>>>>();
      for (const c of hub.clients) {
        let p = seen.get(c.token);
        if (!p) seen.set(c.token, (p = authenticateToken(ctx.db, c.token, ttlMs, sessions)));
        void p.then((s) => {
          if (s && !s.locked) return;
          const code = s ? 'session_locked' : 'session_ended';
          hub.send(c, { type: 'error', code, message: WS_ERRORS[code] });
          c.ws.close(s ? 4423 : 4401, code);
        }).catch(() => undefined);
      }
    }, reauthMs);
    reauth.unref();

    app.addHook('onClose', async () => {
      clearInterval(heartbeat);
      clearInterval(reauth);
      hub.stop();
      await bus.close();
    });

    await app.register(websocket, {
      options: {
        maxPayload: MAX_FRAME_BYTES,
        // never echo the bearer subprotocol back: only the protocol name is selected
        handleProtocols: (protocols) => (protocols.has(WS_SUBPROTOCOL) ? WS_SUBPROTOCOL : false),
      },
    });

    // a handshake refused by an app-wide hook (the session guard's 423) never reaches @fastify/websocket's own
    // hooks, which would close the raw socket: close it here, or it lingers and holds up the server's close
    app.addHook('onResponse', async (request) => {
      if (request.headers.upgrade?.toLowerCase() === 'websocket') request.raw.socket?.destroy();
    });

    const authenticated = new WeakMap<FastifyRequest, { user: AuthUser; token: string }>();
    const authorize = (roles: UserRole[]) => async (request: FastifyRequest) => {
      const found = upgradeToken(request);
      if (!found) throw new HttpError(401, 'unauthenticated', '请先登录');
      const session = await authenticateToken(ctx.db, found.token, ttlMs, sessions);
      if (!session) throw new HttpError(401, 'unauthenticated', '请先登录');
      if (session.locked) throw new HttpError(423, 'session_locked', WS_ERRORS.session_locked);
      if (!roles.includes(session.user.role)) throw new HttpError(403, 'forbidden', WS_ERRORS.forbidden);
      // a cookie rides along on a cross-site handshake too: only same-origin pages may use it
      const origin = request.headers.origin;
      if (found.via === 'cookie' && origin) {
        let host = '';
        try {
          host = new URL(origin).host;
        } catch {
          /* not a URL: refused below */
        }
        if (host !== request.headers.host) throw new HttpError(403, 'forbidden_origin', '不允许跨站连接');
      }
      authenticated.set(request, { user: session.user, token: found.token });
    };

    const querystring = { type: 'object', properties: { token: { type: 'string', maxLength: 200 } }, additionalProperties: false } as const;

    app.get('/ws/agent', {
      websocket: true,
      preValidation: authorize(['agent', 'supervisor']),
      schema: { tags: ['agents'], summary: 'Agent WebSocket (docs/agent-protocol.md)', querystring },
    }, (socket, request) => {
      const a = authenticated.get(request);
      if (!a) return socket.close(4401, 'unauthenticated');
      serveAgent(socketDeps, socket, a.user, a.token);
    });

    app.get('/ws/wallboard', {
      websocket: true,
      preValidation: authorize(['supervisor', 'admin']),
      schema: { tags: ['agents'], summary: 'Supervisor wallboard WebSocket (docs/agent-protocol.md)', querystring },
    }, (socket, request) => {
      const a = authenticated.get(request);
      if (!a) return socket.close(4401, 'unauthenticated');
      serveWallboard(socketDeps, socket, a.user, a.token);
    });

    await app.register(wsRestRoutes({ messages, directory }));
  };
}
