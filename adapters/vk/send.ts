/**
 * Delivers one agent reply (or bot-flow answer) to a VK conversation with messages.send
 * (adapters/vk/README.md "Blinger → VK"):
 *
 * - `text` → one message per splitText part (4096 characters: VK's Russian docs; the English docs
 *   and the schema say 9000 — docs/vendors/vk.md §5), in order, resuming after `ctx.partsSent`; a
 *   bot reply's keyboard goes with the last part.
 * - `image` → downloaded (streamed, capped), uploaded through photos.getMessagesUploadServer →
 *   the upload server (field `photo`) → photos.saveMessagesPhoto, then sent as `photo<owner>_<id>`.
 *   A type VK photos do not take, or a photo VK refuses, goes as a document instead.
 * - `file` → docs.getMessagesUploadServer → the upload server (field `file`) → docs.save, sent as
 *   `doc<owner>_<id>`.
 *
 * Every message carries a `random_id` derived from the queue item's id and the part's number:
 * VK drops a repeated random_id, so a retry after a crash between VK's answer and the bridge's
 * bookkeeping is not a second message. API calls that are not the send are paced as requests
 * (`ctx.pace('request')`), the send itself as a message (`ctx.pace()`); uploads go to VK's upload
 * servers, which are not API calls.
 */
import { createHash, randomInt } from 'node:crypto';
import type { Logger } from 'pino';
import type { ZodType } from 'zod';
import type { OutboundMessage, SendContext } from '../../src/adapter.js';
import { DeliveryError, openDownload, splitText, withExtension, type Download } from '../../src/toolkit/index.js';
import {
  docUploadSchema,
  ownedMediaSchema,
  photoUploadSchema,
  savedDocSchema,
  savedPhotosSchema,
  uploadServerSchema,
  VkApiError,
  VkTransportError,
  type VkApi,
} from './api.js';
import { classifyVkError, downloadError } from './errors.js';
import { renderKeyboard } from './keyboard.js';
import { FULL_CAPS, type Caps } from './store.js';

/** messages.send's `message`: the stricter of VK's two documented lengths. */
export const VK_TEXT_LIMIT = 4096;
/** VK's upload limits: photos 50 MB, documents 200 MB (docs/vendors/vk.md §2). */
export const MAX_PHOTO_BYTES = 50 * 1024 * 1024;
export const MAX_DOC_BYTES = 200 * 1024 * 1024;
export const UPLOAD_TIMEOUT_MS = 5 * 60_000;
/** Types VK takes as message photos (JPG, PNG, GIF); anything else goes as a document. */
const PHOTO_TYPES = new Set(['image/jpeg', 'image/jpg', 'image/pjpeg', 'image/png', 'image/gif']);

export interface VkSendDeps {
  api: VkApi;
  allowPrivateUrls: boolean;
  timeoutMs: number;
  log: Logger;
  /** What the user's app can show (keyboards). */
  caps(peer: number): Promise<Caps>;
  /** A bot flow asked the user for their phone number. */
  phoneAsked(peer: number): Promise<void>;
}

/**
 * A random_id for part `part` of the message `messageId`: 48 bits of a hash, so the same message
 * gets the same id on every attempt and two messages practically never share one. VK takes values
 * beyond 32 bits (vk-io sends Date.now()-based ones; VK's 2019 docs: "use a large range, up to
 * int64"), and 48 bits stay exact in JavaScript and in any JSON parser. Without an id (a caller
 * outside the queue), a random one.
 */
export function randomIdFor(messageId: string | undefined, part: number): string {
  if (!messageId) return String(randomInt(1, 2 ** 47));
  const n = createHash('sha256').update(`${messageId}:${part}`).digest().readUIntBE(0, 6);
  return String(n === 0 ? 1 : n);
}

export function peerOf(clientId: string): number {
  const peer = /^\d{1,15}$/.test(clientId) ? Number(clientId) : NaN;
  if (!Number.isSafeInteger(peer) || peer <= 0) {
    throw DeliveryError.permanent(
      `client_id "${clientId.slice(0, 40)}" is not a VK peer_id (a user id or 2000000000 + a chat number)`,
      'bad_peer',
    );
  }
  return peer;
}

