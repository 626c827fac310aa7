// HTTP: search recordings, details with pause/resume marks, playback/download with Range (so a browser can seek),
// and pause/resume of a live recording. Agents see only their own calls; supervisors and admins every call of their
// center; another center's recording is a 404 like one that does not exist.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { AppContext } from '../app-context.js';
import { requireRole, currentUser } from '../auth/guard.js';
import type { AuthUser } from '../auth/sessions.js';
import { writeAudit } from '../auth/audit.js';
import { HttpError, errorBodySchema } from '../http/errors.js';
import { recordingAudit, RECORDING_STATUSES, type Recording, type RecordingAuditAction } from '../db/schema/recording.js';
import { getRecording, listMarks, searchRecordings, toPublicRecording } from './store.js';
import { resolveInside } from './paths.js';
import { RecordingError, type RecordingService } from './recording-service.js';

export interface RecordingRoutesDeps {
  /** needed for pause/resume (ESL); without it those routes answer 503 */
  service?: RecordingService;
  /** one shared audit_log entry per user, recording and action within this window (default 10 min); recording_audit gets every request */
  auditDedupSeconds?: number;
}

const errors = { 400: errorBodySchema, 401: errorBodySchema, 403: errorBodySchema, 404: errorBodySchema, 409: errorBodySchema };
const idParams = { type: 'object', properties: { id: { type: 'string', format: 'uuid' } }, required: ['id'], additionalProperties: false } as const;

const recordingSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    callUuid: { type: 'string' },
    legUuid: { type: 'string' },
    agentId: { type: ['string', 'null'] },
    groupId: { type: ['string', 'null'] },
    direction: { type: 'string' },
    callerNumber: { type: ['string', 'null'] },
    calleeNumber: { type: ['string', 'null'] },
    startedAt: { type: 'string' },
    endedAt: { type: ['string', 'null'] },
    durationMs: { type: ['integer', 'null'] },
    sizeBytes: { type: ['integer', 'null'] },
    compressedSizeBytes: { type: ['integer', 'null'] },
    format: { type: 'string' },
    status: { type: 'string' },
    channels: { type: 'integer' },
  },
} as const;

interface SearchQuery {
  from?: string;
  to?: string;
  number?: string;
  caller?: string;
  callee?: string;
  agentId?: string;
  groupId?: string;
  callUuid?: string;
  minDurationMs?: number;
  maxDurationMs?: number;
  status?: (typeof RECORDING_STATUSES)[number];
  page?: number;
  pageSize?: number;
}

const phone = { type: 'string', minLength: 1, maxLength: 32 } as const;

const notFound = () => new HttpError(404, 'recording_not_found', '录音不存在');

/** The row if this user may hear it: another center's → 404 (no existence leak), a colleague's for an agent → 403. */
async function accessible(ctx: AppContext, user: AuthUser, id: string): Promise<Recording> {
  const row = await getRecording(ctx.db, user.tenantId, id);
  if (!row) throw notFound();
  if (user.role === 'agent' && row.agentId !== user.userId) throw new HttpError(403, 'recording_forbidden', '只能回放本人接听的通话录音');
  return row;
}

