/**
 * Delivers one agent reply (or bot-flow answer) to a MAX chat (adapters/max/README.md, "Agents' replies").
 *
 * - `text` → POST /messages for each part of at most 4000 UTF-16 units (MAX counts the raw text),
 *   in order, plain (no `format`, so `*`, `_` and `<b>` arrive as typed). A retry resumes after
 *   the parts already sent (SendContext.partsSent / onPartSent). A bot reply's keyboard goes under
 *   its last part: callback buttons, or one request_contact button for the phone request.
 * - `image` / `file` → the bridge downloads the URL (openDownload: size-capped, no private
 *   addresses) and uploads it in MAX's two steps (POST /uploads, then the file to the upload URL),
 *   then sends the token. An image MAX will not take as an image (a type it does not list, or one
 *   its upload host refuses) goes as a file. MAX answers `attachment.not.ready` while it still
 *   processes a fresh upload: the uploaded attachment is kept in Redis for an hour, the send fails
 *   transiently, and the lane's retry (about a second later) sends the same token — the file is
 *   not uploaded again.
 *
 * `ctx.pace()` comes right before each message sent, `ctx.pace('request')` before POST /uploads;
 * the upload host is not the API host and is not paced.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import type { OutboundMessage, ReplyKeyboard, SendContext } from '../../src/adapter.js';
import {
  cleanFileName,
  DeliveryError,
  type Download,
  DownloadFailed,
  DownloadRefused,
  isRetryableStatus,
  mediaType,
  openDownload,
  redact,
  splitText,
} from '../../src/toolkit/index.js';
import { MaxApiError, type MaxApi, type NewMessageBody } from './api.js';
import { classifyMaxError } from './errors.js';

/** NewMessageBody.text: at most 4000 characters (UTF-16 units of the raw text, markup included). */
export const MAX_TEXT_LENGTH = 4000;
/** A button's text: 1-128 characters. */
const MAX_BUTTON_TEXT = 128;
/** The most the bridge downloads to upload to MAX (MAX itself takes images ≤ 50 MB, files ≤ 4 GB). */
export const DEFAULT_MAX_UPLOAD_BYTES = 100 * 1024 * 1024;
export const DEFAULT_UPLOAD_TIMEOUT_MS = 5 * 60_000;
/** How long an uploaded attachment is kept for the retry of its send. */
const UPLOAD_KEEP_MS = 3_600_000;
/** Image types MAX's upload lists (JPG, PNG, GIF, TIFF, BMP, HEIC); others go as files. */
const MAX_IMAGE_TYPES = /^image\/(jpeg|png|gif|tiff|bmp|heic|heif)$/;

export interface MaxSendOptions {
  api: MaxApi;
  redis: Redis;
  /** Key prefix of kept uploads, `<prefix>:max-upload:<channel>`. */
  uploadKeyPrefix: string;
  allowPrivateUrls: boolean;
  /** Timeout of the download's header wait and idle time. */
  timeoutMs: number;
  maxUploadBytes?: number;
  uploadTimeoutMs?: number;
  log?: Logger;
}

type Attachment = { type: 'image' | 'file'; payload: Record<string, unknown> };

export async function sendToMax(o: MaxSendOptions, msg: OutboundMessage, ctx: SendContext): Promise<void> {
  switch (msg.type) {
    case 'text':
      return sendText(o, msg, ctx);
    case 'image':
    case 'file':
      return sendFile(o, msg, ctx);
    default:
      throw DeliveryError.permanent(`Unsupported message type "${String((msg as { type: unknown }).type)}"`, 'unsupported_type');
  }
}

async function sendText(o: MaxSendOptions, msg: OutboundMessage, ctx: SendContext): Promise<void> {
  const parts = splitText(msg.data, MAX_TEXT_LENGTH);
  if (parts.length === 0 || msg.data.trim() === '') {
    throw DeliveryError.permanent('The reply is empty: MAX does not send empty messages', 'empty_text');
  }
  const keyboard = keyboardAttachment(msg.keyboard);
  const already = Math.min(Math.max(Math.trunc(ctx.partsSent), 0), parts.length);
  for (let i = already; i < parts.length; i++) {
    const body: NewMessageBody = { text: parts[i] };
    if (keyboard && i === parts.length - 1) body.attachments = [keyboard];
    await ctx.pace();
    try {
      await o.api.send(msg.client_id, body);
    } catch (err) {
      throw classifyMaxError(err);
    }
    // The last part needs no mark: the message is popped right after it.
    if (i + 1 < parts.length) await ctx.onPartSent(i + 1);
  }
}

/**
 * A bot reply's keyboard as MAX's inline_keyboard attachment: menu buttons → callback buttons (a
 * press comes back as message_callback with the payload); requestPhone → a request_contact button
 * (the user's contact comes back as a message). MAX has no reply keyboard to remove.
 */
export function keyboardAttachment(k: ReplyKeyboard | undefined): Record<string, unknown> | undefined {
  let rows: Array<Array<Record<string, unknown>>> | undefined;
  if (k?.buttons && k.buttons.some((row) => row.length > 0)) {
    rows = k.buttons
      .filter((row) => row.length > 0)
      .map((row) => row.map((b) => ({ type: 'callback', text: buttonText(b.label), payload: b.data })));
  } else if (k?.requestPhone) {
    rows = [[{ type: 'request_contact', text: buttonText(k.requestPhone) }]];
  }
  return rows ? { type: 'inline_keyboard', payload: { buttons: rows } } : undefined;
}

/** 1-128 characters, cut between code points. */
function buttonText(label: string): string {
  const chars = Array.from(label.trim() || '…');
  return chars.length > MAX_BUTTON_TEXT ? `${chars.slice(0, MAX_BUTTON_TEXT - 1).join('')}…` : chars.join('');
}

