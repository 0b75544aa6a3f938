import { describe, expect, it } from 'vitest';
import { buildWeek, isOpen, isValidTimeZone, nextOpening, parseDays, parseRanges, type WeeklySchedule } from '../../src/flow/schedule.js';

function schedule(timezone: string, hours: Record<string, string>, closedDates: string[] = []): WeeklySchedule {
  const days = Object.entries(hours).map(([k, v]) => ({
    days: parseDays(k) as number[],
    ranges: parseRanges(v) as Array<[number, number]>,
  }));
  return { timezone, week: buildWeek(days), closedDates };
}

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

describe('parsing', () => {
  it('reads day keys: single days, ranges (also wrapping) and lists', () => {
    expect(parseDays('mon')).toEqual([1]);
    expect(parseDays('Mon-Fri')).toEqual([1, 2, 3, 4, 5]);
    expect(parseDays('fri-mon')).toEqual([5, 6, 0, 1]);
    expect(parseDays('sat, sun')).toEqual([6, 0]);
    expect(parseDays('monday')).toMatch(/is not a day/);
    expect(parseDays('mon-xyz')).toMatch(/is not a day/);
  });

  it('reads ranges, several ranges, "closed" and 24:00, and names a bad one', () => {
    expect(parseRanges('09:00-18:00')).toEqual([[540, 1080]]);
    expect(parseRanges('9:00-12:00, 13:00-24:00')).toEqual([
      [540, 720],
      [780, 1440],
    ]);
    expect(parseRanges(['08:30-10:00'])).toEqual([[510, 600]]);
    expect(parseRanges('closed')).toEqual([]);
    expect(parseRanges('9-18')).toMatch(/"9-18" is not a time range/);
    expect(parseRanges('25:00-26:00')).toMatch(/not a time range/);
    expect(parseRanges('10:00-10:00')).toMatch(/empty range/);
  });

  it('knows IANA zones', () => {
    expect(isValidTimeZone('Europe/Berlin')).toBe(true);
    expect(isValidTimeZone('Mars/Olympus')).toBe(false);
  });
});

describe('isOpen and nextOpening', () => {
  const berlin = schedule('Europe/Berlin', { 'mon-fri': '09:00-18:00' }, ['2025-12-25']);

  it('uses the zone’s wall clock, end exclusive', () => {
    expect(isOpen(berlin, at('2025-06-02T10:00:00Z'))).toBe(true); // Mon 12:00 CEST
    expect(isOpen(berlin, at('2025-06-02T06:59:59Z'))).toBe(false); // Mon 08:59:59
    expect(isOpen(berlin, at('2025-06-02T07:00:00Z'))).toBe(true); // Mon 09:00
    expect(isOpen(berlin, at('2025-06-02T16:00:00Z'))).toBe(false); // Mon 18:00
    expect(isOpen(berlin, at('2025-06-07T10:00:00Z'))).toBe(false); // Saturday
    expect(isOpen(berlin, at('2025-12-25T10:00:00Z'))).toBe(false); // a closed date (Thursday)
  });

  it('finds the next opening: later today, after the weekend, after a closed date', () => {
    expect(iso(nextOpening(berlin, at('2025-06-02T05:30:00Z')))).toBe('2025-06-02T07:00:00.000Z');
    expect(iso(nextOpening(berlin, at('2025-06-06T16:30:00Z')))).toBe('2025-06-09T07:00:00.000Z'); // Fri 18:30 → Mon 9:00
    expect(iso(nextOpening(berlin, at('2025-12-24T17:30:00Z')))).toBe('2025-12-26T08:00:00.000Z'); // CET in winter
    const open = at('2025-06-02T10:00:00Z');
    expect(nextOpening(berlin, open)).toBe(open);
  });

  it('is exact across a daylight-saving change', () => {
    // Saturday 29 March 2025 noon CET; clocks go forward on Sunday; Monday 09:00 is CEST (UTC+2).
    expect(iso(nextOpening(berlin, at('2025-03-29T11:00:00Z')))).toBe('2025-03-31T07:00:00.000Z');
    // And back in October: Monday 27 October 09:00 is CET (UTC+1).
    expect(iso(nextOpening(berlin, at('2025-10-25T11:00:00Z')))).toBe('2025-10-27T08:00:00.000Z');
  });

  it('runs a range past midnight into the next day', () => {
    const bar = schedule('America/New_York', { fri: '22:00-02:00' });
    expect(isOpen(bar, at('2025-06-07T05:00:00Z'))).toBe(true); // Sat 01:00 EDT
    expect(isOpen(bar, at('2025-06-07T06:00:00Z'))).toBe(false); // Sat 02:00
    expect(isOpen(bar, at('2025-06-07T01:59:00Z'))).toBe(false); // Fri 21:59
    expect(iso(nextOpening(bar, at('2025-06-07T06:00:00Z')))).toBe('2025-06-14T02:00:00.000Z'); // next Fri 22:00 EDT
  });

  it('never opens when every day is closed', () => {
    expect(nextOpening(schedule('UTC', {}), at('2025-06-02T10:00:00Z'))).toBeUndefined();
  });

  it('keeps a lunch break', () => {
    const shop = schedule('Asia/Tokyo', { 'mon-sat': '10:00-13:00, 14:00-19:00' });
    expect(isOpen(shop, at('2025-06-02T04:30:00Z'))).toBe(false); // Mon 13:30 JST
    expect(iso(nextOpening(shop, at('2025-06-02T04:30:00Z')))).toBe('2025-06-02T05:00:00.000Z');
  });
});
