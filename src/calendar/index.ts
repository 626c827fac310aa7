export { WorkingCalendar, chineseOfficialCalendar, parseInterval, addDays, WEEKDAYS, type CalendarConfig, type CalendarStatus, type DayInfo, type DayKind, type DayOverride, type OfficialCalendar, type Weekday } from './calendar.js';
export { parseCalendarSource, calendarJsonSchema } from './calendar-file.js';
export { CalendarService, DEFAULT_CALENDAR, type CalendarServiceOptions, type WeeklySettings } from './service.js';
export { calendarAdminRoutes } from './routes.js';
