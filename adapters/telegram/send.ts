/**
 * Delivers one agent reply to a Telegram chat (adapters/telegram/README.md, "Agents' replies").
 *
 * - `text` → `sendMessage` for each `splitText` part, in order, plain text (no parse_mode, so `<`,
 *   `*`, `_` arrive as typed).
 * - `image` → `sendPhoto` by URL; `file` → `sendDocument` by URL.
 * - When Telegram cannot fetch the URL (private host, unusual content, too big for fetching by
 *   URL), the bridge downloads it itself through `openDownload` (size-capped, no private addresses
 *   unless allowed) and uploads it (multipart, built by telegraf) keeping the file name.
 * - An image Telegram refuses as a photo (can't process it, bad dimensions, too big) goes again as
 *   a document: by URL first, then uploaded if the URL is refused.
 *
 * Every Bot API call carries an AbortSignal: `timeoutMs` per call, `uploadTimeoutMs` for uploads
 * (which stream the whole file). All failures are thrown as DeliveryError.
 *
 * Resuming long texts: pass `progress` (third argument). `progress.partsSent` says how many parts of
 * this very message reached the user in earlier attempts — those are skipped — and
 * `progress.onPartSent(n)` is awaited after each part Telegram accepted, with the running total, so
 * the caller can persist it before the next part goes. If the caller keeps that number with the
 * queued message, a retry after a failed middle part sends every part exactly once (short of a crash
 * between Telegram's answer and the persist). Parts are `splitText(text)` with the default limit;
 * that split is deterministic, so the same count names the same parts on every attempt (keep
 * `splitText` stable across a deploy with messages in flight, or the resume point moves). Errors
 * thrown by `onPartSent` propagate unchanged.
 *
 * Where in the chat (fourth argument, reply-route.ts): every call carries the route's forum topic
 * and business connection. When Telegram says the topic is gone or closed, the message goes once
 * more without the topic, to General — resuming after the parts already sent — and
 * `onTopicGone` is told; any other failure, or a failure in General, is thrown as usual.
 */
import type { Logger } from 'pino';
import type { Telegram } from 'telegraf';
import type { OutboundMessage, ReplyKeyboard, SendContext } from '../../src/adapter.js';
import {
  DeliveryError,
  type Download,
  DownloadFailed,
  DownloadRefused,
  isRetryableStatus,
  openDownload,
  splitText,
  withExtension,
} from '../../src/toolkit/index.js';
import { classifyTelegramError, scrub, telegramDescription, telegramErrorCode } from './errors.js';
import type { ReplyRoute } from './reply-route.js';

export const DEFAULT_MAX_UPLOAD_BYTES = 50 * 1024 * 1024; // the Bot API's upload limit for documents
export const DEFAULT_UPLOAD_TIMEOUT_MS = 5 * 60_000;

export interface TelegramSendOptions {
  telegram: Telegram;
  /** Whether the download fallback may reach loopback/private addresses (sandbox, tests). */
  allowPrivateUrls: boolean;
  /** Timeout of each Bot API call (and of the download's header wait and idle time). */
  timeoutMs: number;
  /** Cap of the download fallback, in bytes. Default 50 MB. */
  maxUploadBytes?: number;
  /** Timeout of an upload call, which streams the whole file. Default 5 min, never below timeoutMs. */
  uploadTimeoutMs?: number;
  log?: Logger;
  /** Called after a send fell back to General because the route's topic is gone or closed. */
  onTopicGone?(chatId: string, threadId: number): Promise<void>;
  /** The core's pacer (SendContext.pace), awaited right before each Bot API call. */
  pace?: SendContext['pace'];
}

/** Resuming a multi-part send (SendContext without the pacing, which comes with the options). */
export type SendProgress = Pick<SendContext, 'partsSent' | 'onPartSent'>;

type MediaMethod = 'sendPhoto' | 'sendDocument';

