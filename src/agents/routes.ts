// /agents: the agent commands as REST (the WebSocket offers the same), supervisors forcing a state, and the
// per-day state totals (not-ready time by reason, seed 002 (6)).
import type { FastifyPluginAsync } from 'fastify';
import type { AppContext } from '../app-context.js';
import { errorBodySchema, HttpError, notFound, badRequest } from '../http/errors.js';
import { requireRole, currentUser } from '../auth/guard.js';
import type { AcdEngine, AgentSnapshot } from '../acd/engine.js';
import { resolveEndpoint } from '../acd/groups.js';
import { stateTotalsForDay } from './state-log.js';
import { AGENT_STATES } from './states.js';
import { centerAgentSnapshot, forceAgentState, ForceStateRefused, tenantAgentSnapshot } from './force-state.js';

const errors = { 400: errorBodySchema, 401: errorBodySchema, 403: errorBodySchema, 404: errorBodySchema, 409: errorBodySchema };
const idParams = { type: 'object', properties: { id: { type: 'string', format: 'uuid' } }, required: ['id'] } as const;
const reasonSchema = { type: 'string', minLength: 1, maxLength: 16 } as const;

const snapshotSchema = {
  type: 'object',
  properties: {
    agentId: { type: 'string' },
    state: { type: 'string', enum: [...AGENT_STATES] },
    reason: { type: 'string' },
    since: { type: ['integer', 'null'] },
    callUuid: { type: ['string', 'null'] },
    callsToday: { type: 'integer' },
    misses: { type: 'integer' },
    pendingNotReady: { type: ['string', 'null'] },
    endpoint: { type: ['object', 'null'], additionalProperties: true },
    groups: { type: 'array', items: { type: 'string' } },
  },
} as const;

function refuse(kind: string): never {
  if (kind === 'logged_out') throw new HttpError(409, 'not_signed_in', '请先签入');
  if (kind === 'phone_offline') throw new HttpError(409, 'phone_offline', '话机未注册，无法置闲');
  if (kind === 'busy') throw new HttpError(409, 'agent_busy', '通话中，不能签出');
  throw new HttpError(409, 'invalid_state', '当前状态下不能执行此操作');
}

export interface AgentRoutesDeps {
  engine: AcdEngine;
}

