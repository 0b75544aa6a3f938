/**
 * The Bots Long Poll API (dev.vk.com/ru/api/bots-long-poll/getting-started; docs/vendors/vk.md §3)
 * as the bridge's durable receive path: groups.getLongPollServer gives a server, a key and a ts;
 * `GET {server}?act=a_check&key&ts&wait` answers the events from ts on and the next ts.
 *
 * VK keeps the events on its side and nothing is acknowledged: whoever polls with an older ts gets
 * them again. So the cursor lives in Redis (`lp-ts`) and moves only after every event of an answer
 * is durably queued; a crash, or another process taking the poller over, goes on from there and
 * the event_id dedupe drops what was queued twice. One poller per community across all processes
 * (the toolkit's LeasedPoller).
 *
 * `{failed: 1, ts}`: the history is outdated or partly lost: go on from the ts VK gives (events in
 * between are gone; a warning says so). `{failed: 2}`: the key expired: get a new key and keep the
 * ts (vk-io's restart from the server's ts here loses the events in between). `{failed: 3}`: the
 * information is lost: get a new key and ts.
 */
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import { LeasedPoller } from '../../src/toolkit/index.js';
import { longPollAnswerSchema, longPollServerSchema, VkTransportError, type LongPollServer, type VkApi } from './api.js';

/** VK allows a wait of up to 90 s and recommends 25 (proxies cut at about 30). */
export const MAX_WAIT_S = 25;

export interface VkLongPollOptions {
  api: VkApi;
  groupId: number;
  redis: Redis;
  leaseKey: string;
  /** Where the cursor is kept. */
  tsKey: string;
  leaseMs: number;
  log: Logger;
  /** Durably queues one event; throws when it could not (the same answer is then fetched again). */
  handle(update: unknown): Promise<void>;
}

export class VkLongPoll {
  private server: LongPollServer | undefined;
  private readonly poller: LeasedPoller;

  constructor(private readonly o: VkLongPollOptions) {
    this.poller = new LeasedPoller({
      redis: o.redis,
      leaseKey: o.leaseKey,
      log: o.log,
      name: 'VK Bots Long Poll',
      leaseMs: o.leaseMs,
      maxPollTimeoutS: MAX_WAIT_S,
      poll: (signal, waitS) => this.pollOnce(signal, waitS),
    });
  }

  get leader(): boolean {
    return this.poller.leader;
  }

  start(): void {
    this.poller.start();
  }

  stop(): Promise<void> {
    return this.poller.stop();
  }

  /**
   * The cursor, set to "now" when the community has none yet (the first start ever); every later
   * poller goes on where the last one stopped. Called at start, so that a message written once
   * the bridge is up is never behind the first cursor.
   */
  async cursor(): Promise<{ server: LongPollServer; ts: string }> {
    const server = this.server ?? (await this.newServer());
    const stored = await this.o.redis.get(this.o.tsKey);
    if (stored !== null) return { server, ts: stored };
    await this.o.redis.set(this.o.tsKey, server.ts, 'NX');
    return { server, ts: (await this.o.redis.get(this.o.tsKey)) ?? server.ts };
  }

  /** One long poll: fetch, queue every event, then move the cursor. */
  async pollOnce(signal: AbortSignal, waitS: number): Promise<void> {
    const { server, ts } = await this.cursor();
    const raw = await this.o.api.longPoll(server.server, { key: server.key, ts, wait: waitS }, signal);
    const parsed = longPollAnswerSchema.safeParse(raw);
    if (!parsed.success) throw new VkTransportError('VK long poll: unexpected answer', 'bad_response');
    const answer = parsed.data;
    if ('failed' in answer) return this.recover(answer.failed, ts, answer.ts);
    for (const update of answer.updates) await this.o.handle(update);
    await this.o.redis.set(this.o.tsKey, answer.ts);
  }

  private async recover(failed: number, ts: string, given: string | undefined): Promise<void> {
    if (failed === 1 && given !== undefined) {
      this.o.log.warn(
        { from: ts, to: given },
        'VK long poll history is outdated or partly lost (failed: 1): going on from the ts VK gave; events in between are lost',
      );
      await this.o.redis.set(this.o.tsKey, given);
      return;
    }
    if (failed === 3 || failed === 1) {
      const fresh = await this.newServer();
      this.o.log.warn(
        { from: ts, to: fresh.ts },
        'VK long poll information was lost (failed: 3): new key and ts; events in between may be lost',
      );
      await this.o.redis.set(this.o.tsKey, fresh.ts);
      return;
    }
    // failed: 2 (the key expired), and anything VK may add: a new key, the same ts.
    this.o.log.debug({ failed }, 'VK long poll key expired; getting a new one (the ts stays)');
    await this.newServer();
  }

  private async newServer(): Promise<LongPollServer> {
    this.server = undefined;
    this.server = await this.o.api.callAs('groups.getLongPollServer', longPollServerSchema, { group_id: this.o.groupId });
    return this.server;
  }
}