/** The signal type telegraf's callApi declares (an abort-controller shim, same shape). */
type CallApiSignal = NonNullable<NonNullable<Parameters<Telegram['callApi']>[2]>['signal']>;

function asCallSignal(signal: AbortSignal): CallApiSignal {
  return signal as unknown as CallApiSignal;
}

/**
 * Runs one Bot API call with a deadline whose timer is cleared as soon as the call ends.
 * (AbortSignal.timeout cannot be cleared: every send would leave a timer, and through it the
 * signal and the finished request it references, alive for the whole timeout — at a few thousand
 * sends per second that is tens of MB held and promoted to the old heap; see bench/results.)
 */
async function withDeadline<R>(timeoutMs: number, call: (signal: CallApiSignal) => Promise<R>): Promise<R> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    return await call(asCallSignal(controller.signal));
  } finally {
    clearTimeout(timer);
  }
}

export async function sendToTelegram(
  opts: TelegramSendOptions,
  msg: OutboundMessage,
  progress?: SendProgress,
  route: ReplyRoute = {},
): Promise<void> {
  // Counted here too, so a retry in General starts after the parts that reached the topic.
  let partsSent = progress?.partsSent ?? 0;
  const tracked = (): SendProgress => ({
    partsSent,
    onPartSent: async (n) => {
      partsSent = n;
      await progress?.onPartSent(n);
    },
  });
  const threadId = route.message_thread_id;
  try {
    await sendVia({ chat_id: msg.client_id, ...route }, opts, msg, tracked());
  } catch (err) {
    if (threadId === undefined || !(err instanceof DeliveryError) || err.code !== 'topic_gone') throw err;
    opts.log?.warn(
      { chat: msg.client_id, thread: threadId, reason: err.message },
      'the forum topic is gone or closed; sending to the General topic instead',
    );
    const { message_thread_id: _gone, ...general } = route;
    await sendVia({ chat_id: msg.client_id, ...general }, opts, msg, tracked());
    // Best effort: a route that stays only costs the next reply one refused call.
    await opts.onTopicGone?.(msg.client_id, threadId).catch((e: unknown) => {
      opts.log?.warn({ chat: msg.client_id, err: scrub(String((e as Error)?.message ?? e)) }, 'could not forget the gone forum topic');
    });
  }
}

/** The chat and where in it: chat_id plus the route's message_thread_id / business_connection_id. */
type Target = { chat_id: string } & ReplyRoute;

function sendVia(to: Target, opts: TelegramSendOptions, msg: OutboundMessage, progress: SendProgress): Promise<void> {
  switch (msg.type) {
    case 'text':
      return sendText(opts, to, msg, progress);
    case 'image':
      return sendImage(opts, to, msg.data);
    case 'file':
      return sendFile(opts, to, msg.data);
    default:
      throw DeliveryError.permanent(`Unsupported message type "${String((msg as { type: unknown }).type)}"`, 'unsupported_type');
  }
}

async function sendText(opts: TelegramSendOptions, to: Target, msg: OutboundMessage, progress: SendProgress): Promise<void> {
  if (msg.data.trim() === '') {
    throw DeliveryError.permanent('The reply is empty: Telegram does not send empty messages', 'empty_text');
  }
  const parts = splitText(msg.data);
  const already = Math.min(Math.max(Math.trunc(progress.partsSent), 0), parts.length);
  const markup = replyMarkup(msg.keyboard);
  for (let i = already; i < parts.length; i++) {
    const text = parts[i] as string;
    // A bot reply's buttons go under its last part.
    const extra = markup && i === parts.length - 1 ? { reply_markup: markup as never } : {};
    try {
      await opts.pace?.();
      await withDeadline(opts.timeoutMs, (signal) => opts.telegram.callApi('sendMessage', { ...to, text, ...extra }, { signal }));
    } catch (err) {
      throw classifyTelegramError(err);
    }
    // The last part needs no mark: the message is popped right after it, and a crash in between
    // is the one duplicate the delivery guarantees allow. Saves a Redis call per message.
    if (i + 1 < parts.length) await progress.onPartSent(i + 1);
  }
}

