// The working calendar in Asia/Shanghai: weekly hours with a lunch break, the 2026 National Day holiday week, its
// 调休 make-up working days (Sunday 2026-09-20 and Saturday 2026-10-10), center overrides and addWorkingTime.
import fs from 'node:fs';
import path from 'node:path';
import { describe, it, expect } from 'vitest';
import { WorkingCalendar, type CalendarConfig } from '../../src/calendar/calendar.js';
import { parseCalendarSource } from '../../src/calendar/calendar-file.js';

const weekday = ['08:00-12:00', '13:00-18:00'];
const config: CalendarConfig = {
  timezone: 'Asia/Shanghai',
  weekly: { mon: weekday, tue: weekday, wed: weekday, thu: weekday, fri: weekday, sat: [], sun: [] },
  official: true,
  days: [],
};
const cal = new WorkingCalendar(config);
/** a Beijing wall-clock time */
const bj = (s: string) => new Date(`${s}+08:00`);

describe('WorkingCalendar', () => {
  it('weekly hours with a lunch break', () => {
    expect(cal.status(bj('2026-11-23T07:59:59'))).toBe('closed'); // Monday
    expect(cal.status(bj('2026-11-23T08:00:00'))).toBe('open');
    expect(cal.status(bj('2026-11-23T12:00:00'))).toBe('closed');
    expect(cal.status(bj('2026-11-23T13:30:00'))).toBe('open');
    expect(cal.status(bj('2026-11-23T18:00:00'))).toBe('closed');
    expect(cal.status(bj('2026-11-21T10:00:00'))).toBe('closed'); // ordinary Saturday
    expect(cal.day('2026-11-21').kind).toBe('weekend');
  });

  it('is independent of the server timezone (UTC instants)', () => {
    // 2026-11-23T02:00Z is 10:00 in Beijing
    expect(cal.isOpen(new Date('2026-11-23T02:00:00Z'))).toBe(true);
    expect(cal.isOpen(new Date('2026-11-23T11:00:00Z'))).toBe(false); // 19:00 Beijing
  });

  it('2026 National Day week is a holiday, even on weekdays', () => {
    for (const d of ['2026-10-01', '2026-10-02', '2026-10-05', '2026-10-06', '2026-10-07']) {
      expect(cal.status(bj(`${d}T10:00:00`)), d).toBe('holiday');
      expect(cal.day(d)).toMatchObject({ kind: 'holiday', name: '国庆节', source: 'official' });
    }
    expect(cal.status(bj('2026-10-08T10:00:00'))).toBe('open'); // back to work on Thursday
  });

  it('make-up working Saturday 2026-10-10 and Sunday 2026-09-20 (调休) are open', () => {
    expect(cal.day('2026-10-10')).toMatchObject({ kind: 'makeup-workday', name: '国庆节' });
    expect(cal.status(bj('2026-10-10T09:00:00'))).toBe('open');
    expect(cal.status(bj('2026-10-10T12:30:00'))).toBe('closed');
    expect(cal.status(bj('2026-09-20T15:00:00'))).toBe('open');
    // the ordinary Saturday before is closed
    expect(cal.status(bj('2026-10-17T09:00:00'))).toBe('closed');
  });

  it('without the official calendar the holiday is an ordinary weekday', () => {
    const plain = new WorkingCalendar({ ...config, official: false });
    expect(plain.status(bj('2026-10-05T10:00:00'))).toBe('open');
    expect(plain.status(bj('2026-10-10T10:00:00'))).toBe('closed');
  });

  it('center overrides beat the official calendar and weekly hours', () => {
    const c = new WorkingCalendar({
      ...config,
      days: [
        { date: '2026-10-03', kind: 'workday', name: '国庆值班', hours: ['09:00-17:00'] },
        { date: '2026-11-24', kind: 'closed', name: '系统割接' },
        { date: '2026-11-25', kind: 'holiday', name: '本地节日' },
      ],
    });
    expect(c.status(bj('2026-10-03T10:00:00'))).toBe('open');
    expect(c.status(bj('2026-10-03T08:30:00'))).toBe('closed');
    expect(c.status(bj('2026-11-24T10:00:00'))).toBe('closed');
    expect(c.status(bj('2026-11-25T10:00:00'))).toBe('holiday');
  });

  it('nextOpening skips the lunch break, weekends and the holiday week', () => {
    expect(cal.nextOpening(bj('2026-11-23T10:00:00'))).toEqual(bj('2026-11-23T10:00:00'));
    expect(cal.nextOpening(bj('2026-11-23T12:10:00'))).toEqual(bj('2026-11-23T13:00:00'));
    expect(cal.nextOpening(bj('2026-11-20T19:00:00'))).toEqual(bj('2026-11-23T08:00:00')); // Friday evening → Monday
    expect(cal.nextOpening(bj('2026-09-30T18:30:00'))).toEqual(bj('2026-10-08T08:00:00'));
    expect(cal.nextOpening(bj('2026-10-09T20:00:00'))).toEqual(bj('2026-10-10T08:00:00')); // make-up Saturday
  });

  it('addWorkingTime counts only working time', () => {
    const h = 3_600_000;
    expect(cal.addWorkingTime(bj('2026-11-23T09:00:00'), 1 * h)).toEqual(bj('2026-11-23T10:00:00'));
    expect(cal.addWorkingTime(bj('2026-11-23T11:30:00'), 1 * h)).toEqual(bj('2026-11-23T13:30:00')); // over lunch
    expect(cal.addWorkingTime(bj('2026-11-20T17:30:00'), 1 * h)).toEqual(bj('2026-11-23T08:30:00')); // over the weekend
    expect(cal.addWorkingTime(bj('2026-11-21T10:00:00'), 2 * h)).toEqual(bj('2026-11-23T10:00:00')); // from a closed day
    // 1 h confirmation deadline for a ticket arriving on the eve of National Day
    expect(cal.addWorkingTime(bj('2026-09-30T17:30:00'), 1 * h)).toEqual(bj('2026-10-08T08:30:00'));
    // one working day (9 h) from Friday 2026-10-09 09:00 ends on the make-up Saturday
    expect(cal.addWorkingTime(bj('2026-10-09T09:00:00'), 9 * h)).toEqual(bj('2026-10-10T09:00:00'));
    expect(cal.addWorkingTime(bj('2026-11-23T09:00:00'), 0)).toEqual(bj('2026-11-23T09:00:00'));
  });

  it('workingTimeBetween is the inverse of addWorkingTime', () => {
    const from = bj('2026-09-30T17:30:00');
    const to = cal.addWorkingTime(from, 5 * 3_600_000);
    expect(cal.workingTimeBetween(from, to)).toBe(5 * 3_600_000);
  });

  it('the demo center file loads and its half day applies', () => {
    const src = fs.readFileSync(path.resolve('ivr-flows/calendar/demo.yaml'), 'utf8');
    const { config: demo, issues } = parseCalendarSource('calendar/demo.yaml', src);
    expect(issues).toEqual([]);
    const c = new WorkingCalendar(demo!);
    expect(c.status(bj('2026-12-31T11:00:00'))).toBe('open');
    expect(c.status(bj('2026-12-31T14:00:00'))).toBe('closed');
  });

  it('a bad calendar file is reported with line:column', () => {
    const { issues } = parseCalendarSource('calendar/x.yaml', 'weekly:\n  mon: ["18:00-08:00"]\n');
    expect(issues[0]).toMatchObject({ line: 2, column: 9, code: 'schema' });
    expect(issues[0]!.message).toContain('结束必须晚于开始');
  });
});