export function agentRoutes(ctx: AppContext, deps: AgentRoutesDeps): FastifyPluginAsync {
  const { db, pool } = ctx;
  const { engine } = deps;
  const agentsOnly = requireRole('agent', 'supervisor');
  const supervisors = requireRole('supervisor', 'admin');

  /** the signed-in user's own live state */
  async function snapshot(tenantId: string, agentId: string): Promise<AgentSnapshot> {
    try {
      return await tenantAgentSnapshot(engine, tenantId, agentId);
    } catch (err) {
      if (err instanceof ForceStateRefused) throw notFound('agent_not_found', '座席不存在');
      throw err;
    }
  }

  /** an agent named in the URL: only this center's (unknown ids and other centers' agents: the same 404) */
  async function snapshotById(tenantId: string, agentId: string): Promise<AgentSnapshot> {
    try {
      return await centerAgentSnapshot(db, engine, tenantId, agentId);
    } catch (err) {
      if (err instanceof ForceStateRefused) throw notFound('agent_not_found', '座席不存在');
      throw err;
    }
  }

  return async (app) => {
    app.get('/agents/me/state', {
      onRequest: agentsOnly,
      schema: { tags: ['agents'], summary: 'My current state', response: { 200: snapshotSchema, ...errors } },
    }, async (request) => {
      const u = currentUser(request);
      return snapshot(u.tenantId, u.userId);
    });

    app.post<{ Body: { endpointId?: string; autoAnswer?: boolean } }>('/agents/me/sign-in', {
      onRequest: agentsOnly,
      schema: {
        tags: ['agents'],
        summary: "Sign in (签入) with the phone chosen for this shift (default: the agent's default phone or desk extension)",
        body: {
          type: ['object', 'null'],
          properties: { endpointId: { type: 'string', format: 'uuid' }, autoAnswer: { type: 'boolean', description: '话机自动应答（仅桌面话机）' } },
          additionalProperties: false,
        },
        response: { 200: snapshotSchema, ...errors },
      },
    }, async (request) => {
      const u = currentUser(request);
      const chosen = await resolveEndpoint(db, u.tenantId, u.userId, request.body?.endpointId);
      if (!chosen) throw badRequest('endpointId', '没有可用的话机，请联系管理员配置');
      const endpoint = request.body?.autoAnswer && chosen.type === 'sip' ? { ...chosen, autoAnswer: true } : chosen;
      await engine.login(u.userId, u.tenantId, endpoint);
      return snapshot(u.tenantId, u.userId);
    });

    app.post('/agents/me/sign-out', {
      onRequest: agentsOnly,
      schema: { tags: ['agents'], summary: 'Sign out (签出)', response: { 200: snapshotSchema, ...errors } },
    }, async (request) => {
      const u = currentUser(request);
      const kind = await engine.logout(u.userId);
      if (kind !== 'ok') refuse(kind);
      return snapshot(u.tenantId, u.userId);
    });

    app.post('/agents/me/ready', {
      onRequest: agentsOnly,
      schema: { tags: ['agents'], summary: 'Ready (置闲); during a call it cancels a pending not-ready', response: { 200: snapshotSchema, ...errors } },
    }, async (request) => {
      const u = currentUser(request);
      const kind = await engine.setReady(u.userId);
      if (kind !== 'ok' && kind !== 'pending') refuse(kind);
      return snapshot(u.tenantId, u.userId);
    });

    app.post<{ Body: { reason: string } }>('/agents/me/not-ready', {
      onRequest: agentsOnly,
      schema: {
        tags: ['agents'],
        summary: 'Not ready (置忙) with a reason; during a call it takes effect after the call and wrap-up',
        body: { type: 'object', properties: { reason: reasonSchema }, required: ['reason'], additionalProperties: false },
        response: { 200: snapshotSchema, ...errors },
      },
    }, async (request) => {
      const u = currentUser(request);
      const kind = await engine.setNotReady(u.userId, request.body.reason);
      if (kind !== 'ok' && kind !== 'pending') refuse(kind);
      return snapshot(u.tenantId, u.userId);
    });

    app.post('/agents/me/end-wrap-up', {
      onRequest: agentsOnly,
      schema: { tags: ['agents'], summary: 'End after-call work now (完成话后处理)', response: { 200: snapshotSchema, ...errors } },
    }, async (request) => {
      const u = currentUser(request);
      const kind = await engine.endWrapUp(u.userId);
      if (kind !== 'ok') refuse(kind);
      return snapshot(u.tenantId, u.userId);
    });

    app.get('/agents', {
      onRequest: requireRole('agent', 'supervisor', 'admin'),
      schema: {
        tags: ['agents'],
        summary: 'All signed-in agents of the center with number (工号), name and state (seed 002 (7))',
        response: {
          200: {
            type: 'object',
            properties: {
              agents: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: { ...snapshotSchema.properties, loginId: { type: 'string' }, displayName: { type: 'string' }, extension: { type: ['string', 'null'] } },
                },
              },
            },
          },
          ...errors,
        },
      },
    }, async (request) => {
      const tenantId = currentUser(request).tenantId;
      const live = await engine.signedInAgents(tenantId);
      const { rows } = await pool.query<{ id: string; login_id: string; display_name: string; extension: string | null }>(
        'select id, login_id, display_name, extension from users where tenant_id = $1 and id = any($2::uuid[])',
        [tenantId, live.map((a) => a.agentId)],
      );
      const byId = new Map(rows.map((r) => [r.id, r]));
      const agents = live
        .filter((a) => byId.has(a.agentId))
        .map((a) => {
          const u = byId.get(a.agentId)!;
          return { ...a, loginId: u.login_id, displayName: u.display_name, extension: u.extension };
        })
        .sort((x, y) => x.loginId.localeCompare(y.loginId));
      return { agents };
    });

    app.get<{ Params: { id: string } }>('/agents/:id/state', {
      onRequest: supervisors,
      schema: { tags: ['agents'], summary: "An agent's current state", params: idParams, response: { 200: snapshotSchema, ...errors } },
    }, async (request) => snapshotById(currentUser(request).tenantId, request.params.id));

    app.post<{ Params: { id: string }; Body: { state: 'ready' | 'not_ready' | 'logged_out'; reason?: string } }>('/agents/:id/force-state', {
      onRequest: supervisors,
      schema: {
        tags: ['agents'],
        summary: "A supervisor sets an agent's state (强制置闲/置忙/签出)",
        params: idParams,
        body: {
          type: 'object',
          properties: { state: { type: 'string', enum: ['ready', 'not_ready', 'logged_out'] }, reason: reasonSchema },
          required: ['state'],
          additionalProperties: false,
        },
        response: { 200: snapshotSchema, ...errors },
      },
    }, async (request) => {
      try {
        return await forceAgentState(db, engine, currentUser(request).tenantId, request.params.id, request.body.state, request.body.reason);
      } catch (err) {
        if (err instanceof ForceStateRefused) {
          if (err.kind === 'not_found') throw notFound('agent_not_found', '座席不存在');
          refuse(err.kind);
        }
        throw err;
      }
    });

    app.get<{ Querystring: { day: string; agentId?: string; state?: string } }>('/agents/state-totals', {
      onRequest: requireRole('agent', 'supervisor', 'admin'),
      schema: {
        tags: ['agents'],
        summary: 'Time per agent, state and reason on one day (not-ready time by reason: state=not_ready); agents see their own',
        querystring: {
          type: 'object',
          properties: { day: { type: 'string', format: 'date' }, agentId: { type: 'string', format: 'uuid' }, state: { type: 'string', enum: [...AGENT_STATES] } },
          required: ['day'],
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: {
              day: { type: 'string' },
              totals: {
                type: 'array',
                items: { type: 'object', properties: { agentId: { type: 'string' }, state: { type: 'string' }, reason: { type: 'string' }, totalMs: { type: 'integer' }, periods: { type: 'integer' } } },
              },
            },
          },
          ...errors,
        },
      },
    }, async (request) => {
      const u = currentUser(request);
      const agentId = u.role === 'agent' ? u.userId : request.query.agentId;
      const tz = await pool.query<{ timezone: string }>('select timezone from tenants where id = $1', [u.tenantId]);
      const totals = await stateTotalsForDay(pool, u.tenantId, request.query.day, {
        timezone: tz.rows[0]?.timezone ?? 'Asia/Shanghai',
        ...(agentId ? { agentId } : {}),
        ...(request.query.state ? { state: request.query.state } : {}),
      });
      return { day: request.query.day, totals };
    });
  };
}
