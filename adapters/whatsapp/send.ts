/**
 * Delivers one agent reply (or bot answer) through the Cloud API: `POST /<phone-number-id>/messages`
 * (docs/vendors/meta.md §3.3).
 *
 * - `text` → text messages of at most 4096 characters (split on line or word boundaries, never
 *   inside a character); a retry resumes after the parts already sent (`ctx.partsSent`).
 * - a bot reply's buttons → reply buttons (≤ 3, titles ≤ 20) or else a list (≤ 10 rows) under the
 *   last part, whose body may hold 1024 characters; "share my phone" → WhatsApp's
 *   `request_contact_info` button, whose answer is the user's own contact card.
 * - `image` / `file` → by upload (the bridge downloads the file, picks WhatsApp's type from its
 *   Content-Type or extension, uploads it to `/media`, sends the id) or by link (`mediaBy: link`).
 *   A file WhatsApp takes in no form (a zip, a GIF, too big) goes as a text with its name and URL.
 *
 * The recipient is the conversation's BSUID (`recipient`) or, for conversations keyed by phone
 * number, `to`. Every request that sends a message awaits `ctx.pace()` first; the upload step
 * `ctx.pace('request')`.
 */
import { pipeline, Transform, type Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { OutboundMessage, ReplyButton, ReplyKeyboard, SendContext } from '../../src/adapter.js';
import {
  DeliveryError,
  DownloadFailed,
  DownloadRefused,
  fileNameFromUrl,
  isRetryableStatus,
  mediaType,
  openDownload,
  splitText,
  type Download,
  type GraphClient,
} from '../../src/toolkit/index.js';
import { classifyWhatsAppError } from './errors.js';
import { BSUID } from './normalize.js';

export const TEXT_LIMIT = 4096;
export const INTERACTIVE_BODY_LIMIT = 1024;
const MAX_REPLY_BUTTONS = 3;
const BUTTON_TITLE = 20;
const LIST_ROWS = 10;
const ROW_TITLE = 24;
const ROW_DESCRIPTION = 72;
const LIST_BUTTON = 'Menu';
/** Uploads stream the whole file: give them longer than an ordinary call. */
const UPLOAD_TIMEOUT_MS = 5 * 60_000;

export interface WhatsAppSender {
  graph: GraphClient;
  phoneNumberId: string;
  mediaBy: 'upload' | 'link';
  allowPrivateUrls: boolean;
  timeoutMs: number;
  log?: Logger;
}

type Recipient = { to: string } | { recipient: string };

/** Who a conversation's messages go to: a BSUID by `recipient`, a phone number by `to`. */
export function recipientOf(clientId: string): Recipient {
  if (BSUID.test(clientId)) return { recipient: clientId };
  if (/^\d{5,20}$/.test(clientId)) return { to: clientId };
  throw DeliveryError.permanent(`"${clientId.slice(0, 80)}" is not a WhatsApp user id (a BSUID or a phone number)`, 'bad_client_id');
}

export async function sendToWhatsApp(s: WhatsAppSender, msg: OutboundMessage, ctx: SendContext): Promise<void> {
  const to = recipientOf(msg.client_id);
  switch (msg.type) {
    case 'text':
      return sendText(s, to, msg, ctx);
    case 'image':
    case 'file':
      return sendFile(s, to, msg.type, msg.data, ctx);
    default:
      throw DeliveryError.permanent(`Unsupported message type "${String((msg as { type: unknown }).type)}"`, 'unsupported_type');
  }
}

/** POST /<phone-number-id>/messages; resolves with the wamid. */
async function post(s: WhatsAppSender, to: Recipient, content: Record<string, unknown>, what: string): Promise<string> {
  const body = { messaging_product: 'whatsapp', recipient_type: 'individual', ...to, ...content };
  try {
    const res = await s.graph.post<{ messages?: Array<{ id?: string }> }>(`${s.phoneNumberId}/messages`, body, what);
    return res.messages?.[0]?.id ?? '';
  } catch (err) {
    throw classifyWhatsAppError(err, what);
  }
}

/** The text's parts: 4096 each; with buttons under it, the last one fits an interactive body. */
export function textParts(text: string, keyboard: ReplyKeyboard | undefined): string[] {
  const parts = splitText(text, TEXT_LIMIT);
  if (!interactiveKind(keyboard) || parts.length === 0) return parts;
  const last = parts.pop()!;
  return [...parts, ...splitText(last, INTERACTIVE_BODY_LIMIT)];
}

async function sendText(s: WhatsAppSender, to: Recipient, msg: OutboundMessage, ctx: SendContext): Promise<void> {
  if (msg.data.trim() === '') throw DeliveryError.permanent('The reply is empty: WhatsApp does not send empty messages', 'empty_text');
  const parts = textParts(msg.data, msg.keyboard);
  const already = Math.min(Math.max(Math.trunc(ctx.partsSent), 0), parts.length);
  for (let i = already; i < parts.length; i++) {
    const part = parts[i]!;
    const last = i === parts.length - 1;
    const content = last && msg.keyboard ? (interactive(part, msg.keyboard) ?? textContent(part)) : textContent(part);
    await ctx.pace();
    await post(s, to, content, 'WhatsApp send');
    if (!last) await ctx.onPartSent(i + 1);
  }
}

const textContent = (body: string) => ({ type: 'text', text: { body } });

function interactiveKind(k: ReplyKeyboard | undefined): 'buttons' | 'phone' | undefined {
  if (k?.buttons && k.buttons.flat().length > 0) return 'buttons';
  if (k?.requestPhone) return 'phone';
  return undefined;
}

/** A bot reply's keyboard as WhatsApp's interactive message (undefined: plain text). */
export function interactive(body: string, k: ReplyKeyboard): Record<string, unknown> | undefined {
  const kind = interactiveKind(k);
  if (kind === 'phone') {
    return {
      type: 'interactive',
      interactive: { type: 'request_contact_info', body: { text: body }, action: { name: 'request_contact_info' } },
    };
  }
  if (kind !== 'buttons') return undefined;
  const buttons = k.buttons!.flat();
  const titles = new Set(buttons.map((b) => b.label));
  const fitsButtons =
    buttons.length <= MAX_REPLY_BUTTONS && titles.size === buttons.length && buttons.every((b) => b.label.length <= BUTTON_TITLE);
  if (fitsButtons) {
    return {
      type: 'interactive',
      interactive: {
        type: 'button',
        body: { text: body },
        action: { buttons: buttons.map((b) => ({ type: 'reply', reply: { id: b.data, title: b.label } })) },
      },
    };
  }
  return {
    type: 'interactive',
    interactive: { type: 'list', body: { text: body }, action: { button: LIST_BUTTON, sections: [{ rows: listRows(buttons) }] } },
  };
}

/** At most ten rows; a long label is cut for the title and shown whole (to 72) as the description. */
function listRows(buttons: ReplyButton[]): Record<string, string>[] {
  return buttons.slice(0, LIST_ROWS).map((b) => {
    const row: Record<string, string> = { id: b.data, title: clip(b.label, ROW_TITLE) };
    if (b.label.length > ROW_TITLE) row.description = clip(b.label, ROW_DESCRIPTION);
    return row;
  });
}

/** The first `max` characters on a word or character boundary, with an ellipsis when cut. */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${splitText(text, max - 1)[0] ?? ''}…`;
}

/** The re-opening template (no variables), for conversations outside the 24-hour window. */
export async function sendTemplate(
  s: WhatsAppSender,
  clientId: string,
  template: { name: string; language: string },
  pace: () => Promise<void>,
): Promise<void> {
  await pace();
  await post(
    s,
    recipientOf(clientId),
    { type: 'template', template: { name: template.name, language: { code: template.language } } },
    'WhatsApp template',
  );
}

// ---------------------------------------------------------------------------------------------
// Files

type WaMedia = 'image' | 'video' | 'audio' | 'document';

/** What Media Upload accepts, by the file part's bare type, with WhatsApp's size limit (docs/vendors/meta.md §3.5). */
const UPLOAD_TYPES: Record<string, { kind: WaMedia; maxBytes: number }> = {
  'image/jpeg': { kind: 'image', maxBytes: 5 * 1024 * 1024 },
  'image/png': { kind: 'image', maxBytes: 5 * 1024 * 1024 },
  'video/mp4': { kind: 'video', maxBytes: 16 * 1024 * 1024 },
  'video/3gpp': { kind: 'video', maxBytes: 16 * 1024 * 1024 },
  'audio/aac': { kind: 'audio', maxBytes: 16 * 1024 * 1024 },
  'audio/amr': { kind: 'audio', maxBytes: 16 * 1024 * 1024 },
  'audio/mpeg': { kind: 'audio', maxBytes: 16 * 1024 * 1024 },
  'audio/mp4': { kind: 'audio', maxBytes: 16 * 1024 * 1024 },
  'audio/ogg': { kind: 'audio', maxBytes: 16 * 1024 * 1024 },
  'text/plain': { kind: 'document', maxBytes: 100 * 1024 * 1024 },
  'application/pdf': { kind: 'document', maxBytes: 100 * 1024 * 1024 },
  'application/msword': { kind: 'document', maxBytes: 100 * 1024 * 1024 },
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': { kind: 'document', maxBytes: 100 * 1024 * 1024 },
  'application/vnd.ms-excel': { kind: 'document', maxBytes: 100 * 1024 * 1024 },
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': { kind: 'document', maxBytes: 100 * 1024 * 1024 },
  'application/vnd.ms-powerpoint': { kind: 'document', maxBytes: 100 * 1024 * 1024 },
  'application/vnd.openxmlformats-officedocument.presentationml.presentation': { kind: 'document', maxBytes: 100 * 1024 * 1024 },
};

/** For files served as application/octet-stream: the type their extension names. */
const BY_EXTENSION: Record<string, string> = {
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  mp4: 'video/mp4',
  '3gp': 'video/3gpp',
  aac: 'audio/aac',
  amr: 'audio/amr',
  mp3: 'audio/mpeg',
  m4a: 'audio/mp4',
  ogg: 'audio/ogg',
  opus: 'audio/ogg',
  txt: 'text/plain',
  pdf: 'application/pdf',
  doc: 'application/msword',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  xls: 'application/vnd.ms-excel',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  ppt: 'application/vnd.ms-powerpoint',
  pptx: 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
};

/**
 * The type to upload a file as: its bare Content-Type when WhatsApp takes it (parameters such as
 * `; codecs=opus` make Meta refuse the upload), else the type its extension names.
 */
export function uploadType(contentType: string | undefined, fileName: string | undefined): string | undefined {
  const bare = mediaType(contentType);
  if (Object.hasOwn(UPLOAD_TYPES, bare)) return bare;
  const ext = /\.([A-Za-z0-9]{1,5})$/.exec(fileName ?? '')?.[1]?.toLowerCase();
  const byExt = ext && Object.hasOwn(BY_EXTENSION, ext) ? BY_EXTENSION[ext] : undefined;
  return byExt && (bare === '' || bare === 'application/octet-stream' || bare === 'binary/octet-stream') ? byExt : undefined;
}

async function sendFile(s: WhatsAppSender, to: Recipient, type: 'image' | 'file', url: string, ctx: SendContext): Promise<void> {
  if (s.mediaBy === 'link') {
    const content =
      type === 'image'
        ? { type: 'image', image: { link: url } }
        : { type: 'document', document: { link: url, ...withFileName(nameOf(url)) } };
    await ctx.pace();
    await post(s, to, content, 'WhatsApp send');
    return;
  }
  const uploaded = await upload(s, url, ctx);
  if (!uploaded) {
    // A file WhatsApp takes in no form: the user gets its name and link instead of nothing.
    await ctx.pace();
    await post(s, to, textContent(`${nameOf(url) ?? 'File'}: ${url}`), 'WhatsApp send');
    return;
  }
  const { id, kind, fileName } = uploaded;
  const media = kind === 'document' ? { id, ...withFileName(fileName) } : { id };
  await ctx.pace();
  await post(s, to, { type: kind, [kind]: media }, 'WhatsApp send');
}

const withFileName = (name: string | undefined) => (name ? { filename: name } : {});

/**
 * Downloads `url` and uploads it to /media as WhatsApp's type for it; undefined when WhatsApp
 * takes no file of that type or size (the caller sends a link instead).
 */
async function upload(
  s: WhatsAppSender,
  url: string,
  ctx: SendContext,
): Promise<{ id: string; kind: WaMedia; fileName?: string } | undefined> {
  let download: Download;
  try {
    download = await openDownload(url, { maxBytes: 100 * 1024 * 1024, allowPrivate: s.allowPrivateUrls, timeoutMs: s.timeoutMs });
  } catch (err) {
    throw downloadError(err);
  }
  const fileName = download.fileName;
  const mime = uploadType(download.contentType, fileName);
  const accepted = mime && Object.hasOwn(UPLOAD_TYPES, mime) ? UPLOAD_TYPES[mime] : undefined;
  if (!mime || !accepted || (download.size !== undefined && download.size > accepted.maxBytes)) {
    download.stream.destroy();
    s.log?.info({ type: mediaType(download.contentType) || 'none', size: download.size }, 'WhatsApp takes no such file; sending its link');
    return undefined;
  }
  // Past WhatsApp's limit mid-stream, the download errors and so does the upload: remember which.
  let downloadErr: unknown;
  const limited = capped(download, accepted.maxBytes, (e) => {
    downloadErr ??= e;
  });
  try {
    await ctx.pace('request');
    const res = await s.graph.postMultipart<{ id?: string }>(
      `${s.phoneNumberId}/media`,
      [
        { name: 'messaging_product', value: 'whatsapp' },
        { name: 'type', value: mime },
        { name: 'file', filename: fileName ?? `file.${mime.split('/')[1]}`, contentType: mime, data: limited },
      ],
      Math.max(UPLOAD_TIMEOUT_MS, s.timeoutMs),
      'WhatsApp media upload',
    );
    if (!res.id) throw DeliveryError.transient('WhatsApp media upload answered without an id', 'bad_response');
    return { id: res.id, kind: accepted.kind, ...(fileName ? { fileName } : {}) };
  } catch (err) {
    if (downloadErr instanceof DownloadRefused && downloadErr.code === 'too_large') return undefined;
    if (downloadErr !== undefined) throw downloadError(downloadErr);
    throw classifyWhatsAppError(err, 'WhatsApp media upload');
  } finally {
    download.stream.destroy();
  }
}

/** The download, refused past `max` bytes (WhatsApp's limit for its type) rather than at 100 MB. */
function capped(download: Download, max: number, onError: (err: unknown) => void): Readable {
  let seen = 0;
  const limit = new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > max) done(new DownloadRefused(`The file is larger than WhatsApp's ${max} bytes for its type`, 'too_large'));
      else done(null, chunk);
    },
  });
  pipeline(download.stream, limit, (err) => {
    if (err) onError(err);
  });
  return limit;
}

/** A URL's file name, when it has one. */
function nameOf(url: string): string | undefined {
  try {
    return fileNameFromUrl(new URL(url));
  } catch {
    return undefined;
  }
}

function downloadError(err: unknown): DeliveryError {
  if (err instanceof DeliveryError) return err;
  if (err instanceof DownloadRefused)
    return DeliveryError.permanent(`The bridge will not download the file: ${err.message}`, `download_${err.code}`);
  if (err instanceof DownloadFailed) {
    const reason = `The bridge could not download the file: ${err.message}`;
    if (err.status !== undefined && !isRetryableStatus(err.status)) return DeliveryError.permanent(reason, 'download_http');
    return DeliveryError.transient(reason, 'download_failed');
  }
  return DeliveryError.transient(
    `The bridge could not download the file: ${err instanceof Error ? err.message : String(err)}`,
    'download_failed',
  );
}
