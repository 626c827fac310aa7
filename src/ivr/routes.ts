// IVR admin API: the center's flows with their versions and load errors, a manual reload, voicemails (list, play)
// and the keypress survey summary. Tenants see only their own flows and the shared files (entry-points.yaml).
import fs from 'node:fs';
import type { FastifyPluginAsync } from 'fastify';
import { requireRole, currentUser } from '../auth/guard.js';
import { writeAudit } from '../auth/audit.js';
import { HttpError, errorBodySchema } from '../http/errors.js';
import type { AppContext } from '../app-context.js';
import type { FlowRegistry } from './registry.js';
import type { FlowIssue } from './validate.js';
import type { VoicemailStore, SurveyStore } from './stores.js';

const errors = { 400: errorBodySchema, 401: errorBodySchema, 403: errorBodySchema, 404: errorBodySchema };
const issueSchema = {
  type: 'object',
  properties: { file: { type: 'string' }, line: { type: 'integer' }, column: { type: 'integer' }, code: { type: 'string' }, message: { type: 'string' } },
} as const;
const flowIdParams = { type: 'object', properties: { flowId: { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9_-]{0,63}$' } }, required: ['flowId'], additionalProperties: false } as const;
const noQuery = { type: 'object', additionalProperties: false } as const;

/** a tenant's own files, plus files shared by all tenants (no tenant folder) */
const visibleTo = (tenantId: string) => (i: FlowIssue) => i.file.startsWith(`${tenantId}/`) || !i.file.includes('/');

export interface IvrRoutesDeps {
  registry: FlowRegistry;
  voicemails?: VoicemailStore;
  surveys?: SurveyStore;
}

export function ivrAdminRoutes(ctx: Pick<AppContext, 'db' | 'log'>, deps: IvrRoutesDeps): FastifyPluginAsync {
  const { registry } = deps;
  return async (app) => {
    app.get(
      '/admin/flows',
      {
        onRequest: requireRole('admin', 'supervisor'),
        schema: {
          tags: ['ivr'],
          summary: "The center's loaded flows (running version of each), its entry routes and the current load errors",
          querystring: noQuery,
          response: {
            200: {
              type: 'object',
              properties: {
                flows: {
                  type: 'array',
                  items: {
                    type: 'object',
                    properties: { flowId: { type: 'string' }, name: { type: 'string' }, file: { type: 'string' }, versionId: { type: 'string' }, loadedAt: { type: 'string' }, nodes: { type: 'integer' } },
                  },
                },
                routes: { type: 'array', items: { type: 'object', properties: { did: { type: 'string' }, callerPrefix: { type: 'string' }, flow: { type: 'string' } } } },
                loadErrors: { type: 'array', items: issueSchema },
              },
            },
            ...errors,
          },
        },
      },
      async (request) => {
        const { tenantId } = currentUser(request);
        return {
          flows: registry.list(tenantId),
          routes: registry.routes().filter((r) => r.tenant === tenantId),
          loadErrors: registry.loadErrors.filter(visibleTo(tenantId)),
        };
      },
    );

    app.get(
      '/admin/flows/errors',
      {
        onRequest: requireRole('admin', 'supervisor'),
        schema: {
          tags: ['ivr'],
          summary: 'Why the last edit of a flow file was refused (file, line, column, reason); empty when all loaded',
          querystring: noQuery,
          response: { 200: { type: 'object', properties: { loadErrors: { type: 'array', items: issueSchema } } }, ...errors },
        },
      },
      async (request) => ({ loadErrors: registry.loadErrors.filter(visibleTo(currentUser(request).tenantId)) }),
    );

    app.get<{ Params: { flowId: string } }>(
      '/admin/flows/:flowId/versions',
      {
        onRequest: requireRole('admin', 'supervisor'),
        schema: {
          tags: ['ivr'],
          summary: 'The versions of a flow this node loaded (oldest first); the last one is running',
          params: flowIdParams,
          response: {
            200: {
              type: 'object',
              properties: {
                versions: {
                  type: 'array',
                  items: { type: 'object', properties: { versionId: { type: 'string' }, version: { type: 'integer' }, hash: { type: 'string' }, loadedAt: { type: 'string' } } },
                },
              },
            },
            ...errors,
          },
        },
      },
      async (request) => {
        const { tenantId } = currentUser(request);
        const versions = registry.versions(tenantId, request.params.flowId);
        if (versions.length === 0) throw new HttpError(404, 'not_found', `流程 ${request.params.flowId} 不存在`);
        return { versions };
      },
    );

    app.get<{ Params: { flowId: string } }>(
      '/admin/flows/:flowId',
      {
        onRequest: requireRole('admin', 'supervisor'),
        schema: {
          tags: ['ivr'],
          summary: 'The running version of a flow with its nodes',
          params: flowIdParams,
          response: {
            200: {
              type: 'object',
              properties: { flowId: { type: 'string' }, name: { type: 'string' }, versionId: { type: 'string' }, start: { type: 'string' }, nodes: { type: 'object', additionalProperties: true } },
            },
            ...errors,
          },
        },
      },
      async (request) => {
        const flow = registry.get(currentUser(request).tenantId, request.params.flowId);
        if (!flow) throw new HttpError(404, 'not_found', `流程 ${request.params.flowId} 不存在`);
        return { flowId: flow.id, name: flow.name, versionId: flow.versionId, start: flow.start, nodes: Object.fromEntries(flow.nodes) };
      },
    );

    app.post(
      '/admin/flows/reload',
      {
        onRequest: requireRole('admin'),
        schema: {
          tags: ['ivr'],
          summary: 'Re-read the flows directory now (it is also watched); broken files keep their running version',
          body: { type: 'object', additionalProperties: false },
          response: {
            200: {
              type: 'object',
              properties: {
                changed: { type: 'array', items: { type: 'string' } },
                refused: { type: 'array', items: { type: 'string' } },
                removed: { type: 'array', items: { type: 'string' } },
                errors: { type: 'array', items: issueSchema },
              },
            },
            ...errors,
          },
        },
      },
      async (request) => {
        const user = currentUser(request);
        const r = registry.reload();
        const mine = (k: string) => k.startsWith(`${user.tenantId}/`);
        const report = { changed: r.changed.filter(mine), refused: r.refused.filter(mine), removed: r.removed.filter(mine), errors: r.errors.filter(visibleTo(user.tenantId)) };
        await writeAudit(ctx.db, { tenantId: user.tenantId, userId: user.userId, action: 'ivr.flows.reload', details: { ...report, errors: report.errors.length } }, ctx.log);
        return report;
      },
    );

    const vm = deps.voicemails;
    if (vm) {
      app.get<{ Querystring: { from?: string; to?: string; unheard?: boolean; limit: number } }>(
        '/admin/voicemails',
        {
          onRequest: requireRole('admin', 'supervisor'),
          schema: {
            tags: ['ivr'],
            summary: 'Voicemails (after-hours complaints, busy-time messages): caller, time, duration, file; newest first',
            querystring: {
              type: 'object',
              properties: {
                from: { type: 'string', format: 'date-time' },
                to: { type: 'string', format: 'date-time' },
                unheard: { type: 'boolean' },
                limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
              },
              additionalProperties: false,
            },
            response: {
              200: {
                type: 'object',
                properties: {
                  voicemails: {
                    type: 'array',
                    items: {
                      type: 'object',
                      properties: {
                        id: { type: 'string' },
                        callUuid: { type: 'string' },
                        callerNumber: { type: 'string' },
                        destination: { type: ['string', 'null'] },
                        category: { type: ['string', 'null'] },
                        startedAt: { type: 'string' },
                        durationMs: { type: 'integer' },
                        sizeBytes: { type: 'integer' },
                        endedBy: { type: 'string' },
                        listenedAt: { type: ['string', 'null'] },
                        audioUrl: { type: 'string' },
                      },
                    },
                  },
                },
              },
              ...errors,
            },
          },
        },
        async (request) => {
          const q = request.query;
          const rows = await vm.list(currentUser(request).tenantId, { from: q.from ? new Date(q.from) : undefined, to: q.to ? new Date(q.to) : undefined, unheard: q.unheard, limit: q.limit });
          return {
            voicemails: rows.map((v) => ({
              ...v,
              startedAt: v.startedAt.toISOString(),
              listenedAt: v.listenedAt?.toISOString() ?? null,
              audioUrl: `/admin/voicemails/${v.id}/audio`,
            })),
          };
        },
      );

      app.get<{ Params: { id: string } }>(
        '/admin/voicemails/:id/audio',
        {
          onRequest: requireRole('admin', 'supervisor'),
          schema: {
            tags: ['ivr'],
            summary: 'Play a voicemail (audio/wav); marks it as listened',
            params: { type: 'object', properties: { id: { type: 'string', format: 'uuid' } }, required: ['id'], additionalProperties: false },
          },
        },
        async (request, reply) => {
          const user = currentUser(request);
          const v = await vm.get(user.tenantId, request.params.id);
          if (!v || !fs.existsSync(v.filePath)) throw new HttpError(404, 'not_found', '留言不存在或录音文件已丢失');
          await vm.markListened(user.tenantId, v.id, user.userId);
          await writeAudit(ctx.db, { tenantId: user.tenantId, userId: user.userId, action: 'ivr.voicemail.play', target: v.id }, ctx.log);
          reply.type('audio/wav').header('content-length', String(fs.statSync(v.filePath).size));
          return reply.send(fs.createReadStream(v.filePath));
        },
      );
    }

    const sv = deps.surveys;
    if (sv) {
      app.get<{ Querystring: { from?: string; to?: string; survey?: string } }>(
        '/admin/surveys/summary',
        {
          onRequest: requireRole('admin', 'supervisor'),
          schema: {
            tags: ['ivr'],
            summary: 'Keypress survey answers counted per option (按键满意度)',
            querystring: {
              type: 'object',
              properties: { from: { type: 'string', format: 'date-time' }, to: { type: 'string', format: 'date-time' }, survey: { type: 'string', maxLength: 64 } },
              additionalProperties: false,
            },
            response: {
              200: {
                type: 'object',
                properties: { options: { type: 'array', items: { type: 'object', properties: { key: { type: 'string' }, label: { type: 'string' }, count: { type: 'integer' } } } }, total: { type: 'integer' } },
              },
              ...errors,
            },
          },
        },
        async (request) => {
          const q = request.query;
          const options = await sv.summary(currentUser(request).tenantId, { from: q.from ? new Date(q.from) : undefined, to: q.to ? new Date(q.to) : undefined, survey: q.survey });
          return { options, total: options.reduce((n, o) => n + o.count, 0) };
        },
      );
    }
  };
}
