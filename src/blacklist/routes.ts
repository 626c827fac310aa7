// Blacklist API. Reading: admins and supervisors. Editing entries and deciding proposals: admins, plus supervisors
// when the tenant's setting is 'admin+supervisor' (seed 002 (9)); the setting itself is admin-only.
// Any signed-in agent may propose a caller (POST /blacklist/proposals).
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { requireRole, currentUser } from '../auth/guard.js';
import { writeAudit } from '../auth/audit.js';
import { HttpError, errorBodySchema } from '../http/errors.js';
import type { AppContext } from '../app-context.js';
import type { BlacklistEntry, BlacklistProposal } from '../db/schema/ivr.js';
import { BlacklistError, BLACKLIST_EDITORS, type BlacklistEditors, type BlacklistService } from './service.js';

const errors = { 400: errorBodySchema, 401: errorBodySchema, 403: errorBodySchema, 404: errorBodySchema, 409: errorBodySchema };
const idParams = { type: 'object', properties: { id: { type: 'string', format: 'uuid' } }, required: ['id'], additionalProperties: false } as const;
const numberSchema = { type: 'string', minLength: 2, maxLength: 32, pattern: '^[+0-9 ()-]+$' } as const;
const matchSchema = { type: 'string', enum: ['exact', 'prefix'] } as const;
const entrySchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    number: { type: 'string' },
    match: { type: 'string' },
    reason: { type: 'string' },
    expiresAt: { type: ['string', 'null'] },
    createdBy: { type: 'string' },
    createdAt: { type: 'string' },
    hitCount: { type: 'integer' },
    lastHitAt: { type: ['string', 'null'] },
  },
} as const;
const proposalSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    number: { type: 'string' },
    match: { type: 'string' },
    reason: { type: 'string' },
    callUuid: { type: ['string', 'null'] },
    proposedBy: { type: 'string' },
    proposedAt: { type: 'string' },
    expiresInDays: { type: ['integer', 'null'] },
    status: { type: 'string' },
    decidedBy: { type: ['string', 'null'] },
    decidedAt: { type: ['string', 'null'] },
    decisionNote: { type: ['string', 'null'] },
    entryId: { type: ['string', 'null'] },
  },
} as const;
const decisionBody = { type: 'object', properties: { note: { type: 'string', maxLength: 200 } }, additionalProperties: false } as const;

function toHttp(err: unknown): never {
  if (err instanceof BlacklistError) {
    const status = { bad_number: 400, duplicate: 409, not_found: 404, not_pending: 409 }[err.code];
    throw new HttpError(status, err.code, err.message, err.code === 'bad_number' ? 'number' : undefined);
  }
  throw err;
}

const entryView = (e: BlacklistEntry) => ({ ...e, expiresAt: e.expiresAt?.toISOString() ?? null, createdAt: e.createdAt.toISOString(), lastHitAt: e.lastHitAt?.toISOString() ?? null });
const proposalView = (p: BlacklistProposal) => ({ ...p, proposedAt: p.proposedAt.toISOString(), decidedAt: p.decidedAt?.toISOString() ?? null });

