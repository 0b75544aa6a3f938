/**
 * VK's send limit for a community token: about 20 API requests per second (vk-io's docs: "for
 * group tokens the limit is 20"; dev.vk.com's limits page is not in the sources consulted —
 * docs/vendors/vk.md §7). Over it, VK answers error 6. VK documents no per-conversation limit for
 * communities, so none is declared; error 9 (flood control) is waited out when it comes.
 */
import type { SendLimits } from '../../src/adapter.js';
import { CHAT_PEER_OFFSET } from './normalize.js';

export const VK_LIMITS: SendLimits = {
  account: { max: 20, windowMs: 1000 },
};

/** Chats (2000000000 + n) are the group conversations. */
export function isGroupPeer(clientId: string): boolean {
  return /^\d+$/.test(clientId) && Number(clientId) >= CHAT_PEER_OFFSET;
}
