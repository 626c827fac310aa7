// /acd: skill-group administration (admins), live queue figures and today's KPIs (supervisors and admins).
// Every query is scoped by the signed-in user's tenant; another tenant's group answers 404 like a missing one.
import type { FastifyPluginAsync } from 'fastify';
import type { AppContext } from '../app-context.js';
import { ACD_STRATEGIES, OVERFLOW_KINDS, AGENT_ENDPOINT_TYPES } from '../db/schema/acd.js';
import { errorBodySchema, notFound } from '../http/errors.js';
import { requireRole, currentUser } from '../auth/guard.js';
import type { AcdEngine } from './engine.js';
import { listGroups, getGroup, createGroup, updateGroup, deleteGroup, setMembers, listEndpoints, setEndpoints, type SkillGroupInput, type AgentEndpointInput } from './groups.js';
import { dayKpis } from './kpi.js';
import { getUser } from '../auth/users.js';

const groupNotFound = () => notFound('group_not_found', '技能组不存在');
const errors = { 400: errorBodySchema, 401: errorBodySchema, 403: errorBodySchema, 404: errorBodySchema, 409: errorBodySchema };
const idParams = { type: 'object', properties: { id: { type: 'string', format: 'uuid' } }, required: ['id'] } as const;

const overflowTargetSchema = {
  type: ['object', 'null'],
  properties: {
    kind: { type: 'string', enum: [...OVERFLOW_KINDS] },
    groupId: { type: 'string', format: 'uuid' },
    prompt: { type: 'string', maxLength: 500 },
  },
  required: ['kind'],
  additionalProperties: false,
} as const;

const ms = (max: number) => ({ type: 'integer', minimum: 0, maximum: max }) as const;

const groupInputProperties = {
  name: { type: 'string', minLength: 1, maxLength: 64 },
  code: { type: ['string', 'null'], pattern: '^[A-Za-z0-9_-]{1,32}$', description: 'short reference for IVR flows (skillGroup: consult)' },
  strategy: { type: 'string', enum: [...ACD_STRATEGIES] },
  priority: { type: 'integer', minimum: -100, maximum: 100 },
  agingRate: { type: 'number', minimum: 0, maximum: 100, description: 'priority points a waiting call gains per second' },
  vipBoost: { type: 'integer', minimum: 0, maximum: 100 },
  musicOnHold: { type: ['string', 'null'], maxLength: 500 },
  announceIntervalMs: { ...ms(3_600_000), description: '0 = no position announcements' },
  maxWaitMs: { type: ['integer', 'null'], minimum: 1000, maximum: 86_400_000 },
  overflowOnWait: overflowTargetSchema,
  maxQueueLength: { type: ['integer', 'null'], minimum: 1, maximum: 100_000 },
  overflowOnLength: overflowTargetSchema,
  noAnswerTimeoutMs: { type: 'integer', minimum: 1000, maximum: 300_000 },
  wrapUpMs: ms(3_600_000),
  previousAgentEnabled: { type: 'boolean' },
  previousAgentWindowMs: ms(90 * 86_400_000),
  previousAgentWaitMs: ms(3_600_000),
} as const;

const memberSchema = {
  type: 'object',
  properties: {
    agentId: { type: 'string', format: 'uuid' },
    proficiency: { type: 'integer', minimum: 1, maximum: 5 },
    position: { type: 'integer', minimum: 0 },
  },
  required: ['agentId'],
  additionalProperties: false,
} as const;

const groupSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    tenantId: { type: 'string' },
    ...groupInputProperties,
    overflowOnWait: { type: ['object', 'null'], additionalProperties: true },
    overflowOnLength: { type: ['object', 'null'], additionalProperties: true },
    members: { type: 'array', items: { type: 'object', properties: memberSchema.properties } },
  },
  required: ['id', 'tenantId', 'name', 'strategy', 'members'],
} as const;

const endpointSchema = {
  type: 'object',
  properties: {
    type: { type: 'string', enum: [...AGENT_ENDPOINT_TYPES] },
    address: { type: 'string', pattern: '^\\+?[0-9]{2,20}$' },
    gateway: { type: ['string', 'null'], pattern: '^[A-Za-z0-9._-]{1,64}$' },
    confirmKey: { type: ['string', 'null'], pattern: '^[0-9*#]$' },
    isDefault: { type: 'boolean' },
  },
  required: ['type', 'address'],
  additionalProperties: false,
} as const;

const groupStatsSchema = {
  type: 'object',
  properties: {
    groupId: { type: 'string' },
    waiting: { type: 'integer' },
    longestWaitMs: { type: 'integer' },
    readyAgents: { type: 'integer' },
    agentsByState: { type: 'object', additionalProperties: { type: 'integer' } },
    averageHandleMs: { type: ['integer', 'null'] },
  },
} as const;

export interface AcdRoutesDeps {
  engine: AcdEngine;
}