/** A single `bytes=` range against `size`: null = serve everything, 'unsatisfiable' = 416. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | null | 'unsatisfiable' {
  if (!header) return null;
  const m = /^\s*bytes\s*=\s*(.*)$/i.exec(header);
  if (!m) return null; // another unit: ignore the header (RFC 9110 §14.2)
  const spec = m[1]!.trim();
  if (spec.includes(',')) return null; // several ranges: answer with the whole file rather than multipart
  const r = /^(\d*)\s*-\s*(\d*)$/.exec(spec);
  if (!r || (r[1] === '' && r[2] === '')) return 'unsatisfiable';
  if (r[1] === '') {
    const suffix = Number(r[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(r[1]);
  const end = r[2] === '' ? size - 1 : Math.min(Number(r[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

export const recordingRoutes =
  (ctx: AppContext, deps: RecordingRoutesDeps = {}): FastifyPluginAsync =>
  async (app) => {
    const { db } = ctx;
    const listeners = requireRole('agent', 'supervisor', 'admin');
    const dedupSeconds = deps.auditDedupSeconds ?? 600;

    async function audit(request: FastifyRequest, user: AuthUser, row: Recording, action: RecordingAuditAction): Promise<void> {
      const range = typeof request.headers.range === 'string' ? request.headers.range.slice(0, 100) : null;
      try {
        await db.insert(recordingAudit).values({
          tenantId: user.tenantId,
          recordingId: row.id,
          userId: user.userId,
          action,
          range,
          ip: request.ip,
          userAgent: request.headers['user-agent']?.slice(0, 512) ?? null,
        });
      } catch (err) {
        request.log.error({ err, recording: row.id }, 'recording audit write failed');
      }
      // a browser seeking sends many range requests per playback: one shared audit entry per window is enough
      const key = `${ctx.redisPrefix}:recording:audited:${user.userId}:${row.id}:${action}`;
      const first = await ctx.redis.set(key, '1', 'EX', dedupSeconds, 'NX').catch(() => 'OK');
      if (first === 'OK') {
        await writeAudit(db, { tenantId: user.tenantId, userId: user.userId, action: `recording.${action}`, target: row.id, details: { call: row.callUuid, range } }, ctx.log);
      }
    }

    app.get<{ Querystring: SearchQuery }>(
      '/recordings',
      {
        onRequest: listeners,
        schema: {
          tags: ['recording'],
          summary: 'Search recordings (agents: their own calls only)',
          querystring: {
            type: 'object',
            properties: {
              from: { type: 'string', format: 'date-time' },
              to: { type: 'string', format: 'date-time' },
              number: phone,
              caller: phone,
              callee: phone,
              agentId: { type: 'string', format: 'uuid' },
              groupId: { type: 'string', format: 'uuid' },
              callUuid: { type: 'string', minLength: 1, maxLength: 64 },
              minDurationMs: { type: 'integer', minimum: 0 },
              maxDurationMs: { type: 'integer', minimum: 0 },
              status: { type: 'string', enum: [...RECORDING_STATUSES] },
              page: { type: 'integer', minimum: 1, default: 1 },
              pageSize: { type: 'integer', minimum: 1, maximum: 200, default: 20 },
            },
            additionalProperties: false,
          },
          response: {
            200: {
              type: 'object',
              properties: { items: { type: 'array', items: recordingSchema }, total: { type: 'integer' }, page: { type: 'integer' }, pageSize: { type: 'integer' } },
            },
            ...errors,
          },
        },
      },
      async (request) => {
        const user = currentUser(request);
        const q = request.query;
        if (q.minDurationMs !== undefined && q.maxDurationMs !== undefined && q.minDurationMs > q.maxDurationMs) {
          throw new HttpError(400, 'bad_request', '最短时长不能大于最长时长', 'minDurationMs');
        }
        return searchRecordings(db, user.tenantId, {
          ...q,
          from: q.from ? new Date(q.from) : undefined,
          to: q.to ? new Date(q.to) : undefined,
          // an agent's search is always limited to their own calls
          agentId: user.role === 'agent' ? user.userId : q.agentId,
        });
      },
    );

    app.get<{ Params: { id: string } }>(
      '/recordings/:id',
      {
        onRequest: listeners,
        schema: {
          tags: ['recording'],
          summary: 'One recording with its pause/resume marks',
          params: idParams,
          response: {
            200: {
              type: 'object',
              properties: {
                ...recordingSchema.properties,
                marks: {
                  type: 'array',
                  items: {
                    type: 'object',
                    properties: { kind: { type: 'string' }, at: { type: 'string' }, offsetMs: { type: 'integer' }, userId: { type: ['string', 'null'] }, reason: { type: ['string', 'null'] } },
                  },
                },
              },
            },
            ...errors,
          },
        },
      },
      async (request) => {
        const user = currentUser(request);
        const row = await accessible(ctx, user, request.params.id);
        const marks = await listMarks(db, user.tenantId, row.id);
        return { ...toPublicRecording(row), marks: marks.map((m) => ({ ...m, at: m.at.toISOString() })) };
      },
    );

    app.get<{ Params: { id: string }; Querystring: { download?: '0' | '1' | 'true' | 'false' } }>(
      '/recordings/:id/audio',
      {
        onRequest: listeners,
        schema: {
          tags: ['recording'],
          summary: 'Play (Range requests: 206) or download (?download=1) a recording; every access is audited',
          params: idParams,
          querystring: { type: 'object', properties: { download: { type: 'string', enum: ['0', '1', 'true', 'false'] } }, additionalProperties: false },
          response: { ...errors, 416: errorBodySchema },
        },
      },
      async (request, reply) => {
        const user = currentUser(request);
        let row = await accessible(ctx, user, request.params.id);
        if (row.status === 'recording') throw new HttpError(409, 'recording_in_progress', '录音尚未结束，请稍后再试');
        if (row.status === 'failed') throw new HttpError(404, 'recording_file_missing', '录音文件不存在');
        const fileOf = (r: Recording) => (r.status === 'compressed' && r.compressedPath ? r.compressedPath : r.wavPath);
        let file = resolveInside(ctx.env.RECORDINGS_DIR, fileOf(row));
        let info = await stat(file).catch(() => null);
        if (!info) {
          // compression may have replaced the WAV between reading the row and opening the file
          row = (await getRecording(db, user.tenantId, row.id)) ?? row;
          file = resolveInside(ctx.env.RECORDINGS_DIR, fileOf(row));
          info = await stat(file).catch(() => null);
        }
        if (!info || !info.isFile()) throw new HttpError(404, 'recording_file_missing', '录音文件不存在');
        const size = info.size;
        const download = request.query.download === '1' || request.query.download === 'true';
        const range = parseRange(request.headers.range, size);
        if (range === 'unsatisfiable') {
          throw new HttpError(416, 'range_not_satisfiable', '请求的播放位置超出录音范围', undefined, { 'content-range': `bytes */${size}`, 'accept-ranges': 'bytes' });
        }
        if (request.method !== 'HEAD') await audit(request, user, row, download ? 'download' : 'play');

        const compressed = row.status === 'compressed';
        const extension = compressed ? 'opus' : 'wav';
        reply.header('accept-ranges', 'bytes');
        reply.header('content-type', compressed ? 'audio/ogg; codecs=opus' : 'audio/wav');
        // recordings are personal data: never in a shared cache
        reply.header('cache-control', 'private, no-store');
        reply.header('last-modified', info.mtime.toUTCString());
        const name = `recording-${row.startedAt.toISOString().slice(0, 19).replace(/[-:T]/g, '')}-${row.id}.${extension}`;
        reply.header('content-disposition', `${download ? 'attachment' : 'inline'}; filename="${name}"`);
        if (range) {
          reply.code(206);
          reply.header('content-range', `bytes ${range.start}-${range.end}/${size}`);
          reply.header('content-length', String(range.end - range.start + 1));
          return reply.send(createReadStream(file, { start: range.start, end: range.end }));
        }
        reply.header('content-length', String(size));
        return reply.send(createReadStream(file));
      },
    );

    const markRoute = (kind: 'pause' | 'resume') =>
      app.post<{ Params: { id: string }; Body: { reason?: string } }>(
        `/recordings/:id/${kind}`,
        {
          onRequest: listeners,
          schema: {
            tags: ['recording'],
            summary: kind === 'pause' ? 'Mask a live recording (e.g. while a card number is given); logged' : 'Resume a masked recording; logged',
            params: idParams,
            body: { type: 'object', properties: { reason: { type: 'string', maxLength: 200 } }, additionalProperties: false },
            response: { 200: { type: 'object', properties: { ok: { type: 'boolean' } } }, ...errors, 502: errorBodySchema, 503: errorBodySchema },
          },
        },
        async (request) => {
          const user = currentUser(request);
          const row = await accessible(ctx, user, request.params.id);
          if (!deps.service) throw new HttpError(503, 'recording_unavailable', '录音服务不可用');
          try {
            await deps.service[kind](row.id, user.tenantId, { userId: user.userId, reason: request.body?.reason ?? null });
          } catch (err) {
            if (err instanceof RecordingError) throw new HttpError(err.httpStatus, err.code, err.message);
            throw err;
          }
          return { ok: true };
        },
      );
    markRoute('pause');
    markRoute('resume');
  };
