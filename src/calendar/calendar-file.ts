// ivr-flows/calendar/<tenant>.yaml: a center's weekly hours and its own date exceptions for the coming year.
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { parseInterval, WEEKDAYS, type CalendarConfig } from './calendar.js';
import { YamlPositions } from '../ivr/yaml-positions.js';
import { yamlSyntaxIssues, type FlowIssue } from '../ivr/validate.js';

const interval = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$/, '时间段格式应为 HH:MM-HH:MM')
  .refine((s) => {
    try {
      parseInterval(s);
      return true;
    } catch {
      return false;
    }
  }, '时间段的结束必须晚于开始')
  .describe('a working interval, e.g. 08:00-12:00');

export const intervalsSchema = z.array(interval);

const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, '日期格式应为 YYYY-MM-DD');

export const dayOverrideSchema = z.strictObject({
  date: isoDate,
  kind: z.enum(['holiday', 'workday', 'closed']).describe('holiday 放假 / workday 上班（调休或加班）/ closed 本中心停止服务'),
  name: z.string().optional(),
  hours: intervalsSchema.optional().describe('hours on a workday; default makeUpDayHours'),
});

export const weeklySchema = z.strictObject(Object.fromEntries(WEEKDAYS.map((d) => [d, intervalsSchema.optional()])) as Record<(typeof WEEKDAYS)[number], z.ZodOptional<typeof intervalsSchema>>);

export const calendarFileSchema = z.strictObject({
  timezone: z.string().default('Asia/Shanghai'),
  official: z.boolean().default(true).describe('apply the State Council holidays and 调休 working days'),
  weekly: weeklySchema,
  makeUpDayHours: intervalsSchema.optional(),
  days: z.array(dayOverrideSchema).default([]),
});
export type CalendarFile = z.infer<typeof calendarFileSchema>;

export function calendarJsonSchema(): Record<string, unknown> {
  const s = z.toJSONSchema(calendarFileSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return { ...s, $id: 'https://hotline-cti.local/ivr-flows/calendar.schema.json', title: 'Working calendar (hotline-cti)' };
}

export function toCalendarConfig(f: CalendarFile): CalendarConfig {
  return { timezone: f.timezone, weekly: f.weekly, official: f.official, makeUpDayHours: f.makeUpDayHours, days: f.days };
}

export function parseCalendarSource(file: string, source: string): { config?: CalendarConfig; issues: FlowIssue[] } {
  const issues: FlowIssue[] = [];
  const lines = new LineCounter();
  const doc = parseDocument(source, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return { issues: yamlSyntaxIssues(file, doc, lines) };
  }
  const pos = new YamlPositions(doc, lines);
  const parsed = calendarFileSchema.safeParse(doc.toJS(), { error: z.locales.zhCN().localeError });
  if (!parsed.success) {
    for (const i of parsed.error.issues) {
      const p = i.path as (string | number)[];
      const at = pos.of(p);
      issues.push({ file, line: at.line, column: at.column, code: 'schema', message: `${p.join('.') || '(文件)'}: ${i.message}` });
    }
    return { issues };
  }
  try {
    new Intl.DateTimeFormat('en', { timeZone: parsed.data.timezone });
  } catch {
    const at = pos.of(['timezone']);
    issues.push({ file, line: at.line, column: at.column, code: 'schema', message: `未知时区 ${parsed.data.timezone}` });
    return { issues };
  }
  return { config: toCalendarConfig(parsed.data), issues };
}

export function checkCalendarFile(file: string, source: string): FlowIssue[] {
  return parseCalendarSource(file, source).issues;
}