export async function sendToVk(deps: VkSendDeps, message: OutboundMessage, ctx: SendContext): Promise<void> {
  const peer = peerOf(message.client_id);
  if (message.type === 'text') return sendText(deps, peer, message, ctx);
  const attachment = await uploadAttachment(deps, peer, message, ctx);
  await callSend(deps, ctx, { peer_id: peer, random_id: randomIdFor(ctx.messageId, 0), attachment });
}

async function sendText(deps: VkSendDeps, peer: number, message: OutboundMessage, ctx: SendContext): Promise<void> {
  const parts = splitText(message.data, VK_TEXT_LIMIT);
  const k = message.keyboard;
  // Before the question goes out, so an answer typed at once is already recognised.
  if (k?.requestPhone) await deps.phoneAsked(peer);
  const keyboard = renderKeyboard(k, k?.buttons?.length ? await deps.caps(peer) : FULL_CAPS);
  for (let i = ctx.partsSent; i < parts.length; i++) {
    const last = i + 1 === parts.length;
    await callSend(deps, ctx, {
      peer_id: peer,
      random_id: randomIdFor(ctx.messageId, i),
      message: parts[i],
      ...(last && keyboard ? { keyboard } : {}),
    });
    if (!last) await ctx.onPartSent(i + 1);
  }
}

async function callSend(deps: VkSendDeps, ctx: SendContext, params: Record<string, string | number | undefined>): Promise<void> {
  await ctx.pace();
  try {
    await deps.api.call('messages.send', params);
  } catch (err) {
    throw classifyVkError(err);
  }
}

/** One paced API call that is not a message, its answer checked. */
async function request<T>(
  deps: VkSendDeps,
  ctx: SendContext,
  method: string,
  schema: ZodType<T>,
  params: Record<string, string | number>,
): Promise<T> {
  await ctx.pace('request');
  return deps.api.callAs(method, schema, params);
}

// ---------------------------------------------------------------------------------------------
// Uploads

async function download(deps: VkSendDeps, url: string, maxBytes: number): Promise<Download> {
  try {
    return await openDownload(url, { maxBytes, allowPrivate: deps.allowPrivateUrls, timeoutMs: deps.timeoutMs });
  } catch (err) {
    throw downloadError(err);
  }
}

async function uploadAttachment(deps: VkSendDeps, peer: number, message: OutboundMessage, ctx: SendContext): Promise<string> {
  if (message.type === 'image') {
    const file = await download(deps, message.data, MAX_PHOTO_BYTES);
    if (isPhotoType(file)) {
      const photo = await uploadPhoto(deps, peer, file, ctx);
      if (photo) return photo;
      deps.log.info({ peer }, 'VK refused the image as a photo; sending it as a document');
      return uploadDoc(deps, peer, await download(deps, message.data, MAX_PHOTO_BYTES), ctx);
    }
    return uploadDoc(deps, peer, file, ctx);
  }
  return uploadDoc(deps, peer, await download(deps, message.data, MAX_DOC_BYTES), ctx);
}

function isPhotoType(file: Download): boolean {
  const mime = file.contentType?.split(';')[0]?.trim().toLowerCase();
  if (mime && mime !== 'application/octet-stream') return PHOTO_TYPES.has(mime);
  // No useful type: go by the name, and try a photo when there is none.
  const ext = /\.([a-z0-9]{1,5})$/i.exec(file.fileName ?? '')?.[1]?.toLowerCase();
  return ext === undefined || ['jpg', 'jpeg', 'png', 'gif'].includes(ext);
}

