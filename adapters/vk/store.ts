/**
 * What the VK adapter keeps in Redis, per channel, under `<prefix>:vk:<channel>:`:
 *
 * - `name:<user>`      "First Last" from users.get, 24 h (events carry no names; one users.get per
 *                      user a day instead of one per message)
 * - `media:<ref>`      the VK URL a signed /media link stands for, as long as such links live
 *                      (MEDIA_LINK_TTL): the links themselves carry only the ref, never VK's URL
 * - `caps:<peer>`      what the user's VK app can show (inline keyboards, callback buttons), from
 *                      the last message's client_info, 30 days
 * - `ask-phone:<peer>` a bot flow asked this user for their phone number, 1 day: VK has no
 *                      "share my number" button, so the next message that is a phone number is it
 * - `lp-ts`            the Bots Long Poll cursor, moved only after the events before it are queued
 */
import type { Redis } from 'ioredis';

const NAME_TTL_S = 24 * 3600;
const CAPS_TTL_S = 30 * 86_400;
const ASK_PHONE_TTL_S = 86_400;

/** What a user's VK app can show; all true unless its client_info said otherwise. */
export interface Caps {
  inline: boolean;
  callback: boolean;
  keyboard: boolean;
}

export const FULL_CAPS: Caps = { inline: true, callback: true, keyboard: true };

export class VkStore {
  constructor(
    private readonly redis: Redis,
    /** `<prefix>:vk:<channel>` */
    private readonly base: string,
  ) {}

  get lpTsKey(): string {
    return `${this.base}:lp-ts`;
  }

  async names(ids: number[]): Promise<Map<number, string>> {
    const found = new Map<number, string>();
    if (ids.length === 0) return found;
    const values = await this.redis.mget(...ids.map((id) => `${this.base}:name:${id}`));
    ids.forEach((id, i) => {
      const v = values[i];
      if (typeof v === 'string' && v !== '') found.set(id, v);
    });
    return found;
  }

  async rememberNames(names: Map<number, string>): Promise<void> {
    if (names.size === 0) return;
    const p = this.redis.pipeline();
    for (const [id, name] of names) p.set(`${this.base}:name:${id}`, name, 'EX', NAME_TTL_S);
    await p.exec();
  }

  async rememberFiles(files: Array<{ id: string; url: string }>, ttlMs: number): Promise<void> {
    if (files.length === 0) return;
    const p = this.redis.pipeline();
    for (const f of files) p.set(`${this.base}:media:${f.id}`, f.url, 'PX', Math.max(1000, Math.ceil(ttlMs)));
    const results = await p.exec();
    const failed = results?.find(([err]) => err);
    if (failed) throw failed[0];
  }

  fileUrl(id: string): Promise<string | null> {
    return this.redis.get(`${this.base}:media:${id}`);
  }

  async rememberCaps(peer: number, caps: Caps): Promise<void> {
    await this.redis.set(`${this.base}:caps:${peer}`, encodeCaps(caps), 'EX', CAPS_TTL_S);
  }

  async caps(peer: number): Promise<Caps> {
    const v = await this.redis.get(`${this.base}:caps:${peer}`);
    return v === null ? FULL_CAPS : decodeCaps(v);
  }

  async askPhone(peer: number): Promise<void> {
    await this.redis.set(`${this.base}:ask-phone:${peer}`, '1', 'EX', ASK_PHONE_TTL_S);
  }

  async phoneAsked(peer: number): Promise<boolean> {
    return (await this.redis.exists(`${this.base}:ask-phone:${peer}`)) === 1;
  }

  async phoneGiven(peer: number): Promise<void> {
    await this.redis.del(`${this.base}:ask-phone:${peer}`);
  }
}

function encodeCaps(c: Caps): string {
  return `${c.inline ? 'i' : ''}${c.callback ? 'c' : ''}${c.keyboard ? 'k' : ''}-`;
}

function decodeCaps(v: string): Caps {
  return { inline: v.includes('i'), callback: v.includes('c'), keyboard: v.includes('k') };
}

/** What client_info (message_new, API 5.103+) says the user's app can show. */
export function capsOf(clientInfo: unknown): Caps | undefined {
  if (typeof clientInfo !== 'object' || clientInfo === null) return undefined;
  const ci = clientInfo as Record<string, unknown>;
  const actions = Array.isArray(ci.button_actions) ? ci.button_actions : undefined;
  return {
    inline: ci.inline_keyboard !== false,
    callback: actions ? actions.includes('callback') : true,
    keyboard: ci.keyboard !== false,
  };
}
