/**
 * The VK adapter: a community's messages by Bots Long Poll (the default: no public URL needed) or
 * the Callback API, normalized into Custom App messages; agents' replies and bot answers sent with
 * messages.send; users' files served through signed links. Details: adapters/vk/README.md.
 */
import type {
  Adapter,
  AdapterContext,
  CheckResult,
  MediaRef,
  MediaStream,
  OutboundMessage,
  SendContext,
  SendLimits,
  WebhookReply,
  WebhookRequest,
} from '../../src/adapter.js';
import { DeliveryError, DownloadFailed, DownloadRefused, openDownload, redact, safeEqual } from '../../src/toolkit/index.js';
import {
  callbackServersSchema,
  confirmationCodeSchema,
  groupsSchema,
  longPollSettingsSchema,
  usersSchema,
  VkApi,
  VkApiError,
} from './api.js';
import { classifyVkError, describeForAgent } from './errors.js';
import { isGroupPeer, VK_LIMITS } from './limits.js';
import { VkLongPoll } from './longpoll.js';
import { isChatPeer, messageOf, normalizeEvent, userIdsOf } from './normalize.js';
import { MAX_DOC_BYTES, sendToVk } from './send.js';
import { VK_EVENTS, VK_UNWANTED_EVENTS, type VkSettings } from './settings.js';
import { capsOf, VkStore } from './store.js';

