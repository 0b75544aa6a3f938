/**
 * The `bot` section of a channel in BRIDGE_CONFIG: the built-in bot flow (bot-flow.ts). Validated
 * with zod so every problem names its path, e.g. `channels[0].bot.schedule.hours.mon`.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { parseDuration } from '../config/duration.js';
import { buildWeek, isValidTimeZone, parseDays, parseRanges, type WeeklySchedule } from './schedule.js';

/** Button data of the hand-over button (the menu items' data is `m:` + a hash of the label). */
export const HANDOVER_BUTTON_DATA = 'bb:handover';

export interface MenuItem {
  label: string;
  /** The button's data: derived from the label, so buttons sent before a config change still map. */
  data: string;
  answer?: string;
  handover: boolean;
}

export interface FaqEntry {
  keywords: string[];
  /** A regular expression (JavaScript syntax), matched case-insensitively. */
  pattern?: string;
  answer: string;
}

export interface BotFlowConfig {
  /** all: every exchange the bot handles is echoed to Blinger; after-handover: only once a conversation reaches the agents. */
  mirror: 'all' | 'after-handover';
  /** after-handover: how many of the last bot-handled messages are replayed to Blinger at hand-over. */
  history: number;
  greeting?: string;
  menu: MenuItem[];
  faq: FaqEntry[];
  handover: {
    keywords: string[];
    /** Label of a hand-over button added under the menu. */
    button?: string;
    idleTimeoutMs: number;
    message?: string;
  };
  schedule?: WeeklySchedule & { message: string };
  askPhone?: { text: string; button: string; when: 'start' | 'handover'; thanks?: string };
  /** What happens to a message no rule answers: forward to the agents, or the bot answers with this text (and the menu). */
  unmatched: { forward: true } | { forward: false; answer: string };
}

export const DEFAULT_IDLE_TIMEOUT_MS = 30 * 60_000;

const text = (what: string) => z.string().trim().min(1, `expected ${what} (a non-empty text)`);

const duration = (what: string) =>
  z.union([z.number().int().positive(), z.string()]).transform((v, ctx) => {
    const ms = typeof v === 'number' ? v : parseDuration(v);
    if (ms === undefined || ms <= 0) {
      ctx.addIssue({ code: 'custom', message: `expected a duration such as 30s, 15m, 24h or 7d (${what})` });
      return z.NEVER;
    }
    return ms;
  });

const keywordList = z
  .union([text('a keyword'), z.array(text('a keyword')).min(1, 'expected at least one keyword')])
  .transform((v) => (Array.isArray(v) ? v : [v]));

const regex = z
  .string()
  .min(1, 'expected a regular expression')
  .superRefine((v, ctx) => {
    try {
      new RegExp(v, 'iu');
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: `not a valid regular expression: ${(e as Error).message}` });
    }
  });

const menuItem = z
  .strictObject({
    label: text('the button label'),
    answer: text('the answer').optional(),
    handover: z.boolean().optional(),
  })
  .superRefine((v, ctx) => {
    if ((v.answer === undefined) === (v.handover !== true)) {
      ctx.addIssue({ code: 'custom', message: 'expected either "answer: <text>" or "handover: true"' });
    }
  });

const faqEntry = z
  .strictObject({
    keywords: keywordList.optional(),
    pattern: regex.optional(),
    answer: text('the answer'),
  })
  .superRefine((v, ctx) => {
    if (!v.keywords && v.pattern === undefined) ctx.addIssue({ code: 'custom', message: 'expected "keywords" or "pattern" (or both)' });
  });

const schedule = z.strictObject({
  timezone: z.string().refine(isValidTimeZone, 'expected an IANA time zone such as Europe/Berlin or America/New_York'),
  hours: z.record(z.string(), z.union([z.string(), z.array(z.string())])).superRefine((hours, ctx) => {
    const seen = new Map<number, string>();
    for (const [key, value] of Object.entries(hours)) {
      const days = parseDays(key);
      if (typeof days === 'string') ctx.addIssue({ code: 'custom', path: [key], message: days });
      else {
        for (const d of days) {
          const other = seen.get(d);
          if (other !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: `overlaps "${other}": name each day once` });
          seen.set(d, key);
        }
      }
      const ranges = parseRanges(value);
      if (typeof ranges === 'string') ctx.addIssue({ code: 'custom', path: [key], message: ranges });
    }
  }),
  closed: z.array(z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected a date as YYYY-MM-DD')).default([]),
  message: text('the off-hours message'),
});

const askPhone = z.strictObject({
  text: text('the question').default('Please share your phone number so that our operator can reach you.'),
  button: text('the button label').default('Share my phone number'),
  when: z.enum(['start', 'handover']).default('handover'),
  thanks: text('the thank-you text').optional(),
});

export const botFlowSchema = z
  .strictObject({
    mirror: z.enum(['all', 'after-handover']).default('all'),
    history: z.number().int().min(0).max(100).default(20),
    greeting: text('the greeting').optional(),
    menu: z.array(menuItem).max(50, 'expected at most 50 menu items').default([]),
    faq: z.array(faqEntry).default([]),
    handover: z
      .strictObject({
        keywords: keywordList.optional(),
        button: text('the button label').optional(),
        idleTimeout: duration('how long a hand-over lasts after the last message').optional(),
        message: text('the hand-over message').optional(),
      })
      .default({}),
    schedule: schedule.optional(),
    // `askPhone: true` = every default.
    askPhone: z.preprocess((v) => (v === true ? {} : v), askPhone).optional(),
    unmatched: z
      .union([z.literal('forward'), z.strictObject({ answer: text('the answer') })], {
        error: 'expected "forward" or { answer: "<text>" }',
      })
      .default('forward'),
  })
  .transform((b): BotFlowConfig => {
    const menu: MenuItem[] = b.menu.map((m) => ({
      label: m.label,
      data: menuData(m.label),
      handover: m.handover === true,
      ...(m.answer !== undefined ? { answer: m.answer } : {}),
    }));
    const out: BotFlowConfig = {
      mirror: b.mirror,
      history: b.history,
      menu,
      faq: b.faq.map((f) => ({ keywords: f.keywords ?? [], answer: f.answer, ...(f.pattern !== undefined ? { pattern: f.pattern } : {}) })),
      handover: {
        keywords: b.handover.keywords ?? [],
        idleTimeoutMs: b.handover.idleTimeout ?? DEFAULT_IDLE_TIMEOUT_MS,
        ...(b.handover.button !== undefined ? { button: b.handover.button } : {}),
        ...(b.handover.message !== undefined ? { message: b.handover.message } : {}),
      },
      unmatched: b.unmatched === 'forward' ? { forward: true } : { forward: false, answer: b.unmatched.answer },
    };
    if (b.greeting !== undefined) out.greeting = b.greeting;
    if (b.schedule) {
      const days = Object.entries(b.schedule.hours).map(([key, value]) => ({
        days: parseDays(key) as number[],
        ranges: parseRanges(value) as Array<[number, number]>,
      }));
      out.schedule = { timezone: b.schedule.timezone, week: buildWeek(days), closedDates: b.schedule.closed, message: b.schedule.message };
    }
    if (b.askPhone) out.askPhone = b.askPhone;
    return out;
  });

export type BotFlowInput = z.input<typeof botFlowSchema>;

/** Menu button data: short (Telegram allows 64 bytes) and stable while the label stays the same. */
export function menuData(label: string): string {
  return `m:${createHash('sha256').update(label).digest('base64url').slice(0, 16)}`;
}
