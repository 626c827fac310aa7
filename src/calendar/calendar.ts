// A center's working calendar: weekly hours (several intervals a day), the State Council's holidays and 调休
// make-up working days (via chinese-days), and the center's own date overrides. All day arithmetic is done in
// the center's timezone (Asia/Shanghai), whatever the server's TZ is.
import chineseDays from 'chinese-days';

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export type DayOverrideKind = 'holiday' | 'workday' | 'closed';

export interface DayOverride {
  /** YYYY-MM-DD in the center's timezone */
  date: string;
  kind: DayOverrideKind;
  name?: string;
  /** for a workday: its hours ("08:00-12:00"); default makeUpDayHours */
  hours?: readonly string[];
}

export interface CalendarConfig {
  timezone: string;
  /** "HH:MM-HH:MM" intervals per weekday; a missing or empty day is closed */
  weekly: Partial<Record<Weekday, readonly string[]>>;
  /** apply the official holidays and make-up working days */
  official: boolean;
  /** hours on an official make-up working day (调休上班); default: Monday's hours */
  makeUpDayHours?: readonly string[];
  days: readonly DayOverride[];
}

export type DayKind = 'workday' | 'makeup-workday' | 'weekend' | 'holiday' | 'closed';

export interface DayInfo {
  date: string;
  kind: DayKind;
  name?: string;
  /** working intervals as [start, end) minutes after local midnight */
  intervals: readonly (readonly [number, number])[];
  source: 'override' | 'official' | 'weekly';
}

export type CalendarStatus = 'open' | 'closed' | 'holiday';

export interface OfficialDay {
  kind: 'holiday' | 'makeup-workday';
  name: string;
}
/** Official calendar of one date (YYYY-MM-DD), or undefined for an ordinary day. */
export type OfficialCalendar = (date: string) => OfficialDay | undefined;

/** The State Council calendar as published in the chinese-days package (holidays and 调休 working days). */
export const chineseOfficialCalendar: OfficialCalendar = (date) => {
  const d = chineseDays.getDayDetail(date);
  // festival entries are "English,中文,n"; ordinary days are just the weekday's English name
  const parts = d.name.split(',');
  if (parts.length < 2) return undefined;
  return { kind: d.work ? 'makeup-workday' : 'holiday', name: parts[1]! };
};

const INTERVAL = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$/;

export function parseInterval(s: string): [number, number] {
  const m = INTERVAL.exec(s);
  if (!m) throw new RangeError(`bad interval "${s}" (want HH:MM-HH:MM)`);
  const a = Number(m[1]) * 60 + Number(m[2]);
  const b = Number(m[3]) * 60 + Number(m[4]);
  if (b <= a || b > 24 * 60) throw new RangeError(`interval "${s}" ends before it starts`);
  return [a, b];
}

function parseIntervals(list: readonly string[] | undefined): [number, number][] {
  return (list ?? []).map(parseInterval).sort((x, y) => x[0] - y[0]);
}

const MINUTE = 60_000;
const DAY = 86_400_000;

interface LocalParts {
  date: string;
  weekday: number;
  minutes: number;
  ms: number;
}

export class WorkingCalendar {
  private readonly fmt: Intl.DateTimeFormat;
  private readonly overrides: Map<string, DayOverride>;
  private readonly weekly: [number, number][][];
  private readonly makeUp: [number, number][];
  private readonly dayCache = new Map<string, DayInfo>();

  constructor(
    readonly config: CalendarConfig,
    private readonly official: OfficialCalendar = chineseOfficialCalendar,
  ) {
    this.fmt = new Intl.DateTimeFormat('en-CA', {
      timeZone: config.timezone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
      weekday: 'short',
    });
    this.overrides = new Map(config.days.map((d) => [d.date, d]));
    this.weekly = WEEKDAYS.map((w) => parseIntervals(config.weekly[w]));
    this.makeUp = config.makeUpDayHours ? parseIntervals(config.makeUpDayHours) : this.weekly[1]!;
  }

  /** What kind of day `date` (YYYY-MM-DD, local) is and when the center works on it. */
  day(date: string): DayInfo {
    const hit = this.dayCache.get(date);
    if (hit) return hit;
    const info = this.computeDay(date);
    if (this.dayCache.size > 2000) this.dayCache.clear();
    this.dayCache.set(date, info);
    return info;
  }