/** How long a webhook answer may wait for users.get: VK waits for `ok` only a few seconds. */
const CALLBACK_LOOKUP_TIMEOUT_MS = 3000;
/** VK's event ids are 40 hex characters; anything of this alphabet and size is accepted. */
const EVENT_ID = /^[A-Za-z0-9_-]{1,128}$/;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export class VkAdapter implements Adapter {
  readonly type = 'vk';
  readonly settings: VkSettings;
  readonly api: VkApi;
  readonly limits: SendLimits;
  readonly store: VkStore;
  private poller: VkLongPoll | undefined;

  constructor(private readonly ctx: AdapterContext<VkSettings>) {
    this.settings = ctx.settings;
    this.api = new VkApi({
      token: this.settings.token,
      apiRoot: this.settings.apiRoot,
      version: this.settings.apiVersion,
      timeoutMs: this.settings.requestTimeout,
    });
    this.limits = { account: this.settings.limits?.account ?? VK_LIMITS.account };
    this.store = new VkStore(ctx.redis, `${ctx.redisPrefix}:vk:${ctx.channelId}`);
  }

  /** Where VK's Callback API must POST this channel's events. */
  get callbackUrl(): string {
    return `${this.ctx.publicUrl}/vk/${encodeURIComponent(this.ctx.channelId)}`;
  }

  get channelId(): string {
    return this.ctx.channelId;
  }

  /** True while this process holds the community's poller lease. */
  get polling(): boolean {
    return this.poller?.leader ?? false;
  }

  async start(): Promise<void> {
    if (this.settings.mode === 'callback') {
      this.ctx.log.info({ group: this.settings.groupId, url: this.callbackUrl }, 'VK Callback API: events are taken at this URL');
      return;
    }
    await this.enableLongPoll();
    this.poller = new VkLongPoll({
      api: this.api,
      groupId: this.settings.groupId,
      redis: this.ctx.redis,
      leaseKey: `${this.ctx.redisPrefix}:poller:${this.ctx.channelId}`,
      tsKey: this.store.lpTsKey,
      leaseMs: this.settings.pollLease,
      log: this.ctx.log,
      handle: (update) => this.receive(update, this.settings.requestTimeout).then(() => undefined),
    });
    await this.poller.cursor();
    this.poller.start();
    this.ctx.log.info({ group: this.settings.groupId }, 'VK Bots Long Poll started');
  }

  async stop(): Promise<void> {
    await this.poller?.stop();
  }

  /**
   * Switches the community's Long Poll on, with the events the bridge reads and its API version.
   * Needs the token's "manage" right; without it the operator sets it in the community settings
   * (README), so a refusal is a warning. VK unreachable: thrown, and the core retries the start.
   */
  private async enableLongPoll(): Promise<void> {
    try {
      await this.api.call('groups.setLongPollSettings', longPollSettingsParams(this.settings.groupId, this.settings.apiVersion));
    } catch (err) {
      if (!(err instanceof VkApiError)) throw err;
      this.ctx.log.warn(
        { err: err.message },
        'could not switch on Long Poll with the API (the token may lack the "manage" right): make sure it is on in the community settings, with message events and API version ' +
          this.settings.apiVersion,
      );
    }
  }

  // ------------------------------------------------------------------------------ receiving

  /**
   * Normalizes and durably queues one community event; 'skipped' when it has nothing for an
   * agent. Throws only when it could not be queued (the caller fetches or gets it again).
   */
  async receive(update: unknown, lookupTimeoutMs: number): Promise<'queued' | 'duplicate' | 'skipped'> {
    const e = isObj(update) ? update : {};
    const eventId = typeof e.event_id === 'string' && EVENT_ID.test(e.event_id) ? e.event_id : undefined;
    const type = typeof e.type === 'string' ? e.type.slice(0, 64) : '(no type)';
    if (!eventId) {
      this.ctx.log.warn({ type }, 'VK event without a valid event_id ignored');
      return 'skipped';
    }
    if (e.group_id !== this.settings.groupId) {
      this.ctx.log.warn({ type, eventId }, "VK event of another community ignored (its group_id is not this channel's groupId)");
      return 'skipped';
    }
    if (!(VK_EVENTS as readonly string[]).includes(type)) {
      this.ctx.log.debug({ type, eventId }, 'VK event skipped');
      return 'skipped';
    }
    const peer = peerOfEvent(e);
    const [names, phoneAsked] = await Promise.all([
      this.names(userIdsOf(e), lookupTimeoutMs),
      type === 'message_new' && peer !== undefined && !isChatPeer(peer) ? this.store.phoneAsked(peer) : false,
    ]);
    const n = normalizeEvent(e, { mediaLink: (ref) => this.ctx.media.link(ref), names, phoneAsked });
    if (n.messages.length === 0) {
      this.ctx.log.debug({ type, eventId, reason: n.skipped }, 'VK event skipped');
      return 'skipped';
    }
    // Before queuing: a link must never exist without the URL it stands for.
    await this.store.rememberFiles(n.files, this.ctx.media.ttlMs);
    const caps = type === 'message_new' && isObj(e.object) ? capsOf(e.object.client_info) : undefined;
    if (caps && peer !== undefined) await this.store.rememberCaps(peer, caps);
    const correlationId = `vk-${this.ctx.channelId}-${eventId}`;
    this.ctx.log.info({ cid: correlationId, event: 'received', type, count: n.messages.length }, 'VK event received');
    const result = await this.ctx.inbound.enqueue(n.messages, {
      dedupeId: `vk:${eventId}`,
      correlationId,
      ...(n.event ? { event: n.event } : {}),
    });
    if (n.event?.phone && peer !== undefined) await this.store.phoneGiven(peer);
    if (n.answer) await this.answerButton(n.answer);
    return result;
  }

  /** Users' names from the cache, else one users.get for the missing ones; none when VK does not answer. */
  private async names(ids: number[], timeoutMs: number): Promise<Map<number, string>> {
    const found = await this.store.names(ids);
    const missing = ids.filter((id) => !found.has(id));
    if (missing.length === 0) return found;
    try {
      const users = usersSchema.parse(await this.api.call('users.get', { user_ids: missing.join(',') }, { timeoutMs }));
      const fresh = new Map<number, string>();
      for (const u of users) {
        const name = [u.first_name, u.last_name].filter(Boolean).join(' ').trim();
        if (name) fresh.set(u.id, name);
      }
      await this.store.rememberNames(fresh);
      for (const [id, name] of fresh) found.set(id, name);
    } catch (err) {
      this.ctx.log.warn({ err: redact(String((err as Error)?.message ?? err)) }, 'users.get failed; the message goes on without the name');
    }
    return found;
  }

  /**
   * A pressed callback button shows a spinner until the community answers the event. Answered
   * once the press is queued (never acknowledged and lost); best effort, like Telegram's.
   */
  private async answerButton(a: { event_id: string; user_id: number; peer_id: number }): Promise<void> {
    try {
      await this.api.call('messages.sendMessageEventAnswer', a, { timeoutMs: Math.min(this.settings.requestTimeout, 5000) });
    } catch (err) {
      this.ctx.log.debug({ err: redact(String((err as Error)?.message ?? err)) }, 'messages.sendMessageEventAnswer failed');
    }
  }

  /**
   * POST /vk/:channelId, the Callback API. The secret first (constant time), then the community,
   * then: `confirmation` → the confirmation string; any other event → `ok` once it is durably
   * queued (or known: a redelivery, X-Retry-Counter, is a no-op by its event_id).
   */
  async handleWebhook(req: WebhookRequest): Promise<WebhookReply> {
    const body = req.body;
    if (!isObj(body)) return bad('expected a JSON object (a VK Callback API event)');
    if (typeof body.secret !== 'string' || !safeEqual(body.secret, this.settings.secret)) {
      // Not queued, and not "ok": a forged event gets nothing, and if VK itself sends a secret the
      // bridge does not know (changed in VK only), VK keeps the events and retries them, and shows
      // the server as failing, instead of the bridge acknowledging what it threw away.
      this.ctx.log.warn(
        { type: typeof body.type === 'string' ? body.type.slice(0, 64) : undefined },
        'VK callback with a wrong or missing secret refused',
      );
      return { status: 403, body: { error: 'forbidden', message: 'wrong or missing secret' } };
    }
    if (this.settings.mode !== 'callback') {
      this.ctx.log.warn('VK callback refused: this channel receives by Long Poll (mode: longpoll)');
      return {
        status: 409,
        body: {
          error: 'conflict',
          message: 'this channel receives VK events by Long Poll; set mode: callback (VK_MODE=callback) to use the Callback API',
        },
      };
    }
    if (body.group_id !== this.settings.groupId) {
      this.ctx.log.warn("VK callback refused: its group_id is not this channel's groupId");
      return bad(`group_id: expected ${this.settings.groupId}, this channel's community`);
    }
    if (body.type === 'confirmation') return this.confirm();
    if (typeof body.type !== 'string' || typeof body.event_id !== 'string' || !EVENT_ID.test(body.event_id)) {
      this.ctx.log.warn({ type: typeof body.type === 'string' ? body.type.slice(0, 64) : undefined }, 'malformed VK callback refused');
      return bad('expected a VK event: type and event_id (letters, digits, _ and -)');
    }
    const retry = req.headers['x-retry-counter'];
    if (retry !== undefined) this.ctx.log.debug({ eventId: body.event_id, retry }, 'VK redelivers an event');
    await this.receive(body, CALLBACK_LOOKUP_TIMEOUT_MS);
    return { status: 200, body: 'ok' };
  }

  /** The string VK asks for when it confirms the address: configured, else asked from VK. */
  private async confirm(): Promise<WebhookReply> {
    if (this.settings.confirmation) return { status: 200, body: this.settings.confirmation };
    try {
      const { code } = await this.api.callAs('groups.getCallbackConfirmationCode', confirmationCodeSchema, {
        group_id: this.settings.groupId,
      });
      this.ctx.log.info('VK confirms the Callback API address; answered with the code from groups.getCallbackConfirmationCode');
      return { status: 200, body: code };
    } catch (err) {
      this.ctx.log.error(
        { err: classifyVkError(err).message },
        'VK asks to confirm the Callback API address, but the confirmation string is unknown: set VK_CONFIRMATION (adapter.confirmation) to the string VK shows',
      );
      return { status: 503, body: { error: 'unavailable', message: 'the confirmation string is not configured and VK did not give it' } };
    }
  }

  // ------------------------------------------------------------------------------ sending

  isGroup(clientId: string): boolean {
    return isGroupPeer(clientId);
  }

  send(message: OutboundMessage, ctx: SendContext): Promise<void> {
    return sendToVk(
      {
        api: this.api,
        allowPrivateUrls: this.ctx.allowPrivateUrls,
        timeoutMs: this.settings.requestTimeout,
        log: this.ctx.log,
        caps: (peer) => this.store.caps(peer),
        phoneAsked: (peer) => this.store.askPhone(peer),
      },
      message,
      ctx,
    );
  }

  explainFailure(error: DeliveryError): string | undefined {
    return describeForAgent(error);
  }

  /** A user's file, by the VK URL its link stands for (stored when the message was received). */
  async openMedia(ref: MediaRef): Promise<MediaStream> {
    const url = await this.store.fileUrl(ref.id);
    if (!url) throw DeliveryError.permanent('the file is no longer known to the bridge (its record expired)', 'media_unknown');
    try {
      const file = await openDownload(url, {
        maxBytes: MAX_DOC_BYTES,
        allowPrivate: this.ctx.allowPrivateUrls,
        timeoutMs: this.settings.requestTimeout,
      });
      return {
        stream: file.stream,
        contentType: ref.mime ?? file.contentType,
        fileName: ref.name ?? file.fileName,
        size: file.size ?? ref.size,
      };
    } catch (err) {
      if (err instanceof DownloadRefused) throw DeliveryError.permanent(`VK's file was refused: ${err.message}`, `download_${err.code}`);
      if (err instanceof DownloadFailed && err.status !== undefined && err.status >= 400 && err.status < 500) {
        throw DeliveryError.permanent(`VK no longer serves the file (HTTP ${err.status})`, 'media_gone');
      }
      throw DeliveryError.transient(redact(`file download from VK failed: ${(err as Error).message}`), 'download_failed');
    }
  }

  // ------------------------------------------------------------------------------ check

  async check(): Promise<CheckResult[]> {
    const name = `vk ${this.ctx.channelId}`;
    const results: CheckResult[] = [];
    try {
      const { groups } = await this.api.callAs('groups.getById', groupsSchema, { group_id: this.settings.groupId });
      const g = groups[0];
      const mine = g?.id === this.settings.groupId;
      results.push({
        ok: mine,
        name: `${name}: community`,
        detail: g ? `${g.name} (id ${g.id})` : 'VK returned no community',
        fix: mine ? undefined : `VK_GROUP_ID (${this.settings.groupId}) is not the community this token belongs to`,
      });
    } catch (err) {
      results.push({
        ok: false,
        name: `${name}: token`,
        detail: classifyVkError(err).message,
        fix: 'check VK_TOKEN (a community token with the "messages" right) and VK_API_ROOT',
      });
      return results;
    }
    results.push(this.settings.mode === 'callback' ? await this.checkCallback(name) : await this.checkLongPoll(name));
    return results;
  }

  private async checkLongPoll(name: string): Promise<CheckResult> {
    try {
      const s = await this.api.callAs('groups.getLongPollSettings', longPollSettingsSchema, { group_id: this.settings.groupId });
      const missing = VK_EVENTS.filter((t) => !Number(s.events?.[t] ?? 0));
      const ok = s.is_enabled && missing.length === 0;
      return {
        ok,
        name: `${name}: Long Poll`,
        detail: `${s.is_enabled ? 'on' : 'off'}, API ${s.api_version ?? '?'}${missing.length ? `, not subscribed: ${missing.join(', ')}` : ''}`,
        fix: 'the bridge switches it on at start when the token has the "manage" right; else: community → Manage → API usage → Long Poll API: on, event types: incoming message, message edited, message event',
      };
    } catch (err) {
      return {
        ok: true,
        warning: true,
        name: `${name}: Long Poll`,
        detail: `settings not readable with this token (${classifyVkError(err).message})`,
        fix: 'make sure Long Poll API is on in the community settings (Manage → API usage), with message events',
      };
    }
  }

  private async checkCallback(name: string): Promise<CheckResult> {
    try {
      const { items } = await this.api.callAs('groups.getCallbackServers', callbackServersSchema, { group_id: this.settings.groupId });
      const server = items.find((s) => s.url === this.callbackUrl);
      const secretOk = server?.secret_key === undefined || safeEqual(server.secret_key, this.settings.secret);
      return {
        ok: server?.status === 'ok' && secretOk,
        name: `${name}: Callback API`,
        detail: server
          ? `server ${server.id} at ${server.url}: ${server.status}${secretOk ? '' : ", its secret key differs from the bridge's"}`
          : `no server at ${this.callbackUrl} (${items.length} other${items.length === 1 ? '' : 's'})`,
        fix: 'run "blinger-bridge vk callback set" (or "vk callback info" for what to enter in the community settings)',
      };
    } catch (err) {
      return {
        ok: true,
        warning: true,
        name: `${name}: Callback API`,
        detail: `servers not readable with this token (${classifyVkError(err).message})`,
        fix: `make sure the community's Callback API server is ${this.callbackUrl}, confirmed, with the bridge's secret key`,
      };
    }
  }
}

/** groups.setLongPollSettings / setCallbackSettings parameters: the bridge's events on, the noisy ones off. */
export function longPollSettingsParams(groupId: number, apiVersion: string): Record<string, string | number> {
  return { group_id: groupId, enabled: 1, api_version: apiVersion, ...eventFlags() };
}

export function eventFlags(): Record<string, number> {
  return {
    ...Object.fromEntries(VK_EVENTS.map((t) => [t, 1])),
    ...Object.fromEntries(VK_UNWANTED_EVENTS.map((t) => [t, 0])),
  };
}

function peerOfEvent(e: Obj): number | undefined {
  const source = e.type === 'message_event' ? e.object : messageOf(e);
  const peer = isObj(source) ? source.peer_id : undefined;
  return typeof peer === 'number' && Number.isSafeInteger(peer) && peer > 0 ? peer : undefined;
}

function bad(message: string): WebhookReply {
  return { status: 400, body: { error: 'bad_request', message } };
}
