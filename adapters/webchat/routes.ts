/**
 * The web chat's own routes:
 *   GET  /chat/:channelId          the chat page (embeddable in an iframe)
 *   GET  /chat/:channelId/ws       the page's WebSocket (protocol.ts)
 *   POST /chat/:channelId/upload   one file, raw body (Content-Type = the file's type), size-capped
 *                                  (and its CORS preflight, for pages of another allowed origin)
 *   GET  /webchat/assets/:file     chat.js, chat.css, embed.js
 * Bad input gets a clear answer to that client only: 404 unknown chat (an HTML page, or close
 * code 4404 on the socket), 413 over the upload cap, 429 / a `rate_limited` frame over a quota
 * (naming it), 403 / close code 4403 from a page origin the channel does not allow, an `error`
 * frame for a malformed frame or a press of a button the visitor was never shown.
 */
import websocket from '@fastify/websocket';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Adapter, AdapterRouteDeps } from '../../src/adapter.js';
import { cleanFileName, escapeHtml, loadAssets, mediaType, redact, render, sendAsset } from '../../src/toolkit/index.js';
import { addressOf, frameAncestors, originRefusal } from './access.js';
import { WebchatAdapter, type Visitor } from './adapter.js';
import type { ChatSocket } from './hub.js';
import {
  clientIdOf,
  describeFrameIssues,
  MAX_FRAME_BYTES,
  MAX_TEXT,
  messageId,
  PHONE_PATTERN,
  visitorContext,
  visitorKey,
} from './protocol.js';
import { formatBytes, QuotaExceeded, type Refusal } from './quota.js';
import { runSession, send } from './session.js';

const ASSETS = loadAssets(new URL('./assets/', import.meta.url), ['chat.html', 'chat.css', 'chat.js', 'embed.js']);
const PUBLIC_ASSETS = new Set(['chat.css', 'chat.js', 'embed.js']);

type Lookup = (channelId: string) => Adapter | undefined;

function webchatOf(lookup: Lookup, channelId: string): WebchatAdapter | undefined {
  const a = lookup(channelId);
  return a instanceof WebchatAdapter ? a : undefined;
}

function fail(reply: FastifyReply, status: number, error: string, message: string): FastifyReply {
  return reply.code(status).send({ error, message });
}

function tooMany(reply: FastifyReply, refusal: Refusal): FastifyReply {
  if (refusal.retryAfterMs !== undefined) reply.header('retry-after', String(Math.ceil(refusal.retryAfterMs / 1000)));
  const body: Record<string, unknown> = { error: 'rate_limited', limit: refusal.limit, message: refusal.message };
  if (refusal.retryAfterMs !== undefined) body.retryAfterMs = refusal.retryAfterMs;
  return reply.code(429).send(body);
}

/** Lets a page of another (allowed) origin read the upload's answer: your own page as a client. */
function allowCors(reply: FastifyReply, origin: string | string[] | undefined): void {
  if (typeof origin === 'string' && origin !== '') reply.header('access-control-allow-origin', origin).header('vary', 'origin');
}

function pageHeaders(reply: FastifyReply, chat: WebchatAdapter): void {
  const ws = chat.publicUrl.replace(/^http/, 'ws').replace(/^(wss?:\/\/[^/]+).*$/, '$1');
  reply
    .header(
      'content-security-policy',
      // Agents' images may be anywhere (https); everything else comes from the bridge itself.
      `default-src 'none'; script-src 'self'; style-src 'self'; img-src * data: blob:; media-src *; connect-src 'self' ${ws}; base-uri 'none'; form-action 'none'; frame-ancestors ${frameAncestors(chat)}`,
    )
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', 'no-store');
}

function notFoundPage(reply: FastifyReply, channelId: string): FastifyReply {
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>Chat not found</title></head>
<body style="font-family:system-ui,sans-serif;margin:2rem;color:#1f2937"><h1 style="font-size:1.25rem">This chat does not exist</h1>
<p>There is no web chat named “${escapeHtml(channelId)}” on this server. Check the address, or the <code>id</code> of the channel in the bridge's configuration.</p></body></html>`;
  return reply.code(404).type('text/html; charset=utf-8').header('x-content-type-options', 'nosniff').send(html);
}

