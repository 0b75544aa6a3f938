/**
 * Group chats' titles, which name their conversations in Blinger: MAX's messages carry only the
 * chat_id, so the title comes from GET /chats/{id} once, is kept in Redis for a week (per channel
 * and chat, about 100 bytes), and is replaced by chat_title_changed updates. Best effort: without
 * a title the conversation simply has no name, and receiving never waits long for one.
 */
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import { redact } from '../../src/toolkit/index.js';
import type { MaxApi } from './api.js';

const KEEP_MS = 7 * 24 * 3600_000;
/** After a failed lookup, the chat is not asked about again for a while. */
const RETRY_AFTER_MS = 5 * 60_000;
const LOOKUP_TIMEOUT_MS = 3000;

export class ChatTitles {
  private readonly failed = new Map<number, number>();

  constructor(
    private readonly redis: Redis,
    /** `<prefix>:max-chat:<channel>`. */
    private readonly keyPrefix: string,
    private readonly api: MaxApi,
    private readonly log: Logger,
  ) {}

  private key(chatId: number): string {
    return `${this.keyPrefix}:${chatId}`;
  }

  async lookup(chatId: number): Promise<string | undefined> {
    try {
      const kept = await this.redis.get(this.key(chatId));
      if (kept !== null) return kept || undefined;
      if ((this.failed.get(chatId) ?? 0) > Date.now()) return undefined;
      const chat = await this.api.chat(chatId, LOOKUP_TIMEOUT_MS);
      const title = chat.title?.trim() ?? '';
      await this.redis.set(this.key(chatId), title, 'PX', KEEP_MS);
      return title || undefined;
    } catch (err) {
      if (this.failed.size > 10_000) this.failed.clear();
      this.failed.set(chatId, Date.now() + RETRY_AFTER_MS);
      this.log.debug({ chat: chatId, err: redact(String((err as Error)?.message ?? err)) }, 'could not look up the MAX chat title');
      return undefined;
    }
  }

  /** chat_title_changed: the new title. Errors propagate (the update is not acknowledged). */
  async remember(chatId: number, title: string): Promise<void> {
    await this.redis.set(this.key(chatId), title.trim(), 'PX', KEEP_MS);
  }
}