// ---------------------------------------------------------------------------------------------
// Files

async function sendFile(o: MaxSendOptions, msg: OutboundMessage, ctx: SendContext): Promise<void> {
  const key = `${o.uploadKeyPrefix}:${createHash('sha256').update(`${msg.client_id}\n${msg.type}\n${msg.data}`).digest('base64url')}`;
  let attachment = await keptUpload(o, key);
  if (!attachment) {
    attachment = await upload(o, ctx, msg.data, msg.type === 'image' ? 'image' : 'file');
    await o.redis.set(key, JSON.stringify(attachment), 'PX', UPLOAD_KEEP_MS).catch((err: unknown) => {
      o.log?.debug({ err: redact(String((err as Error)?.message ?? err)) }, 'could not keep the MAX upload for a retry');
    });
  }
  await ctx.pace();
  try {
    await o.api.send(msg.client_id, { attachments: [attachment] });
  } catch (err) {
    const failure = classifyMaxError(err);
    // A transient failure retries with the same token; a permanent one will not need it.
    if (failure.kind === 'permanent') await forget(o, key);
    throw failure;
  }
  await forget(o, key);
}

async function keptUpload(o: MaxSendOptions, key: string): Promise<Attachment | undefined> {
  try {
    const raw = await o.redis.get(key);
    const kept = raw ? (JSON.parse(raw) as Attachment) : undefined;
    return kept && (kept.type === 'image' || kept.type === 'file') && typeof kept.payload === 'object' ? kept : undefined;
  } catch {
    return undefined; // uploading again is slower, not wrong
  }
}

async function forget(o: MaxSendOptions, key: string): Promise<void> {
  await o.redis.del(key).catch(() => undefined);
}

/** Downloads `url` and uploads it to MAX as `wanted`, or as a file when MAX will not take it as an image. */
async function upload(o: MaxSendOptions, ctx: SendContext, url: string, wanted: 'image' | 'file'): Promise<Attachment> {
  const download = await fetchFile(o, url);
  const mime = mediaType(download.contentType);
  const asImage = wanted === 'image' && (mime === '' || mime === 'application/octet-stream' || MAX_IMAGE_TYPES.test(mime));
  if (!asImage) return uploadAs(o, ctx, 'file', download);
  try {
    return await uploadAs(o, ctx, 'image', download);
  } catch (err) {
    if (!isImageRefused(err)) throw classifyMaxError(err);
    o.log?.info({ reason: (err as Error).message }, 'MAX refused the image as an image; sending it as a file');
  }
  return uploadAs(o, ctx, 'file', await fetchFile(o, url));
}

async function fetchFile(o: MaxSendOptions, url: string): Promise<Download> {
  try {
    return await openDownload(url, {
      maxBytes: o.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES,
      allowPrivate: o.allowPrivateUrls,
      timeoutMs: o.timeoutMs,
    });
  } catch (err) {
    throw downloadError(err);
  }
}

/** The upload host refused the bytes as an image (a type it does not take). */
function isImageRefused(err: unknown): boolean {
  return err instanceof MaxApiError && (err.status === 400 || err.status === 415) && err.call.startsWith('POST upload URL');
}

/** The two upload steps; throws MaxApiError for the caller to inspect, DeliveryError for the download. */
async function uploadAs(o: MaxSendOptions, ctx: SendContext, type: 'image' | 'file', download: Download): Promise<Attachment> {
  // A failing download must fail the upload, and be what is reported.
  let downloadErr: unknown;
  download.stream.on('error', (e: unknown) => (downloadErr ??= e));
  try {
    await ctx.pace('request');
    const endpoint = await o.api.uploadEndpoint(type);
    const answer = await o.api.uploadFile(
      endpoint.url,
      {
        stream: download.stream,
        name: cleanFileName(download.fileName, type === 'image' ? 'image' : 'file'),
        contentType: mediaType(download.contentType) || 'application/octet-stream',
        size: download.size,
      },
      Math.max(o.uploadTimeoutMs ?? DEFAULT_UPLOAD_TIMEOUT_MS, o.timeoutMs),
    );
    return { type, payload: attachmentPayload(type, answer, endpoint.token) };
  } catch (err) {
    if (downloadErr !== undefined) throw downloadError(downloadErr);
    if (err instanceof MaxApiError && isImageRefused(err) && type === 'image') throw err;
    throw classifyMaxError(err);
  } finally {
    download.stream.destroy();
  }
}

/** What the upload answered, as the attachment's payload: {photos} for images, {token} otherwise. */
function attachmentPayload(
  type: 'image' | 'file',
  answer: Record<string, unknown> | undefined,
  early?: string | null,
): Record<string, unknown> {
  if (type === 'image' && answer && typeof answer.photos === 'object' && answer.photos !== null) return { photos: answer.photos };
  const token = typeof answer?.token === 'string' ? answer.token : (early ?? undefined);
  if (token) return { token };
  throw DeliveryError.transient('MAX answered the upload without a token', 'bad_response');
}

function downloadError(err: unknown): DeliveryError {
  if (err instanceof DeliveryError) return err;
  if (err instanceof DownloadRefused) {
    return DeliveryError.permanent(`The bridge will not download the file for MAX: ${err.message}`, `download_${err.code}`);
  }
  if (err instanceof DownloadFailed) {
    const reason = `The bridge's download of the file for MAX failed: ${err.message}`;
    if (err.status !== undefined && !isRetryableStatus(err.status)) return DeliveryError.permanent(reason, 'download_http');
    return DeliveryError.transient(reason, 'download_failed');
  }
  return DeliveryError.transient(
    redact(`The bridge's download of the file failed: ${(err as Error)?.message ?? String(err)}`),
    'download_failed',
  );
}
