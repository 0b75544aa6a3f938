/**
 * Opening hours: a weekly schedule in an IANA time zone, plus closed dates. Pure functions over
 * epoch milliseconds; the wall clock of the zone comes from Intl, so daylight-saving changes and
 * the zone's rules are the platform's, not ours.
 */

export interface WeeklySchedule {
  /** IANA time zone, e.g. "Europe/Berlin". */
  timezone: string;
  /** Open intervals per weekday (0 = Sunday … 6 = Saturday): [start, end) in minutes after local midnight. */
  week: Array<Array<[number, number]>>;
  /** Local dates (YYYY-MM-DD) closed all day: holidays. */
  closedDates: string[];
}

export const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const DAY_INDEX = new Map<string, number>(DAY_NAMES.map((d, i) => [d, i]));

export function isValidTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/**
 * A day key of the `hours` map: "mon", "mon-fri" (wrapping, e.g. "fri-mon"), or a list "sat, sun".
 * Returns the weekday numbers, or an error sentence.
 */
export function parseDays(key: string): number[] | string {
  const days: number[] = [];
  for (const part of key
    .toLowerCase()
    .split(',')
    .map((p) => p.trim())) {
    const m = /^([a-z]{3})(?:\s*-\s*([a-z]{3}))?$/.exec(part);
    const from = m ? DAY_INDEX.get(m[1]!) : undefined;
    const to = m?.[2] !== undefined ? DAY_INDEX.get(m[2]) : from;
    if (from === undefined || to === undefined)
      return `"${key}" is not a day: use mon, tue, wed, thu, fri, sat, sun, a range such as mon-fri, or a list such as "sat, sun"`;
    for (let d = from; ; d = (d + 1) % 7) {
      days.push(d);
      if (d === to) break;
    }
  }
  return days;
}

function parseTime(t: string, isEnd: boolean): number | undefined {
  const m = /^(\d{1,2}):(\d{2})$/.exec(t.trim());
  if (!m) return undefined;
  const h = Number(m[1]);
  const min = Number(m[2]);
  if (isEnd && h === 24 && min === 0) return 1440;
  return h < 24 && min < 60 ? h * 60 + min : undefined;
}

/**
 * The value of a day key: "09:00-18:00", several ranges ("09:00-12:00, 13:00-18:00" or a list),
 * or "closed". A range that ends at or before its start runs past midnight into the next day.
 */
export function parseRanges(value: string | string[]): Array<[number, number]> | string {
  const items = (Array.isArray(value) ? value : value.split(',')).map((v) => v.trim()).filter((v) => v !== '');
  if (items.length === 1 && items[0]!.toLowerCase() === 'closed') return [];
  const ranges: Array<[number, number]> = [];
  for (const item of items) {
    const [a, b, extra] = item.split('-');
    const start = a === undefined ? undefined : parseTime(a, false);
    const end = b === undefined ? undefined : parseTime(b, true);
    if (start === undefined || end === undefined || extra !== undefined)
      return `"${item}" is not a time range: expected HH:MM-HH:MM such as 09:00-18:00, or "closed"`;
    if (start === end) return `"${item}" is an empty range`;
    ranges.push([start, end]);
  }
  return ranges;
}

/** Builds the per-weekday intervals, splitting ranges past midnight into the next day. */
export function buildWeek(days: Array<{ days: number[]; ranges: Array<[number, number]> }>): Array<Array<[number, number]>> {
  const week: Array<Array<[number, number]>> = DAY_NAMES.map(() => []);
  for (const { days: list, ranges } of days) {
    for (const d of list) {
      for (const [s, e] of ranges) {
        if (e > s) week[d]!.push([s, e]);
        else {
          week[d]!.push([s, 1440]);
          if (e > 0) week[(d + 1) % 7]!.push([0, e]);
        }
      }
    }
  }
  for (const day of week) day.sort((x, y) => x[0] - y[0]);
  return week;
}

interface LocalTime {
  weekday: number;
  /** Minutes after local midnight. */
  minute: number;
  /** Seconds and milliseconds into the minute, in ms. */
  subMinuteMs: number;
  /** YYYY-MM-DD */
  date: string;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      weekday: 'short',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(tz, f);
  }
  return f;
}

export function localTime(ms: number, tz: string): LocalTime {
  const parts: Record<string, string> = {};
  for (const p of formatter(tz).formatToParts(new Date(ms))) parts[p.type] = p.value;
  const weekday = DAY_INDEX.get((parts.weekday ?? '').toLowerCase()) ?? 0;
  const hour = Number(parts.hour) % 24;
  return {
    weekday,
    minute: hour * 60 + Number(parts.minute),
    subMinuteMs: Number(parts.second) * 1000 + (((ms % 1000) + 1000) % 1000),
    date: `${parts.year}-${parts.month}-${parts.day}`,
  };
}

function addDays(date: string, n: number): string {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
}

function dayDiff(a: string, b: string): number {
  return Math.round((Date.parse(`${a}T00:00:00Z`) - Date.parse(`${b}T00:00:00Z`)) / 86_400_000);
}

export function isOpen(s: WeeklySchedule, ms: number): boolean {
  const t = localTime(ms, s.timezone);
  if (s.closedDates.includes(t.date)) return false;
  return s.week[t.weekday]!.some(([a, b]) => t.minute >= a && t.minute < b);
}

/**
 * The next instant at or after `ms` when the schedule is open; undefined when it does not open
 * within two weeks (all days closed). Exact to the minute, across daylight-saving changes.
 */
export function nextOpening(s: WeeklySchedule, ms: number): number | undefined {
  if (isOpen(s, ms)) return ms;
  const now = localTime(ms, s.timezone);
  const minuteStart = ms - now.subMinuteMs;
  for (let d = 0; d <= 14; d++) {
    const date = addDays(now.date, d);
    if (s.closedDates.includes(date)) continue;
    for (const [start, end] of s.week[(now.weekday + d) % 7]!) {
      if (d === 0 && end <= now.minute) continue;
      const target = d === 0 ? Math.max(start, now.minute) : start;
      // Walk the wall clock forward, then correct by what the zone says that instant really is
      // (a daylight-saving change in between shifts it by the change).
      let guess = minuteStart + (d * 1440 + target - now.minute) * 60_000;
      for (let i = 0; i < 2; i++) {
        const got = localTime(guess, s.timezone);
        const off = dayDiff(got.date, date) * 1440 + got.minute - target;
        if (off === 0) break;
        guess -= off * 60_000;
      }
      if (guess > ms && isOpen(s, guess)) return guess;
      // In a skipped hour (spring forward): the first open minute after it.
      if (guess > ms && isOpen(s, guess + 3_600_000)) return guess + 3_600_000;
    }
  }
  return undefined;
}

/** Whether the schedule is open at `ms`, and if not, when it next opens (what a chat page tells its visitors). */
export function openingStatus(s: WeeklySchedule, ms: number): { open: boolean; opensAt?: number } {
  if (isOpen(s, ms)) return { open: true };
  const opensAt = nextOpening(s, ms);
  return opensAt === undefined ? { open: false } : { open: false, opensAt };
}
