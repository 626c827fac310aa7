// REST for call control. Agents act on their own current call (callUuid optional), supervisors/admins on any
// live call of their center (callUuid required where it says so). Refusals: { code, message (中文) }.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { AppContext } from '../app-context.js';
import { requireRole, currentUser } from '../auth/guard.js';
import { HttpError, errorBodySchema } from '../http/errors.js';
import type { CallControl, Actor, TransferTarget, AttachedData } from './call-control.js';
import { CallControlError } from './errors.js';

export interface CallControlRoutesDeps {
  control: CallControl;
}

const errors = { 400: errorBodySchema, 401: errorBodySchema, 403: errorBodySchema, 404: errorBodySchema, 409: errorBodySchema, 501: errorBodySchema, 502: errorBodySchema };
const callUuid = { type: 'string', format: 'uuid' } as const;
const attached = { type: 'object', additionalProperties: true } as const;
const target = {
  type: 'object',
  properties: {
    kind: { type: 'string', enum: ['agent', 'group', 'number'] },
    agentId: { type: 'string', minLength: 1 },
    groupId: { type: 'string', minLength: 1 },
    number: { type: 'string', minLength: 3, maxLength: 32 },
  },
  required: ['kind'],
  additionalProperties: false,
} as const;
const okResult = { type: 'object', additionalProperties: true } as const;

function actorOf(request: FastifyRequest): Actor {
  const u = currentUser(request);
  return { userId: u.userId, tenantId: u.tenantId, role: u.role };
}

function toTarget(t: { kind: string; agentId?: string; groupId?: string; number?: string }, allowGroup: boolean): TransferTarget {
  if (t.kind === 'agent' && t.agentId) return { kind: 'agent', agentId: t.agentId };
  if (t.kind === 'number' && t.number) return { kind: 'number', number: t.number };
  if (t.kind === 'group' && t.groupId && allowGroup) return { kind: 'group', groupId: t.groupId };
  throw new HttpError(400, 'bad_request', 'target 不完整', 'target');
}

/** CallControlError → HttpError (stable code, Chinese message). */
async function run<T>(fn: () => Promise<T>, badInputField?: string): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    // a 400 names the request field it is about (the one error shape)
    if (err instanceof CallControlError) throw new HttpError(err.httpStatus, err.code, err.message, err.httpStatus === 400 ? badInputField : undefined);
    throw err;
  }
}