  private computeDay(date: string): DayInfo {
    const o = this.overrides.get(date);
    if (o) {
      if (o.kind === 'workday') {
        return { date, kind: 'workday', name: o.name, intervals: o.hours ? parseIntervals(o.hours) : this.makeUp, source: 'override' };
      }
      return { date, kind: o.kind, name: o.name, intervals: [], source: 'override' };
    }
    if (this.config.official) {
      const off = this.official(date);
      if (off?.kind === 'holiday') return { date, kind: 'holiday', name: off.name, intervals: [], source: 'official' };
      if (off?.kind === 'makeup-workday') return { date, kind: 'makeup-workday', name: off.name, intervals: this.makeUp, source: 'official' };
    }
    const wd = new Date(`${date}T00:00:00Z`).getUTCDay();
    const intervals = this.weekly[wd]!;
    return { date, kind: intervals.length > 0 ? 'workday' : 'weekend', intervals, source: 'weekly' };
  }

  status(at: Date): CalendarStatus {
    const p = this.local(at);
    const d = this.day(p.date);
    if (d.kind === 'holiday') return 'holiday';
    return d.intervals.some(([a, b]) => p.minutes >= a && p.minutes < b) ? 'open' : 'closed';
  }

  isOpen(at: Date): boolean {
    return this.status(at) === 'open';
  }

  /** The first instant >= at when the center is open (at itself if open); null if not within `horizonDays`. */
  nextOpening(at: Date, horizonDays = 400): Date | null {
    const p = this.local(at);
    let date = p.date;
    for (let i = 0; i <= horizonDays; i++) {
      for (const [a, b] of this.day(date).intervals) {
        if (i === 0 && p.minutes >= b) continue;
        if (i === 0 && p.minutes >= a) return at;
        return this.instant(date, a);
      }
      date = addDays(date, 1);
    }
    return null;
  }

  /** `from` plus `durationMs` of working time (e.g. a ticket deadline "1 working hour"). */
  addWorkingTime(from: Date, durationMs: number, horizonDays = 800): Date {
    if (durationMs < 0) throw new RangeError('durationMs must be >= 0');
    let remaining = durationMs;
    const p = this.local(from);
    let date = p.date;
    for (let i = 0; i <= horizonDays; i++) {
      for (const [a, b] of this.day(date).intervals) {
        const startMs = i === 0 ? Math.max(a * MINUTE, p.minutes * MINUTE + p.ms) : a * MINUTE;
        const endMs = b * MINUTE;
        if (startMs >= endMs) continue;
        if (remaining <= endMs - startMs) return new Date(this.instant(date, 0).getTime() + startMs + remaining);
        remaining -= endMs - startMs;
      }
      date = addDays(date, 1);
    }
    throw new RangeError(`no working time within ${horizonDays} days`);
  }

  /** Working time between two instants (ms), for SLA reports. */
  workingTimeBetween(from: Date, to: Date): number {
    if (to <= from) return 0;
    let total = 0;
    let date = this.local(from).date;
    const last = this.local(to).date;
    for (let guard = 0; guard < 5000; guard++) {
      const midnight = this.instant(date, 0).getTime();
      for (const [a, b] of this.day(date).intervals) {
        const s = Math.max(midnight + a * MINUTE, from.getTime());
        const e = Math.min(midnight + b * MINUTE, to.getTime());
        if (e > s) total += e - s;
      }
      if (date === last) break;
      date = addDays(date, 1);
    }
    return total;
  }

  /** Local date, weekday and minute-of-day of an instant. */
  local(at: Date): LocalParts {
    const parts: Record<string, string> = {};
    for (const p of this.fmt.formatToParts(at)) parts[p.type] = p.value;
    const minutes = Number(parts.hour) * 60 + Number(parts.minute);
    return {
      date: `${parts.year}-${parts.month}-${parts.day}`,
      weekday: WEEKDAYS.indexOf(parts.weekday!.toLowerCase().slice(0, 3) as Weekday),
      minutes,
      ms: Number(parts.second) * 1000 + at.getUTCMilliseconds(),
    };
  }

  /** The instant of `minutes` after local midnight on `date`. */
  instant(date: string, minutes: number): Date {
    const naive = Date.parse(`${date}T00:00:00Z`) + minutes * MINUTE;
    // the zone's offset at that moment, found by formatting and comparing (twice, for DST edges)
    let guess = naive;
    for (let i = 0; i < 2; i++) {
      const p = this.local(new Date(guess));
      const shown = Date.parse(`${p.date}T00:00:00Z`) + p.minutes * MINUTE + Math.floor(p.ms / 1000) * 1000;
      guess += naive - shown;
    }
    return new Date(guess);
  }
}

export function addDays(date: string, n: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + n * DAY).toISOString().slice(0, 10);
}
