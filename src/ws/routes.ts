// REST for integrations next to the sockets: text messages (POST/GET /agents/messages; the same service as the
// WebSocket's send_message) and the caller directory admin (/callers) behind the screen pop.
import type { FastifyPluginAsync } from 'fastify';
import { requireRole, currentUser } from '../auth/guard.js';
import { errorBodySchema, HttpError, notFound } from '../http/errors.js';
import { CALLER_KINDS } from '../db/schema/index.js';
import type { AgentMessageService } from './agent-messages.js';
import type { CallerDirectory, CallerInput } from './caller-directory.js';
import { MAX_TEXT_CHARS, WsCommandError, type MessageTargetInput } from './protocol.js';

const errors = { 400: errorBodySchema, 401: errorBodySchema, 403: errorBodySchema, 404: errorBodySchema, 409: errorBodySchema };

const messageSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    from: { type: 'object', properties: { userId: { type: 'string' }, name: { type: 'string' } } },
    to: { type: 'object', properties: { kind: { type: 'string' }, agentId: { type: 'string' }, groupId: { type: 'string' } } },
    text: { type: 'string' },
    sentAt: { type: 'string' },
  },
} as const;

const callerSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    number: { type: 'string' },
    name: { type: 'string' },
    address: { type: ['string', 'null'] },
    kind: { type: 'string' },
    vip: { type: 'boolean' },
    registeredAt: { type: 'string' },
  },
} as const;

const callerInputProps = {
  number: { type: 'string', minLength: 3, maxLength: 32, pattern: '^[+0-9][0-9 -]*$' },
  name: { type: 'string', minLength: 1, maxLength: 100 },
  address: { type: ['string', 'null'], maxLength: 300 },
  kind: { type: 'string', enum: [...CALLER_KINDS] },
  vip: { type: 'boolean' },
  registeredAt: { type: 'string', format: 'date-time' },
} as const;

const idParams = { type: 'object', properties: { id: { type: 'string', format: 'uuid' } }, required: ['id'] } as const;

function httpErrorOf(err: unknown): never {
  if (err instanceof WsCommandError) {
    const status = err.code === 'agent_not_found' || err.code === 'group_not_found' ? 404 : 409;
    throw new HttpError(status, err.code, err.message, err.field);
  }
  throw err;
}

export function wsRestRoutes(deps: { messages: AgentMessageService; directory: CallerDirectory }): FastifyPluginAsync {
  const { messages, directory } = deps;
  return async (app) => {
    app.post<{ Body: { to: { agentId?: string; groupId?: string; all?: boolean }; text: string } }>('/agents/messages', {
      onRequest: requireRole('agent', 'supervisor', 'admin'),
      schema: {
        tags: ['agents'],
        summary: 'Send a text message to an agent, a skill group or the whole center (seed 002 (5))',
        body: {
          type: 'object',
          properties: {
            to: {
              type: 'object',
              properties: { agentId: { type: 'string', format: 'uuid' }, groupId: { type: 'string', format: 'uuid' }, all: { type: 'boolean', const: true } },
              minProperties: 1,
              maxProperties: 1,
              additionalProperties: false,
            },
            text: { type: 'string', minLength: 1, maxLength: MAX_TEXT_CHARS, pattern: '\\S' },
          },
          required: ['to', 'text'],
          additionalProperties: false,
        },
        response: { 201: messageSchema, ...errors },
      },
    }, async (request, reply) => {
      const u = currentUser(request);
      const message = await messages.send(u, request.body.to as MessageTargetInput, request.body.text.trim()).catch(httpErrorOf);
      reply.code(201);
      return message;
    });

    app.get<{ Querystring: { afterId?: number; unread?: boolean } }>('/agents/messages', {
      onRequest: requireRole('agent', 'supervisor', 'admin'),
      schema: {
        tags: ['agents'],
        summary: "Today's messages sent by or to me (direct, my groups, the whole center), oldest first",
        querystring: {
          type: 'object',
          properties: { afterId: { type: 'integer', minimum: 0 }, unread: { type: 'boolean' } },
          additionalProperties: false,
        },
        response: { 200: { type: 'object', properties: { messages: { type: 'array', items: messageSchema }, readUpTo: { type: 'integer' } } }, ...errors },
      },
    }, async (request) => {
      const u = currentUser(request);
      const list = request.query.unread ? await messages.unread(u) : await messages.today(u, { afterId: request.query.afterId ?? 0 });
      return { messages: list, readUpTo: await messages.readMark(u.userId) };
    });

    const admins = requireRole('admin');
    const directoryReaders = requireRole('admin', 'supervisor');

    app.get<{ Querystring: { q?: string; limit?: number; offset?: number } }>('/callers', {
      onRequest: directoryReaders,
      schema: {
        tags: ['callers'],
        summary: 'Caller directory (registered citizens and enterprises), searchable by number, name or address',
        querystring: {
          type: 'object',
          properties: { q: { type: 'string', maxLength: 64 }, limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 }, offset: { type: 'integer', minimum: 0, default: 0 } },
          additionalProperties: false,
        },
        response: { 200: { type: 'object', properties: { callers: { type: 'array', items: callerSchema } } }, ...errors },
      },
    }, async (request) => {
      const { tenantId } = currentUser(request);
      const q = request.query;
      return { callers: await directory.list(tenantId, { ...(q.q ? { q: q.q } : {}), limit: q.limit ?? 50, offset: q.offset ?? 0 }) };
    });

    app.get<{ Params: { id: string } }>('/callers/:id', {
      onRequest: directoryReaders,
      schema: { tags: ['callers'], summary: 'One caller record', params: idParams, response: { 200: callerSchema, ...errors } },
    }, async (request) => {
      const c = await directory.get(currentUser(request).tenantId, request.params.id);
      if (!c) throw notFound('caller_not_found', '来电人档案不存在');
      return c;
    });

    app.post<{ Body: CallerInput }>('/callers', {
      onRequest: admins,
      schema: {
        tags: ['callers'],
        summary: 'Register a caller (citizen or enterprise)',
        body: { type: 'object', properties: callerInputProps, required: ['number', 'name'], additionalProperties: false },
        response: { 201: callerSchema, ...errors },
      },
    }, async (request, reply) => {
      const c = await directory.create(currentUser(request).tenantId, request.body);
      if (!c) throw new HttpError(409, 'caller_exists', '该号码已登记', 'number');
      reply.code(201);
      return c;
    });

    app.patch<{ Params: { id: string }; Body: Partial<CallerInput> }>('/callers/:id', {
      onRequest: admins,
      schema: {
        tags: ['callers'],
        summary: 'Change a caller record',
        params: idParams,
        body: { type: 'object', properties: callerInputProps, minProperties: 1, additionalProperties: false },
        response: { 200: callerSchema, ...errors },
      },
    }, async (request) => {
      const r = await directory.update(currentUser(request).tenantId, request.params.id, request.body);
      if (r === 'conflict') throw new HttpError(409, 'caller_exists', '该号码已登记', 'number');
      if (!r) throw notFound('caller_not_found', '来电人档案不存在');
      return r;
    });

    app.delete<{ Params: { id: string } }>('/callers/:id', {
      onRequest: admins,
      schema: { tags: ['callers'], summary: 'Delete a caller record', params: idParams, response: { 204: { type: 'null' }, ...errors } },
    }, async (request, reply) => {
      if (!(await directory.remove(currentUser(request).tenantId, request.params.id))) throw notFound('caller_not_found', '来电人档案不存在');
      reply.code(204);
      return null;
    });

  };
}