/**
 * A bot reply's keyboard as Telegram's reply_markup: buttons → inline keyboard (a press comes
 * back as a callback_query); requestPhone → a one-time reply keyboard with a request_contact
 * button; remove → remove_keyboard.
 */
export function replyMarkup(k: ReplyKeyboard | undefined): Record<string, unknown> | undefined {
  if (k?.buttons && k.buttons.length > 0) {
    return { inline_keyboard: k.buttons.map((row) => row.map((b) => ({ text: b.label, callback_data: b.data }))) };
  }
  if (k?.requestPhone) {
    return { keyboard: [[{ text: k.requestPhone, request_contact: true }]], resize_keyboard: true, one_time_keyboard: true };
  }
  if (k?.remove) return { remove_keyboard: true };
  return undefined;
}

/** `sendPhoto`/`sendDocument` with the URL itself: Telegram fetches it. Throws what telegraf threw. */
async function sendByUrl(opts: TelegramSendOptions, method: MediaMethod, to: Target, url: string): Promise<void> {
  await opts.pace?.();
  if (method === 'sendPhoto')
    await withDeadline(opts.timeoutMs, (signal) => opts.telegram.callApi('sendPhoto', { ...to, photo: url }, { signal }));
  else await withDeadline(opts.timeoutMs, (signal) => opts.telegram.callApi('sendDocument', { ...to, document: url }, { signal }));
}

const URL_REFUSED =
  /failed to get HTTP URL content|wrong file identifier\/HTTP URL specified|wrong type of the web page content|wrong remote file|too big|too large/i;
const PHOTO_REFUSED =
  /IMAGE_PROCESS_FAILED|PHOTO_INVALID_DIMENSIONS|PHOTO_SAVE_FILE_INVALID|PHOTO_EXT_INVALID|PHOTO_INVALID\b|photo.*too (big|large)/i;

/** Telegram could not (or would not) fetch the URL: worth downloading and uploading ourselves. */
function isUrlRefused(err: unknown): boolean {
  const code = telegramErrorCode(err);
  return code === 413 || (code === 400 && URL_REFUSED.test(telegramDescription(err)));
}

/** Telegram got the bytes but will not make a photo of them: worth sending as a document. */
function isPhotoRefused(err: unknown): boolean {
  const code = telegramErrorCode(err);
  return code === 400 && PHOTO_REFUSED.test(telegramDescription(err));
}

/** An uploaded photo was refused for its content or size. */
function isUploadedPhotoRefused(err: unknown): boolean {
  return isPhotoRefused(err) || telegramErrorCode(err) === 413 || /too big|too large/i.test(telegramDescription(err));
}

async function sendImage(opts: TelegramSendOptions, to: Target, url: string): Promise<void> {
  try {
    await sendByUrl(opts, 'sendPhoto', to, url);
    return;
  } catch (err) {
    if (isPhotoRefused(err)) {
      opts.log?.info({ reason: scrub(telegramDescription(err)) }, 'Telegram refused the image as a photo; sending it as a document');
      return sendFile(opts, to, url);
    }
    if (!isUrlRefused(err)) throw classifyTelegramError(err);
    opts.log?.info({ reason: scrub(telegramDescription(err)) }, 'Telegram could not fetch the image URL; uploading it');
  }
  try {
    await upload(opts, 'sendPhoto', to, url);
    return;
  } catch (err) {
    if (err instanceof DeliveryError) throw err;
    if (!isUploadedPhotoRefused(err)) throw classifyTelegramError(err);
    opts.log?.info(
      { reason: scrub(telegramDescription(err)) },
      'Telegram refused the uploaded image as a photo; uploading it as a document',
    );
  }
  try {
    await upload(opts, 'sendDocument', to, url);
  } catch (err) {
    throw classifyTelegramError(err);
  }
}

