/**
 * The built-in, configurable bot flow (a channel's `bot` section) as the last middleware:
 * greeting on /start, menu buttons, FAQ auto-answers and the "talk to an operator" hand-over.
 * Off-hours replies, mirroring and state are the runner's (runner.ts), because they apply to
 * whatever the middleware decided.
 *
 * It answers in one-to-one chats only: in groups an FAQ bot would answer other members' chatter,
 * in channels it would post publicly, and Telegram's phone keyboards work in private chats only.
 */
import { HANDOVER_BUTTON_DATA, type BotFlowConfig } from './config.js';
import type { Middleware } from './middleware.js';
import type { ReplyButton } from '../message.js';

export const DEFAULT_GREETING = 'Hello! How can we help you?';

/** Whole-word (or whole-phrase) match, any case; "/operator" matches the keyword "operator". */
export function keywordMatcher(keywords: readonly string[]): ((text: string) => boolean) | undefined {
  if (keywords.length === 0) return undefined;
  const alts = keywords
    .map((k) =>
      k
        .trim()
        .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
        .replace(/\s+/g, '\\s+'),
    )
    .join('|');
  const re = new RegExp(`(?<![\\p{L}\\p{N}_])(?:${alts})(?![\\p{L}\\p{N}_])`, 'iu');
  return (text) => re.test(text);
}

export function menuButtons(cfg: BotFlowConfig): ReplyButton[] {
  const buttons = cfg.menu.map((m) => ({ label: m.label, data: m.data }));
  if (cfg.handover.button) buttons.push({ label: cfg.handover.button, data: HANDOVER_BUTTON_DATA });
  return buttons;
}

export function botFlow(cfg: BotFlowConfig): Middleware {
  const faq = cfg.faq.map((f) => {
    const byWord = keywordMatcher(f.keywords);
    const byPattern = f.pattern !== undefined ? new RegExp(f.pattern, 'iu') : undefined;
    return { answer: f.answer, matches: (t: string) => (byWord?.(t) ?? false) || (byPattern?.test(t) ?? false) };
  });
  const wantsOperator = keywordMatcher(cfg.handover.keywords);
  const buttons = menuButtons(cfg);
  const withMenu = buttons.length > 0 ? { buttons } : undefined;

  return async (ctx, next) => {
    // Not ours to answer, or an earlier middleware decided already.
    if (ctx.chat !== 'private' || ctx.outcome !== undefined) return next();
    const ev = ctx.event;

    // The phone the bot asked for: thank (and hide the keyboard) even during a hand-over.
    if (ev.phone && cfg.askPhone?.thanks) ctx.reply(cfg.askPhone.thanks, { removeKeyboard: true });
    if (ctx.handedOver) return ctx.forward();
    if (ev.phone && cfg.askPhone) return cfg.askPhone.thanks ? undefined : ctx.skip();

    // /start is the messenger's "open the chat", not a question for the agents.
    if (ev.start) {
      if (cfg.greeting !== undefined || withMenu) ctx.reply(cfg.greeting ?? DEFAULT_GREETING, withMenu);
      if (cfg.askPhone?.when === 'start' && !ctx.facts.phone) ctx.reply(cfg.askPhone.text, { requestPhone: cfg.askPhone.button });
      if (ctx.replies.length === 0) ctx.skip();
      return;
    }

    if (ev.button) {
      if (ev.button.data === HANDOVER_BUTTON_DATA) return ctx.handover();
      const item = cfg.menu.find((m) => m.data === ev.button!.data);
      if (item?.handover) return ctx.handover();
      if (item?.answer !== undefined) return ctx.reply(item.answer);
      // A button the flow does not know (another middleware's, or from an older menu): agents.
      return next();
    }

    // An edit of something the bot already handled: keep it in the transcript, no answer.
    if (ev.edit) return ctx.skip();

    const text = ctx.text;
    if (text !== undefined) {
      if (wantsOperator?.(text)) return ctx.handover();
      const hit = faq.find((f) => f.matches(text));
      if (hit) return ctx.reply(hit.answer);
      if (!cfg.unmatched.forward) return ctx.reply(cfg.unmatched.answer, withMenu);
    }
    return next();
  };
}
