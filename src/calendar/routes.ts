// Admin API for the working calendar: weekly hours, date overrides (holidays, 调休 working days, closures), and a
// read-only status/day view. Admins edit; supervisors read. Edits are saved in PostgreSQL and apply at once.
import type { FastifyPluginAsync } from 'fastify';
import { requireRole, currentUser } from '../auth/guard.js';
import { writeAudit } from '../auth/audit.js';
import { HttpError, errorBodySchema } from '../http/errors.js';
import type { AppContext } from '../app-context.js';
import { addDays, parseInterval, WEEKDAYS, type DayOverrideKind } from './calendar.js';
import type { CalendarService } from './service.js';

const interval = { type: 'string', pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-4]):[0-5][0-9]$' } as const;
const intervals = { type: 'array', items: interval, maxItems: 8 } as const;
// format: 'date' also refuses days that do not exist (2024-02-30), which PostgreSQL would reject with a 500
const isoDate = { type: 'string', pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$', format: 'date' } as const;
const errors = { 400: errorBodySchema, 401: errorBodySchema, 403: errorBodySchema, 404: errorBodySchema };
const dateParams = { type: 'object', properties: { date: isoDate }, required: ['date'], additionalProperties: false } as const;
const weeklySchema = { type: 'object', properties: Object.fromEntries(WEEKDAYS.map((d) => [d, intervals])), additionalProperties: false } as const;

function checkIntervals(list: readonly string[] | undefined | null, field: string): void {
  for (const s of list ?? []) {
    try {
      parseInterval(s);
    } catch {
      throw new HttpError(400, 'bad_request', `时间段 ${s} 无效：结束必须晚于开始`, field);
    }
  }
}

export function calendarAdminRoutes(ctx: Pick<AppContext, 'db' | 'log'>, calendars: CalendarService): FastifyPluginAsync {
  return async (app) => {
    app.get(
      '/admin/calendar',
      {
        onRequest: requireRole('admin', 'supervisor'),
        schema: {
          tags: ['calendar'],
          summary: "The center's effective working calendar: file (ivr-flows/calendar/<tenant>.yaml) plus saved edits",
          querystring: { type: 'object', additionalProperties: false },
          response: {
            200: {
              type: 'object',
              properties: {
                timezone: { type: 'string' },
                official: { type: 'boolean' },
                weekly: weeklySchema,
                makeUpDayHours: { type: 'array', items: { type: 'string' } },
                days: {
                  type: 'array',
                  items: { type: 'object', properties: { date: { type: 'string' }, kind: { type: 'string' }, name: { type: 'string' }, hours: { type: 'array', items: { type: 'string' } } } },
                },
              },
            },
            ...errors,
          },
        },
      },
      async (request) => calendars.effectiveConfig(currentUser(request).tenantId),
    );

    app.put<{ Body: { timezone?: string; weekly: Record<string, string[]>; official?: boolean; makeUpDayHours?: string[] } }>(
      '/admin/calendar/weekly',
      {
        onRequest: requireRole('admin'),
        schema: {
          tags: ['calendar'],
          summary: 'Set the weekly hours (several intervals a day), the timezone and whether the official holidays apply',
          body: {
            type: 'object',
            properties: { timezone: { type: 'string', minLength: 1 }, weekly: weeklySchema, official: { type: 'boolean' }, makeUpDayHours: intervals },
            required: ['weekly'],
            additionalProperties: false,
          },
          response: { 204: { type: 'null' }, ...errors },
        },
      },
      async (request, reply) => {
        const user = currentUser(request);
        const b = request.body;
        for (const [d, list] of Object.entries(b.weekly)) checkIntervals(list, `weekly.${d}`);
        checkIntervals(b.makeUpDayHours, 'makeUpDayHours');
        const timezone = b.timezone ?? 'Asia/Shanghai';
        try {
          new Intl.DateTimeFormat('en', { timeZone: timezone });
        } catch {
          throw new HttpError(400, 'bad_request', `未知时区 ${timezone}`, 'timezone');
        }
        await calendars.setWeekly(user.tenantId, { timezone, weekly: b.weekly, official: b.official ?? true, makeUpDayHours: b.makeUpDayHours ?? null }, user.userId);
        await writeAudit(ctx.db, { tenantId: user.tenantId, userId: user.userId, action: 'calendar.weekly', details: { ...b } }, ctx.log);
        reply.code(204);
      },
    );

    app.get<{ Querystring: { from: string; to: string } }>(
      '/admin/calendar/days',
      {
        onRequest: requireRole('admin', 'supervisor'),
        schema: {
          tags: ['calendar'],
          summary: 'Each day of a range (≤ 400 days): kind (workday, makeup-workday, weekend, holiday, closed), name, hours',
          querystring: { type: 'object', properties: { from: isoDate, to: isoDate }, required: ['from', 'to'], additionalProperties: false },
          response: {
            200: {
              type: 'object',
              properties: {
                days: {
                  type: 'array',
                  items: {
                    type: 'object',
                    properties: { date: { type: 'string' }, kind: { type: 'string' }, name: { type: 'string' }, source: { type: 'string' }, hours: { type: 'array', items: { type: 'string' } } },
                  },
                },
              },
            },
            ...errors,
          },
        },
      },
      async (request) => {
        const { from, to } = request.query;
        if (to < from) throw new HttpError(400, 'bad_request', 'to 不能早于 from', 'to');
        const cal = calendars.get(currentUser(request).tenantId);
        const days = [];
        for (let d = from, i = 0; d <= to; d = addDays(d, 1), i++) {
          if (i >= 400) throw new HttpError(400, 'bad_request', '一次最多查询 400 天', 'to');
          const info = cal.day(d);
          days.push({ date: d, kind: info.kind, name: info.name, source: info.source, hours: info.intervals.map(([a, b]) => `${hhmm(a)}-${hhmm(b)}`) });
        }
        return { days };
      },
    );

    app.put<{ Params: { date: string }; Body: { kind: DayOverrideKind; name?: string; hours?: string[] } }>(
      '/admin/calendar/days/:date',
      {
        onRequest: requireRole('admin'),
        schema: {
          tags: ['calendar'],
          summary: 'Set a date override: holiday (放假), workday (上班, with hours) or closed (本中心停止服务)',
          params: dateParams,
          body: {
            type: 'object',
            properties: { kind: { type: 'string', enum: ['holiday', 'workday', 'closed'] }, name: { type: 'string', maxLength: 50 }, hours: intervals },
            required: ['kind'],
            additionalProperties: false,
          },
          response: { 204: { type: 'null' }, ...errors },
        },
      },
      async (request, reply) => {
        const user = currentUser(request);
        const { date } = request.params;
        if (Number.isNaN(Date.parse(`${date}T00:00:00Z`))) throw new HttpError(400, 'bad_request', `日期 ${date} 无效`, 'date');
        checkIntervals(request.body.hours, 'hours');
        await calendars.setDay(user.tenantId, { date, ...request.body }, user.userId);
        await writeAudit(ctx.db, { tenantId: user.tenantId, userId: user.userId, action: 'calendar.day.set', target: date, details: { ...request.body } }, ctx.log);
        reply.code(204);
      },
    );

    app.delete<{ Params: { date: string } }>(
      '/admin/calendar/days/:date',
      {
        onRequest: requireRole('admin'),
        schema: { tags: ['calendar'], summary: 'Remove a saved date override', params: dateParams, response: { 204: { type: 'null' }, ...errors } },
      },
      async (request, reply) => {
        const user = currentUser(request);
        if (!(await calendars.deleteDay(user.tenantId, request.params.date))) throw new HttpError(404, 'not_found', '该日期没有自定义设置');
        await writeAudit(ctx.db, { tenantId: user.tenantId, userId: user.userId, action: 'calendar.day.delete', target: request.params.date }, ctx.log);
        reply.code(204);
      },
    );

    app.get<{ Querystring: { at?: string } }>(
      '/calendar/status',
      {
        onRequest: requireRole(),
        schema: {
          tags: ['calendar'],
          summary: 'Is the center open at `at` (default now), and when does it open next',
          querystring: { type: 'object', properties: { at: { type: 'string', format: 'date-time' } }, additionalProperties: false },
          response: {
            200: { type: 'object', properties: { status: { type: 'string' }, open: { type: 'boolean' }, nextOpening: { type: ['string', 'null'] } } },
            ...errors,
          },
        },
      },
      async (request) => {
        const at = request.query.at ? new Date(request.query.at) : new Date();
        const cal = calendars.get(currentUser(request).tenantId);
        const status = cal.status(at);
        return { status, open: status === 'open', nextOpening: cal.nextOpening(at)?.toISOString() ?? null };
      },
    );
  };
}

function hhmm(min: number): string {
  return `${String(Math.floor(min / 60)).padStart(2, '0')}:${String(min % 60).padStart(2, '0')}`;
}