export function registerWebchatRoutes(app: FastifyInstance, lookup: Lookup, deps: AdapterRouteDeps): void {
  const log = deps.log;
  const maxUpload = Math.max(1, ...deps.channelIds.map((id) => webchatOf(lookup, id)?.settings.maxUploadBytes ?? 0));

  // Encapsulated: the socket plugin and the raw-body parser apply to these routes only.
  app.register(async (scope) => {
    await scope.register(websocket, {
      options: { maxPayload: MAX_FRAME_BYTES },
      // `ws` closes the socket itself with the right code (1009 for a frame over maxPayload).
      errorHandler: (err) => log.debug({ err: redact(String(err)) }, 'web chat socket error'),
    });
    // Uploads are the file itself as the body, whatever its type (a .json file too: no JSON parser here).
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    scope.setErrorHandler((err: Error & { statusCode?: number }, req, reply) => {
      if (err.statusCode === 413) {
        const limit = webchatOf(lookup, (req.params as { channelId?: string }).channelId ?? '')?.settings.maxUploadBytes ?? maxUpload;
        return fail(reply, 413, 'payload_too_large', `the file is larger than ${formatBytes(limit)}, the most this chat accepts`);
      }
      const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
      if (status === 500) log.error({ err: redact(err.message) }, 'web chat request failed');
      return fail(reply, status, status === 500 ? 'error' : 'bad_request', status === 500 ? 'internal error' : redact(err.message));
    });

    scope.get<{ Params: { file: string } }>('/webchat/assets/:file', async (req, reply) => {
      const asset = PUBLIC_ASSETS.has(req.params.file) ? ASSETS.get(req.params.file) : undefined;
      if (!asset) return fail(reply, 404, 'not_found', 'no such file');
      if (req.params.file === 'embed.js') reply.header('access-control-allow-origin', '*');
      return sendAsset(req, reply, asset);
    });

    scope.get<{ Params: { channelId: string } }>('/chat/:channelId', async (req, reply) => {
      const chat = webchatOf(lookup, req.params.channelId);
      if (!chat) return notFoundPage(reply, req.params.channelId);
      pageHeaders(reply, chat);
      const html = render(ASSETS.get('chat.html')!.body, {
        title: chat.settings.title,
        greeting: chat.settings.greeting ?? '',
        channel: chat.channelId,
        maxUpload: chat.settings.maxUploadBytes,
        maxUploadText: formatBytes(chat.settings.maxUploadBytes),
        maxText: MAX_TEXT,
        phonePattern: PHONE_PATTERN,
      });
      return reply.type('text/html; charset=utf-8').send(html);
    });

    scope.get<{ Params: { channelId: string } }>(
      '/chat/:channelId/ws',
      { websocket: true },
      (socket: ChatSocket, req: FastifyRequest<{ Params: { channelId: string } }>) => {
        const chat = webchatOf(lookup, req.params.channelId);
        if (!chat) {
          send(socket, { type: 'error', code: 'unknown_chat', message: `there is no web chat "${req.params.channelId}" on this server` });
          socket.close(4404, 'unknown chat');
          return;
        }
        if (!chat.live) {
          // Starting, stopping, or a worker-only process: the page retries, here or elsewhere.
          send(socket, { type: 'error', code: 'unavailable', message: 'the chat is not available on this server right now; reconnecting' });
          socket.close(1013, 'try again later');
          return;
        }
        runSession(chat, socket, {
          userAgent: req.headers['user-agent'],
          ip: addressOf(chat, req),
          originRefusal: originRefusal(chat, req.headers),
        });
      },
    );

    // The browser's preflight of an upload from another origin (the headers below are not "simple").
    scope.options<{ Params: { channelId: string } }>('/chat/:channelId/upload', async (req, reply) => {
      const chat = webchatOf(lookup, req.params.channelId);
      if (!chat) return fail(reply, 404, 'not_found', `there is no web chat "${req.params.channelId}" on this server`);
      const refused = originRefusal(chat, req.headers);
      if (refused) return fail(reply, 403, 'forbidden', refused);
      allowCors(reply, req.headers.origin);
      return reply
        .code(204)
        .header('access-control-allow-methods', 'POST')
        .header('access-control-allow-headers', 'content-type, x-visitor-key, x-message-id, x-file-name, x-chat-context')
        .header('access-control-max-age', '600')
        .send();
    });

    scope.post<{ Params: { channelId: string } }>(
      '/chat/:channelId/upload',
      {
        bodyLimit: maxUpload,
        // Refuse before reading the body when its announced size already says no.
        onRequest: async (req, reply) => {
          const chat = webchatOf(lookup, req.params.channelId);
          if (!chat) return fail(reply, 404, 'not_found', `there is no web chat "${req.params.channelId}" on this server`);
          const refused = originRefusal(chat, req.headers);
          if (refused) {
            reply.header('connection', 'close');
            return fail(reply, 403, 'forbidden', refused);
          }
          allowCors(reply, req.headers.origin);
          const len = Number(req.headers['content-length']);
          if (Number.isFinite(len) && len > chat.settings.maxUploadBytes) {
            reply.header('connection', 'close');
            return fail(
              reply,
              413,
              'payload_too_large',
              `the file is larger than ${formatBytes(chat.settings.maxUploadBytes)}, the most this chat accepts`,
            );
          }
          return undefined;
        },
      },
      async (req, reply) => {
        const chat = webchatOf(lookup, req.params.channelId)!;
        const key = visitorKey.safeParse(req.headers['x-visitor-key']);
        if (!key.success) return fail(reply, 401, 'unauthorized', `x-visitor-key header: ${key.error.issues[0]!.message}`);
        const id = messageId.safeParse(req.headers['x-message-id']);
        if (!id.success) return fail(reply, 400, 'bad_request', `x-message-id header: ${id.error.issues[0]!.message}`);
        const body = req.body;
        if (!Buffer.isBuffer(body) || body.length === 0)
          return fail(reply, 400, 'bad_request', 'body: expected the file’s bytes (it was empty)');
        if (body.length > chat.settings.maxUploadBytes) {
          return fail(
            reply,
            413,
            'payload_too_large',
            `the file is larger than ${formatBytes(chat.settings.maxUploadBytes)}, the most this chat accepts`,
          );
        }
        let context = {};
        const rawContext = req.headers['x-chat-context'];
        if (typeof rawContext === 'string' && rawContext) {
          let json: unknown;
          try {
            json = JSON.parse(decodeURIComponent(rawContext));
          } catch {
            return fail(reply, 400, 'bad_request', 'x-chat-context header: expected URI-encoded JSON');
          }
          const parsed = visitorContext.safeParse(json, { reportInput: true });
          if (!parsed.success) return fail(reply, 400, 'bad_request', `x-chat-context header: ${describeFrameIssues(parsed.error)}`);
          context = parsed.data;
        }
        let fileName: string | undefined;
        try {
          fileName = decodeURIComponent(String(req.headers['x-file-name'] ?? ''));
        } catch {
          fileName = undefined;
        }
        const ip = addressOf(chat, req);
        const visitor: Visitor = { clientId: clientIdOf(key.data), context, userAgent: req.headers['user-agent'], ip };
        const mime = mediaType(req.headers['content-type']) || 'application/octet-stream';
        try {
          // A key with no conversation yet is a new visitor, as its first hello would be.
          if (!(await chat.store.exists(visitor.clientId))) {
            const refusal = await chat.quotas.newVisitor(visitor.clientId, ip);
            if (refusal) return tooMany(reply, refusal);
          }
          const r = await chat.receiveFile(visitor, id.data, { data: body, mime, name: cleanFileName(fileName) });
          return reply.send({ ok: true, status: r.status, entry: r.entry });
        } catch (err) {
          if (err instanceof QuotaExceeded) return tooMany(reply, err.refusal);
          chat.log.warn({ err: redact(String((err as Error).message)) }, 'upload not queued; answering 503');
          return fail(reply, 503, 'unavailable', 'could not take the file right now; try again in a moment');
        }
      },
    );
  });
}