export function blacklistRoutes(ctx: Pick<AppContext, 'db' | 'log'>, blacklist: BlacklistService): FastifyPluginAsync {
  /** the per-tenant edit permission, checked after the role guard */
  const requireEditor = async (request: FastifyRequest) => {
    const user = currentUser(request);
    if (!(await blacklist.canEdit(user.tenantId, user.role))) throw new HttpError(403, 'forbidden', '本中心只允许管理员修改黑名单');
  };
  const audit = (request: FastifyRequest, action: string, target: string, details?: Record<string, unknown>) => {
    const u = currentUser(request);
    return writeAudit(ctx.db, { tenantId: u.tenantId, userId: u.userId, action, target, details }, ctx.log);
  };

  return async (app) => {
    app.get<{ Querystring: { includeExpired?: boolean } }>(
      '/admin/blacklist',
      {
        onRequest: requireRole('admin', 'supervisor'),
        schema: {
          tags: ['blacklist'],
          summary: "The center's blacklist (恶意号码), newest first, with hit counts",
          querystring: { type: 'object', properties: { includeExpired: { type: 'boolean', default: false } }, additionalProperties: false },
          response: { 200: { type: 'object', properties: { entries: { type: 'array', items: entrySchema } } }, ...errors },
        },
      },
      async (request) => ({ entries: (await blacklist.list(currentUser(request).tenantId, request.query)).map(entryView) }),
    );

    app.post<{ Body: { number: string; match?: 'exact' | 'prefix'; reason: string; expiresAt?: string; expiresInDays?: number } }>(
      '/admin/blacklist',
      {
        onRequest: requireRole('admin', 'supervisor'),
        preHandler: requireEditor,
        schema: {
          tags: ['blacklist'],
          summary: 'Add a number or prefix; optional expiry (expiresAt or expiresInDays)',
          body: {
            type: 'object',
            properties: {
              number: numberSchema,
              match: matchSchema,
              reason: { type: 'string', minLength: 1, maxLength: 200 },
              expiresAt: { type: 'string', format: 'date-time' },
              expiresInDays: { type: 'integer', minimum: 1, maximum: 3650 },
            },
            required: ['number', 'reason'],
            additionalProperties: false,
          },
          response: { 201: entrySchema, ...errors },
        },
      },
      async (request, reply) => {
        const b = request.body;
        const expiresAt = b.expiresAt ? new Date(b.expiresAt) : b.expiresInDays ? new Date(Date.now() + b.expiresInDays * 86_400_000) : null;
        const row = await blacklist
          .add(currentUser(request).tenantId, { number: b.number, match: b.match, reason: b.reason, expiresAt, createdBy: currentUser(request).userId })
          .catch(toHttp);
        await audit(request, 'blacklist.add', row.id, { number: row.number, match: row.match, reason: row.reason });
        reply.code(201);
        return entryView(row);
      },
    );

    app.patch<{ Params: { id: string }; Body: { reason?: string; expiresAt?: string | null } }>(
      '/admin/blacklist/:id',
      {
        onRequest: requireRole('admin', 'supervisor'),
        preHandler: requireEditor,
        schema: {
          tags: ['blacklist'],
          summary: 'Change the reason or expiry (null = never expires)',
          params: idParams,
          body: {
            type: 'object',
            properties: { reason: { type: 'string', minLength: 1, maxLength: 200 }, expiresAt: { type: ['string', 'null'], format: 'date-time' } },
            // an empty patch has nothing to set (the update would throw)
            minProperties: 1,
            additionalProperties: false,
          },
          response: { 200: entrySchema, ...errors },
        },
      },
      async (request) => {
        const b = request.body;
        const patch: { reason?: string; expiresAt?: Date | null } = {};
        if (b.reason !== undefined) patch.reason = b.reason;
        if (b.expiresAt !== undefined) patch.expiresAt = b.expiresAt === null ? null : new Date(b.expiresAt);
        const row = await blacklist.update(currentUser(request).tenantId, request.params.id, patch).catch(toHttp);
        await audit(request, 'blacklist.update', row.id, { ...b });
        return entryView(row);
      },
    );

    app.delete<{ Params: { id: string } }>(
      '/admin/blacklist/:id',
      {
        onRequest: requireRole('admin', 'supervisor'),
        preHandler: requireEditor,
        schema: { tags: ['blacklist'], summary: 'Remove an entry', params: idParams, response: { 204: { type: 'null' }, ...errors } },
      },
      async (request, reply) => {
        await blacklist.remove(currentUser(request).tenantId, request.params.id).catch(toHttp);
        await audit(request, 'blacklist.remove', request.params.id);
        reply.code(204);
      },
    );

    app.get<{ Querystring: { limit: number } }>(
      '/admin/blacklist/hits',
      {
        onRequest: requireRole('admin', 'supervisor'),
        schema: {
          tags: ['blacklist'],
          summary: 'Rejected calls, newest first',
          querystring: { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } }, additionalProperties: false },
          response: {
            200: {
              type: 'object',
              properties: {
                hits: {
                  type: 'array',
                  items: { type: 'object', properties: { id: { type: 'integer' }, entryId: { type: ['string', 'null'] }, callerNumber: { type: 'string' }, callUuid: { type: ['string', 'null'] }, at: { type: 'string' } } },
                },
              },
            },
            ...errors,
          },
        },
      },
      async (request) => ({ hits: (await blacklist.hits(currentUser(request).tenantId, request.query.limit)).map((h) => ({ ...h, at: h.at.toISOString() })) }),
    );

    app.get(
      '/admin/blacklist/settings',
      {
        onRequest: requireRole('admin', 'supervisor'),
        schema: {
          tags: ['blacklist'],
          summary: 'Who may edit the blacklist in this center',
          querystring: { type: 'object', additionalProperties: false },
          response: { 200: { type: 'object', properties: { editors: { type: 'string', enum: [...BLACKLIST_EDITORS] } } }, ...errors },
        },
      },
      async (request) => ({ editors: await blacklist.editors(currentUser(request).tenantId) }),
    );

    app.put<{ Body: { editors: BlacklistEditors } }>(
      '/admin/blacklist/settings',
      {
        onRequest: requireRole('admin'),
        schema: {
          tags: ['blacklist'],
          summary: "Set who may edit the blacklist: 'admin' or 'admin+supervisor'",
          body: { type: 'object', properties: { editors: { type: 'string', enum: [...BLACKLIST_EDITORS] } }, required: ['editors'], additionalProperties: false },
          response: { 204: { type: 'null' }, ...errors },
        },
      },
      async (request, reply) => {
        const u = currentUser(request);
        await blacklist.setEditors(u.tenantId, request.body.editors, u.userId);
        await audit(request, 'blacklist.settings', u.tenantId, { editors: request.body.editors });
        reply.code(204);
      },
    );

    app.post<{ Body: { number: string; match?: 'exact' | 'prefix'; reason: string; callUuid?: string; expiresInDays?: number } }>(
      '/blacklist/proposals',
      {
        onRequest: requireRole('agent', 'supervisor', 'admin'),
        schema: {
          tags: ['blacklist'],
          summary: 'Flag a caller as malicious; a supervisor or admin approves or rejects it',
          body: {
            type: 'object',
            properties: {
              number: numberSchema,
              match: matchSchema,
              reason: { type: 'string', minLength: 1, maxLength: 200 },
              callUuid: { type: 'string', maxLength: 64 },
              expiresInDays: { type: 'integer', minimum: 1, maximum: 3650 },
            },
            required: ['number', 'reason'],
            additionalProperties: false,
          },
          response: { 201: proposalSchema, ...errors },
        },
      },
      async (request, reply) => {
        const u = currentUser(request);
        const row = await blacklist.propose(u.tenantId, { ...request.body, proposedBy: u.userId }).catch(toHttp);
        await audit(request, 'blacklist.propose', row.id, { number: row.number });
        reply.code(201);
        return proposalView(row);
      },
    );

    app.get<{ Querystring: { status?: 'pending' | 'approved' | 'rejected' } }>(
      '/admin/blacklist/proposals',
      {
        onRequest: requireRole('admin', 'supervisor'),
        schema: {
          tags: ['blacklist'],
          summary: 'Proposals, newest first',
          querystring: { type: 'object', properties: { status: { type: 'string', enum: ['pending', 'approved', 'rejected'] } }, additionalProperties: false },
          response: { 200: { type: 'object', properties: { proposals: { type: 'array', items: proposalSchema } } }, ...errors },
        },
      },
      async (request) => ({ proposals: (await blacklist.proposals(currentUser(request).tenantId, request.query.status)).map(proposalView) }),
    );

    for (const decision of ['approve', 'reject'] as const) {
      app.post<{ Params: { id: string }; Body: { note?: string } }>(
        `/admin/blacklist/proposals/:id/${decision}`,
        {
          onRequest: requireRole('admin', 'supervisor'),
          preHandler: requireEditor,
          schema: {
            tags: ['blacklist'],
            summary: decision === 'approve' ? 'Approve: the number goes on the blacklist' : 'Reject the proposal',
            params: idParams,
            body: decisionBody,
            response: { 200: proposalSchema, ...errors },
          },
        },
        async (request) => {
          const u = currentUser(request);
          const note = request.body?.note;
          const row = await (decision === 'approve' ? blacklist.approve(u.tenantId, request.params.id, u.userId, note) : blacklist.reject(u.tenantId, request.params.id, u.userId, note)).catch(toHttp);
          await audit(request, `blacklist.proposal.${decision}`, row.id, { number: row.number });
          return proposalView(row);
        },
      );
    }
  };
}