export const callControlRoutes =
  (_ctx: AppContext, deps: CallControlRoutesDeps): FastifyPluginAsync =>
  async (app) => {
    const { control } = deps;
    const anyone = requireRole('agent', 'supervisor', 'admin');
    const supervisors = requireRole('supervisor', 'admin');
    const body = (props: Record<string, unknown>, required: string[] = []) =>
      ({ type: 'object', properties: { callUuid, ...props }, required, additionalProperties: false }) as const;

    app.get<{ Params: { callUuid: string } }>(
      '/calls/:callUuid/attached-data',
      {
        onRequest: anyone,
        schema: { tags: ['call-control'], summary: '随路数据（IVR 路径、工单草稿）', params: { type: 'object', properties: { callUuid }, required: ['callUuid'] }, response: { 200: okResult, ...errors } },
      },
      (req) =>
        run(async () => {
          const s = control.callFor(actorOf(req), req.params.callUuid);
          return { callUuid: s.uuid, data: control.attachedData(s.uuid) ?? {} };
        }),
    );
    app.post<{ Body: { callUuid?: string } }>('/calls/answer', { onRequest: anyone, schema: { tags: ['call-control'], summary: '软接听（话机自动摘机）', body: body({}), response: { 200: okResult, ...errors } } }, (req) =>
      run(() => control.answer(actorOf(req), req.body.callUuid)),
    );
    app.post<{ Body: { callUuid?: string } }>('/calls/hangup', { onRequest: anyone, schema: { tags: ['call-control'], summary: '软挂机', body: body({}), response: { 200: okResult, ...errors } } }, (req) =>
      run(() => control.hangup(actorOf(req))),
    );
    app.post<{ Body: { callUuid?: string } }>('/calls/hold', { onRequest: anyone, schema: { tags: ['call-control'], summary: '保持', body: body({}), response: { 200: okResult, ...errors } } }, (req) =>
      run(() => control.hold(actorOf(req), req.body.callUuid)),
    );
    app.post<{ Body: { callUuid?: string } }>('/calls/retrieve', { onRequest: anyone, schema: { tags: ['call-control'], summary: '拾回', body: body({}), response: { 200: okResult, ...errors } } }, (req) =>
      run(() => control.retrieve(actorOf(req), req.body.callUuid)),
    );
    app.post<{ Body: { callUuid?: string; target: { kind: string; agentId?: string; groupId?: string; number?: string }; data?: AttachedData } }>(
      '/calls/transfer',
      { onRequest: anyone, schema: { tags: ['call-control'], summary: '盲转（坐席/技能组/外线号码）', body: body({ target, data: attached }, ['target']), response: { 200: okResult, ...errors } } },
      (req) => run(() => control.blindTransfer(actorOf(req), toTarget(req.body.target, true), req.body.data, req.body.callUuid)),
    );
    app.post<{ Body: { callUuid?: string; target: { kind: string; agentId?: string; number?: string } } }>(
      '/calls/consult',
      { onRequest: anyone, schema: { tags: ['call-control'], summary: '咨询（保持来电，呼叫目标）', body: body({ target }, ['target']), response: { 200: okResult, ...errors } } },
      (req) => run(() => control.consult(actorOf(req), toTarget(req.body.target, false) as Exclude<TransferTarget, { kind: 'group' }>, req.body.callUuid)),
    );
    app.post<{ Body: { callUuid?: string } }>('/calls/consult/cancel', { onRequest: anyone, schema: { tags: ['call-control'], summary: '取消咨询', body: body({}), response: { 200: okResult, ...errors } } }, (req) =>
      run(() => control.cancelConsult(actorOf(req), req.body.callUuid)),
    );
    app.post<{ Body: { callUuid?: string; data?: AttachedData } }>(
      '/calls/consult/complete',
      { onRequest: anyone, schema: { tags: ['call-control'], summary: '完成咨询转接', body: body({ data: attached }), response: { 200: okResult, ...errors } } },
      (req) => run(() => control.completeConsult(actorOf(req), req.body.data, req.body.callUuid)),
    );
    app.post<{ Body: { callUuid?: string; target?: { kind: string; agentId?: string; number?: string } } }>(
      '/calls/three-way',
      { onRequest: anyone, schema: { tags: ['call-control'], summary: '三方通话（或把咨询变为三方）', body: body({ target }), response: { 200: okResult, ...errors } } },
      (req) =>
        run(() =>
          control.threeWay(actorOf(req), req.body.target ? (toTarget(req.body.target, false) as Exclude<TransferTarget, { kind: 'group' }>) : undefined, req.body.callUuid),
        ),
    );
    app.post<{ Body: { callUuid?: string } }>('/calls/three-way/leave', { onRequest: anyone, schema: { tags: ['call-control'], summary: '退出三方通话', body: body({}), response: { 200: okResult, ...errors } } }, (req) =>
      run(() => control.leaveThreeWay(actorOf(req), req.body.callUuid)),
    );
    app.post<{ Body: { callUuid: string; phone?: string; mode?: 'listen' | 'whisper' | 'barge' } }>(
      '/calls/monitor',
      {
        onRequest: supervisors,
        schema: {
          tags: ['call-control'],
          summary: '监听（班长）',
          body: body({ phone: { type: 'string', pattern: '^[0-9]{2,20}$' }, mode: { type: 'string', enum: ['listen', 'whisper', 'barge'] } }, ['callUuid']),
          response: { 200: okResult, ...errors },
        },
      },
      (req) => run(() => control.monitor(actorOf(req), req.body.callUuid, { phone: req.body.phone, mode: req.body.mode })),
    );
    app.post<{ Params: { monitorId: string }; Body: { mode: 'listen' | 'whisper' | 'barge' } }>(
      '/monitors/:monitorId/mode',
      {
        onRequest: supervisors,
        schema: {
          tags: ['call-control'],
          summary: '切换监听/耳语/强插',
          params: { type: 'object', properties: { monitorId: { type: 'string', format: 'uuid' } }, required: ['monitorId'] },
          body: { type: 'object', properties: { mode: { type: 'string', enum: ['listen', 'whisper', 'barge'] } }, required: ['mode'], additionalProperties: false },
          response: { 200: okResult, ...errors },
        },
      },
      (req) => run(() => control.setMonitorMode(actorOf(req), req.params.monitorId, req.body.mode)),
    );
    app.delete<{ Params: { monitorId: string } }>(
      '/monitors/:monitorId',
      {
        onRequest: supervisors,
        schema: { tags: ['call-control'], summary: '结束监听', params: { type: 'object', properties: { monitorId: { type: 'string', format: 'uuid' } }, required: ['monitorId'] }, response: { 204: { type: 'null' }, ...errors } },
      },
      async (req, reply) => {
        await run(() => control.stopMonitor(actorOf(req), req.params.monitorId));
        return reply.code(204).send();
      },
    );
    app.post<{ Body: { callUuid?: string } }>('/calls/pickup', { onRequest: anyone, schema: { tags: ['call-control'], summary: '代答', body: body({}), response: { 200: okResult, ...errors } } }, (req) =>
      run(() => control.pickup(actorOf(req), req.body.callUuid)),
    );
    app.post<{ Body: { number: string; data?: AttachedData } }>(
      '/calls/outbound',
      {
        onRequest: anyone,
        schema: {
          tags: ['call-control'],
          summary: '外拨（点击呼叫）',
          body: { type: 'object', properties: { number: { type: 'string', minLength: 3, maxLength: 32 }, data: attached }, required: ['number'], additionalProperties: false },
          response: { 200: okResult, ...errors },
        },
      },
      (req) => run(() => control.clickToCall(actorOf(req), req.body.number, { data: req.body.data }), 'number'),
    );
    app.post<{ Body: { callUuid?: string; reason: string; expiresInDays?: number } }>(
      '/calls/flag-malicious',
      {
        onRequest: anyone,
        schema: {
          tags: ['call-control'],
          summary: '标记恶意来电（提交黑名单申请）',
          body: body({ reason: { type: 'string', minLength: 1, maxLength: 500 }, expiresInDays: { type: 'integer', minimum: 1, maximum: 3650 } }, ['reason']),
          response: { 200: okResult, ...errors },
        },
      },
      (req) => run(() => control.flagMalicious(actorOf(req), req.body.reason, req.body.callUuid, req.body.expiresInDays), 'callUuid'),
    );
  };
