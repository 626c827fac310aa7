// CalendarService: each center's WorkingCalendar, built from ivr-flows/calendar/<tenant>.yaml with the admin's
// edits (PostgreSQL) on top, cached per node so an `hours` node costs no I/O. An edit on any node reloads the
// tenant here and, through Redis pub/sub, on every other node.
import fs from 'node:fs';
import path from 'node:path';
import { and, asc, eq, gte, lte } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import type { Db } from '../db/client.js';
import { calendarOverrides, calendarSettings } from '../db/schema/ivr.js';
import { WorkingCalendar, chineseOfficialCalendar, type CalendarConfig, type CalendarStatus, type DayOverride, type OfficialCalendar, type Weekday } from './calendar.js';
import { parseCalendarSource } from './calendar-file.js';

const WORKDAY = ['08:30-12:00', '13:30-17:30'];
/** used for a tenant without a calendar file or saved settings */
export const DEFAULT_CALENDAR: CalendarConfig = {
  timezone: 'Asia/Shanghai',
  official: true,
  weekly: { mon: WORKDAY, tue: WORKDAY, wed: WORKDAY, thu: WORKDAY, fri: WORKDAY, sat: [], sun: [] },
  days: [],
};

export interface CalendarServiceOptions {
  db: Db;
  /** ivr-flows/calendar */
  calendarDir: string;
  log?: Logger;
  official?: OfficialCalendar;
  /** publisher (the app's command connection); without it edits apply on this node only */
  redis?: Redis;
  /** a dedicated subscriber connection; default redis.duplicate() */
  subscriber?: Redis;
  redisPrefix?: string;
}

export interface WeeklySettings {
  timezone: string;
  weekly: Partial<Record<Weekday, string[]>>;
  official: boolean;
  makeUpDayHours?: string[] | null;
}

export class CalendarService {
  private readonly cals = new Map<string, WorkingCalendar>();
  private readonly channel: string;
  private subscriber?: Redis;
  private ownSubscriber = false;

  constructor(private readonly opts: CalendarServiceOptions) {
    this.channel = `${opts.redisPrefix ?? 'hotline'}:calendar:changed`;
  }

  /** Load every tenant that has a file or saved settings; subscribe to other nodes' edits. */
  async start(): Promise<void> {
    const tenants = new Set<string>();
    if (fs.existsSync(this.opts.calendarDir)) {
      for (const f of fs.readdirSync(this.opts.calendarDir)) {
        const m = /^([a-z0-9][a-z0-9_-]*)\.ya?ml$/.exec(f);
        if (m) tenants.add(m[1]!);
      }
    }
    for (const r of await this.opts.db.select({ t: calendarSettings.tenantId }).from(calendarSettings)) tenants.add(r.t);
    for (const r of await this.opts.db.selectDistinct({ t: calendarOverrides.tenantId }).from(calendarOverrides)) tenants.add(r.t);
    const sub = this.opts.subscriber ?? this.opts.redis?.duplicate();
    if (sub) {
      this.subscriber = sub;
      this.ownSubscriber = this.opts.subscriber === undefined;
      sub.on('message', (ch: string, tenantId: string) => {
        if (ch !== this.channel) return;
        this.reload(tenantId).catch((err) => this.opts.log?.error({ err, tenantId }, 'calendar reload failed'));
      });
      await sub.subscribe(this.channel);
    }
    await Promise.all([...tenants].map((t) => this.reload(t)));
  }

  async stop(): Promise<void> {
    if (!this.subscriber) return;
    await this.subscriber.unsubscribe(this.channel).catch(() => {});
    if (this.ownSubscriber) this.subscriber.disconnect();
    this.subscriber = undefined;
  }

  /** The tenant's calendar from the cache (the file or defaults until start()/reload() ran). */
  get(tenantId: string): WorkingCalendar {
    let c = this.cals.get(tenantId);
    if (!c) {
      c = new WorkingCalendar(this.fileConfig(tenantId) ?? DEFAULT_CALENDAR, this.opts.official ?? chineseOfficialCalendar);
      this.cals.set(tenantId, c);
    }
    return c;
  }

