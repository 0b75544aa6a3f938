/**
 * A failed Send API call → DeliveryError (DESIGN.md §4). Messenger and Instagram say "outside the
 * window" only by subcode (10 / 2018278, 10 / 2534022) and "this person isn't available" by code
 * 551; the rest is Graph's generic codes (docs/vendors/meta.md §4).
 */
import { classifyGraphError, DeliveryError, toGraphError } from '../../src/toolkit/index.js';
import type { Platform } from './platform.js';

const WINDOW_TEXT = /outside of (the )?allowed window/i;

export function classifyMessagingError(err: unknown, platform: Platform, what = `${platform.name} send`): DeliveryError {
  if (err instanceof DeliveryError) return err;
  const e = toGraphError(err, what);
  const reason = `${what}: ${e.description}`;
  if (
    e.code === 10 &&
    (e.subcode === platform.windowSubcode || e.subcode === 2018278 || e.subcode === 2534022 || WINDOW_TEXT.test(e.message))
  ) {
    return DeliveryError.permanent(reason, 'window_closed');
  }
  if (e.code === 551) return DeliveryError.permanent(reason, 'unavailable');
  if (e.code === 10 && e.subcode === 2018108) return DeliveryError.permanent(reason, 'cannot_message');
  if (e.code === 100 && e.subcode === 2018001) return DeliveryError.permanent(reason, 'user_not_found');
  return classifyGraphError(e, what);
}

/** The sentence for the agent when a reply was dead-lettered for a reason on the user's side. */
export function describeForAgent(error: DeliveryError, platform: Platform, humanAgent: boolean): string | undefined {
  if (error.kind !== 'permanent') return undefined;
  switch (error.code) {
    case 'window_closed':
      return humanAgent
        ? `Not delivered: ${platform.name} allows replies only within 7 days of the customer's last message (Human Agent tag); ask the customer to write first.`
        : `Not delivered: ${platform.name} allows replies only within 24 hours of the customer's last message. ` +
            "With Meta's Human Agent permission, agents' replies can go for 7 days (adapter setting humanAgent).";
    case 'unavailable':
      return `Not delivered: this person isn't available on ${platform.name} right now (they blocked the account or turned off messages).`;
    case 'cannot_message':
    case 'user_not_found':
      return `Not delivered: ${platform.name} does not let this account message this person.`;
    default:
      return undefined;
  }
}