/** The photo's attachment string, or undefined when VK would not take it as a photo. */
async function uploadPhoto(deps: VkSendDeps, peer: number, file: Download, ctx: SendContext): Promise<string | undefined> {
  try {
    const server = await request(deps, ctx, 'photos.getMessagesUploadServer', uploadServerSchema, { peer_id: peer });
    const answer = photoUploadSchema.safeParse(await postFile(deps, server.upload_url, 'photo', file, 'photo'));
    // The upload server answers `photo: "[]"` for a file it could not read as an image.
    if (!answer.success || answer.data.photo === '[]' || answer.data.photo === '') return undefined;
    const saved = await request(deps, ctx, 'photos.saveMessagesPhoto', savedPhotosSchema, {
      photo: answer.data.photo,
      server: String(answer.data.server),
      hash: answer.data.hash,
    });
    return attachmentOf('photo', saved[0]!);
  } catch (err) {
    // 100 "photos_list is invalid", 129 "invalid photo": the content, not the request.
    if (err instanceof VkApiError && (err.code === 129 || (err.code === 100 && /photo/i.test(err.description)))) return undefined;
    throw classifyVkError(err);
  } finally {
    file.stream.destroy();
  }
}

async function uploadDoc(deps: VkSendDeps, peer: number, file: Download, ctx: SendContext): Promise<string> {
  try {
    const server = await request(deps, ctx, 'docs.getMessagesUploadServer', uploadServerSchema, { type: 'doc', peer_id: peer });
    const parsed = docUploadSchema.safeParse(await postFile(deps, server.upload_url, 'file', file, 'file'));
    if (!parsed.success) throw DeliveryError.transient("VK's upload server answered something unexpected", 'bad_response');
    const answer = parsed.data;
    if ('error' in answer) throw DeliveryError.permanent(`VK's upload server refused the file: ${answer.error}`, 'upload_refused');
    const saved = await request(deps, ctx, 'docs.save', savedDocSchema, { file: answer.file, title: uploadName(file, 'file') });
    const doc = ownedMediaSchema.safeParse(saved[saved.type]);
    if (!doc.success) throw DeliveryError.transient(`VK docs.save answered an unexpected ${saved.type}`, 'bad_response');
    return attachmentOf('doc', doc.data);
  } catch (err) {
    if (err instanceof VkApiError && err.code === 105) {
      throw DeliveryError.permanent(`VK could not save the file: ${err.description}`, 'upload_refused');
    }
    throw classifyVkError(err);
  } finally {
    file.stream.destroy();
  }
}

/**
 * Streams the download into the upload. If the download fails midway (too big, stalled), the
 * upload fails with it, and the download's error is what gets reported.
 */
async function postFile(deps: VkSendDeps, url: string, field: string, file: Download, fallbackName: string): Promise<unknown> {
  let downloadErr: unknown;
  file.stream.on('error', (e: unknown) => (downloadErr ??= e));
  try {
    return await deps.api.upload(
      url,
      {
        field,
        fileName: uploadName(file, fallbackName),
        stream: file.stream,
        ...(file.contentType ? { contentType: file.contentType.split(';')[0]!.trim() } : {}),
        ...(file.size !== undefined ? { size: file.size } : {}),
      },
      Math.max(UPLOAD_TIMEOUT_MS, deps.timeoutMs),
    );
  } catch (err) {
    if (downloadErr !== undefined) throw downloadError(downloadErr);
    if (err instanceof VkTransportError && err.status === 413) {
      throw DeliveryError.permanent("the file is larger than VK's upload server takes", 'upload_refused');
    }
    throw err;
  }
}

function attachmentOf(kind: 'photo' | 'doc', m: { owner_id: number; id: number; access_key?: string }): string {
  return `${kind}${m.owner_id}_${m.id}${m.access_key ? `_${m.access_key}` : ''}`;
}

/**
 * The name the upload carries: the download's (Content-Disposition or URL, already sanitized by
 * openDownload), else "photo"/"file"; VK goes by the extension, so a name without one gets the
 * Content-Type's.
 */
export function uploadName(file: Pick<Download, 'fileName' | 'contentType'>, fallback: string): string {
  return withExtension(file.fileName ?? fallback, file.contentType);
}