  /** For the flow engine's `hours` node. */
  status = (tenantId: string, at: Date): CalendarStatus => this.get(tenantId).status(at);

  private fileConfig(tenantId: string): CalendarConfig | undefined {
    for (const ext of ['yaml', 'yml']) {
      const file = path.join(this.opts.calendarDir, `${tenantId}.${ext}`);
      if (!fs.existsSync(file)) continue;
      const { config, issues } = parseCalendarSource(`calendar/${tenantId}.${ext}`, fs.readFileSync(file, 'utf8'));
      if (issues.length > 0) this.opts.log?.error({ tenantId, issues }, 'calendar file has errors; using defaults');
      return config;
    }
    return undefined;
  }

  /** file < saved weekly settings < saved day overrides */
  async effectiveConfig(tenantId: string): Promise<CalendarConfig> {
    const base = this.fileConfig(tenantId) ?? DEFAULT_CALENDAR;
    const [settings] = await this.opts.db.select().from(calendarSettings).where(eq(calendarSettings.tenantId, tenantId));
    const rows = await this.opts.db.select().from(calendarOverrides).where(eq(calendarOverrides.tenantId, tenantId)).orderBy(asc(calendarOverrides.day));
    const days = new Map<string, DayOverride>(base.days.map((d) => [d.date, d]));
    for (const r of rows) days.set(r.day, { date: r.day, kind: r.kind, name: r.name ?? undefined, hours: r.hours ?? undefined });
    return {
      timezone: settings?.timezone ?? base.timezone,
      weekly: settings ? (settings.weekly as CalendarConfig['weekly']) : base.weekly,
      official: settings?.official ?? base.official,
      makeUpDayHours: settings ? (settings.makeUpDayHours ?? undefined) : base.makeUpDayHours,
      days: [...days.values()].sort((a, b) => a.date.localeCompare(b.date)),
    };
  }

  async reload(tenantId: string): Promise<WorkingCalendar> {
    const cal = new WorkingCalendar(await this.effectiveConfig(tenantId), this.opts.official ?? chineseOfficialCalendar);
    this.cals.set(tenantId, cal);
    return cal;
  }

  private async changed(tenantId: string): Promise<void> {
    await this.reload(tenantId);
    await this.opts.redis?.publish(this.channel, tenantId);
  }

  async setWeekly(tenantId: string, s: WeeklySettings, by: string): Promise<void> {
    const row = { tenantId, timezone: s.timezone, weekly: s.weekly as Record<string, string[]>, official: s.official, makeUpDayHours: s.makeUpDayHours ?? null, updatedBy: by, updatedAt: new Date() };
    await this.opts.db.insert(calendarSettings).values(row).onConflictDoUpdate({ target: calendarSettings.tenantId, set: row });
    await this.changed(tenantId);
  }

  async setDay(tenantId: string, d: DayOverride, by: string): Promise<void> {
    const row = { tenantId, day: d.date, kind: d.kind, name: d.name ?? null, hours: d.hours ? [...d.hours] : null, updatedBy: by, updatedAt: new Date() };
    await this.opts.db
      .insert(calendarOverrides)
      .values(row)
      .onConflictDoUpdate({ target: [calendarOverrides.tenantId, calendarOverrides.day], set: row });
    await this.changed(tenantId);
  }

  async deleteDay(tenantId: string, date: string): Promise<boolean> {
    const deleted = await this.opts.db
      .delete(calendarOverrides)
      .where(and(eq(calendarOverrides.tenantId, tenantId), eq(calendarOverrides.day, date)))
      .returning({ day: calendarOverrides.day });
    await this.changed(tenantId);
    return deleted.length > 0;
  }

  /** Saved day overrides in a range (what the admin edited; the file's days are in effectiveConfig). */
  async savedDays(tenantId: string, from: string, to: string) {
    return this.opts.db
      .select()
      .from(calendarOverrides)
      .where(and(eq(calendarOverrides.tenantId, tenantId), gte(calendarOverrides.day, from), lte(calendarOverrides.day, to)))
      .orderBy(asc(calendarOverrides.day));
  }
}