export function acdRoutes(ctx: AppContext, deps: AcdRoutesDeps): FastifyPluginAsync {
  const { db, pool } = ctx;
  const { engine } = deps;
  const readers = requireRole('supervisor', 'admin');
  const admins = requireRole('admin');

  return async (app) => {
    app.get('/acd/groups', {
      onRequest: readers,
      schema: { tags: ['acd'], summary: "The center's skill groups with members", response: { 200: { type: 'object', properties: { groups: { type: 'array', items: groupSchema } } }, ...errors } },
    }, async (request) => ({ groups: await listGroups(db, currentUser(request).tenantId) }));

    app.post<{ Body: SkillGroupInput }>('/acd/groups', {
      onRequest: admins,
      schema: {
        tags: ['acd'],
        summary: 'Create a skill group (queue)',
        body: { type: 'object', properties: groupInputProperties, required: ['name'], additionalProperties: false },
        response: { 201: groupSchema, ...errors },
      },
    }, async (request, reply) => {
      const g = await createGroup(db, currentUser(request).tenantId, request.body);
      await engine.applyGroup(g);
      return reply.code(201).send(g);
    });

    app.get<{ Params: { id: string } }>('/acd/groups/:id', {
      onRequest: readers,
      schema: { tags: ['acd'], summary: 'One skill group', params: idParams, response: { 200: groupSchema, ...errors } },
    }, async (request) => {
      const g = await getGroup(db, currentUser(request).tenantId, request.params.id);
      if (!g) throw groupNotFound();
      return g;
    });

    app.patch<{ Params: { id: string }; Body: Partial<SkillGroupInput> }>('/acd/groups/:id', {
      onRequest: admins,
      schema: {
        tags: ['acd'],
        summary: 'Change a skill group; waiting callers are re-ordered and re-matched at once',
        params: idParams,
        body: { type: 'object', properties: groupInputProperties, additionalProperties: false, minProperties: 1 },
        response: { 200: groupSchema, ...errors },
      },
    }, async (request) => {
      const g = await updateGroup(db, currentUser(request).tenantId, request.params.id, request.body);
      if (!g) throw groupNotFound();
      await engine.applyGroup(g);
      return g;
    });

    app.delete<{ Params: { id: string } }>('/acd/groups/:id', {
      onRequest: admins,
      schema: {
        tags: ['acd'],
        summary: 'Delete a skill group',
        params: idParams,
        response: { 200: { type: 'object', properties: { deleted: { type: 'boolean' }, waitingCallers: { type: 'array', items: { type: 'string' } } } }, ...errors },
      },
    }, async (request) => {
      const tenantId = currentUser(request).tenantId;
      if (!(await getGroup(db, tenantId, request.params.id))) throw groupNotFound();
      await deleteGroup(db, tenantId, request.params.id);
      const waitingCallers = await engine.removeGroup(request.params.id);
      return { deleted: true, waitingCallers };
    });

    app.put<{ Params: { id: string }; Body: { members: { agentId: string; proficiency?: number; position?: number }[] } }>('/acd/groups/:id/members', {
      onRequest: admins,
      schema: {
        tags: ['acd'],
        summary: "Replace a group's agents (proficiency 1-5, order for sequential/round-robin)",
        params: idParams,
        body: { type: 'object', properties: { members: { type: 'array', items: memberSchema, maxItems: 5000 } }, required: ['members'], additionalProperties: false },
        response: { 200: groupSchema, ...errors },
      },
    }, async (request) => {
      const g = await setMembers(db, currentUser(request).tenantId, request.params.id, request.body.members);
      if (!g) throw groupNotFound();
      await engine.applyGroup(g);
      return g;
    });

    app.get<{ Params: { id: string } }>('/acd/groups/:id/stats', {
      onRequest: requireRole('agent', 'supervisor', 'admin'),
      schema: { tags: ['acd'], summary: 'Live queue figures of a group', params: idParams, response: { 200: groupStatsSchema, ...errors } },
    }, async (request) => {
      const g = await getGroup(db, currentUser(request).tenantId, request.params.id);
      if (!g) throw groupNotFound();
      return engine.groupStats(g.id);
    });

    app.get<{ Querystring: { day?: string } }>('/acd/kpi', {
      onRequest: readers,
      schema: {
        tags: ['acd'],
        summary: "A day's KPIs per group and agent: 人工接通率, 20秒接通率, 呼损率, average wait and talk (default today)",
        querystring: { type: 'object', properties: { day: { type: 'string', format: 'date' } }, additionalProperties: false },
        response: { 200: { type: 'object', additionalProperties: true }, ...errors },
      },
    }, async (request) => {
      const tenantId = currentUser(request).tenantId;
      const tz = await pool.query<{ timezone: string }>('select timezone from tenants where id = $1', [tenantId]);
      return dayKpis(pool, tenantId, request.query.day, tz.rows[0]?.timezone ?? 'Asia/Shanghai');
    });

    app.get<{ Params: { id: string } }>('/acd/agents/:id/endpoints', {
      onRequest: admins,
      schema: { tags: ['acd'], summary: 'The phones an agent may sign in with', params: idParams, response: { 200: { type: 'object', properties: { endpoints: { type: 'array', items: { type: 'object', additionalProperties: true } } } }, ...errors } },
    }, async (request) => {
      const tenantId = currentUser(request).tenantId;
      // another center's agent and an unknown id alike
      if (!(await getUser(db, tenantId, request.params.id))) throw notFound('agent_not_found', '座席不存在');
      return { endpoints: await listEndpoints(db, tenantId, request.params.id) };
    });

    app.put<{ Params: { id: string }; Body: { endpoints: AgentEndpointInput[] } }>('/acd/agents/:id/endpoints', {
      onRequest: admins,
      schema: {
        tags: ['acd'],
        summary: "Replace an agent's phones: desk SIP extensions and mobile numbers (移动终端座席, accepted by key press)",
        params: idParams,
        body: { type: 'object', properties: { endpoints: { type: 'array', items: endpointSchema, maxItems: 10 } }, required: ['endpoints'], additionalProperties: false },
        response: { 200: { type: 'object', properties: { endpoints: { type: 'array', items: { type: 'object', additionalProperties: true } } } }, ...errors },
      },
    }, async (request) => {
      const list = await setEndpoints(db, currentUser(request).tenantId, request.params.id, request.body.endpoints);
      if (!list) throw notFound('agent_not_found', '座席不存在');
      return { endpoints: list };
    });
  };
}