async function sendFile(opts: TelegramSendOptions, to: Target, url: string): Promise<void> {
  try {
    await sendByUrl(opts, 'sendDocument', to, url);
    return;
  } catch (err) {
    if (!isUrlRefused(err)) throw classifyTelegramError(err);
    opts.log?.info({ reason: scrub(telegramDescription(err)) }, 'Telegram could not fetch the file URL; uploading it');
  }
  try {
    await upload(opts, 'sendDocument', to, url);
  } catch (err) {
    throw classifyTelegramError(err);
  }
}

/**
 * Downloads `url` and uploads it with `method`. Download problems are thrown as DeliveryError;
 * Bot API errors are thrown as telegraf threw them, for the caller to inspect.
 */
async function upload(opts: TelegramSendOptions, method: MediaMethod, to: Target, url: string): Promise<void> {
  let download: Download;
  try {
    download = await openDownload(url, {
      maxBytes: opts.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES,
      allowPrivate: opts.allowPrivateUrls,
      timeoutMs: opts.timeoutMs,
    });
  } catch (err) {
    throw downloadError(err);
  }

  const filename = uploadFileName(download, method);
  // telegraf pipes the stream into its multipart body, and a pipe does not forward errors: if the
  // download fails midway (too big, stalled, reset) the request would wait for bytes forever. So a
  // download error aborts the call, and is what gets reported.
  const downloadFailure = new AbortController();
  let downloadErr: unknown;
  download.stream.on('error', (e: unknown) => {
    downloadErr ??= e;
    downloadFailure.abort();
  });
  const timeout = AbortSignal.timeout(Math.max(opts.uploadTimeoutMs ?? DEFAULT_UPLOAD_TIMEOUT_MS, opts.timeoutMs));
  const signal = asCallSignal(AbortSignal.any([downloadFailure.signal, timeout]));
  const file = { source: download.stream, filename };
  try {
    await opts.pace?.();
    if (method === 'sendPhoto') await opts.telegram.callApi('sendPhoto', { ...to, photo: file }, { signal });
    else await opts.telegram.callApi('sendDocument', { ...to, document: file }, { signal });
  } catch (err) {
    if (downloadErr !== undefined) throw downloadError(downloadErr);
    throw err;
  } finally {
    download.stream.destroy();
  }
}

function downloadError(err: unknown): DeliveryError {
  if (err instanceof DownloadRefused) {
    return DeliveryError.permanent(
      `Telegram could not fetch the file, and the bridge will not download it: ${err.message}`,
      `download_${err.code}`,
    );
  }
  if (err instanceof DownloadFailed) {
    const reason = `Telegram could not fetch the file, and the bridge's download failed: ${err.message}`;
    if (err.status !== undefined && !isRetryableStatus(err.status)) return DeliveryError.permanent(reason, 'download_http');
    return DeliveryError.transient(reason, 'download_failed');
  }
  const message = err instanceof Error ? err.message : String(err);
  return DeliveryError.transient(scrub(`The bridge's download of the file failed: ${message}`), 'download_failed');
}

/**
 * The name the upload carries: the download's (Content-Disposition or URL), else "photo"/"file".
 * telegraf's InputFile cannot carry a per-part Content-Type, and Telegram goes by the extension, so
 * a name without one gets the extension of the Content-Type (when known) — that is how the type is
 * kept. Names come sanitized from openDownload (no quotes, CR/LF or directories), which matters
 * because telegraf writes them into the part's header as they are.
 */
export function uploadFileName(download: Pick<Download, 'fileName' | 'contentType'>, method: MediaMethod): string {
  return withExtension(download.fileName ?? (method === 'sendPhoto' ? 'photo' : 'file'), download.contentType);
}
