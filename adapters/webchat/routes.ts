/**
 * The web chat's own routes:
 *   GET  /chat/:channelId          the chat page (embeddable in an iframe)
 *   GET  /chat/:channelId/ws       the page's WebSocket (protocol.ts)
 *   POST /chat/:channelId/upload   one file, raw body (Content-Type = the file's type), size-capped
 *   GET  /webchat/assets/:file     chat.js, chat.css, embed.js
 * Bad input gets a clear answer to that client only: 404 unknown chat (an HTML page, or close
 * code 4404 on the socket), 413 over the upload cap, an `error` frame for a malformed frame or a
 * press of a button the visitor was never shown.
 */
import websocket from '@fastify/websocket';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Adapter, AdapterRouteDeps } from '../../src/adapter.js';
import { escapeHtml, loadAssets, render, sendAsset } from '../../src/http/assets.js';
import { cleanFileName, mediaType } from '../../src/media/safe-type.js';
import { redact } from '../../src/redact.js';
import { parseJsonWellFormed, truncate } from '../../src/text.js';
import { WebchatAdapter, type Visitor } from './adapter.js';
import type { ChatSocket } from './hub.js';
import {
  clientIdOf,
  describeFrameIssues,
  parseClientFrame,
  MAX_FRAME_BYTES,
  MAX_TEXT,
  messageId,
  visitorContext,
  visitorKey,
  type ServerFrame,
} from './protocol.js';

const ASSETS = loadAssets(new URL('./assets/', import.meta.url), ['chat.html', 'chat.css', 'chat.js', 'embed.js']);
const PUBLIC_ASSETS = new Set(['chat.css', 'chat.js', 'embed.js']);

/** A page must say hello this soon after connecting. */
const HELLO_TIMEOUT_MS = 10_000;
/** Malformed frames tolerated on one socket before it is closed (a broken or hostile client). */
const MAX_BAD_FRAMES = 20;

type Lookup = (channelId: string) => Adapter | undefined;

function webchatOf(lookup: Lookup, channelId: string): WebchatAdapter | undefined {
  const a = lookup(channelId);
  return a instanceof WebchatAdapter ? a : undefined;
}

function fail(reply: FastifyReply, status: number, error: string, message: string): FastifyReply {
  return reply.code(status).send({ error, message });
}

function formatBytes(n: number): string {
  return n >= 1024 * 1024 ? `${+(n / 1024 / 1024).toFixed(1)} MiB` : n >= 1024 ? `${+(n / 1024).toFixed(1)} KiB` : `${n} bytes`;
}

function pageHeaders(reply: FastifyReply, publicUrl: string): void {
  const ws = publicUrl.replace(/^http/, 'ws').replace(/^(wss?:\/\/[^/]+).*$/, '$1');
  reply
    .header(
      'content-security-policy',
      // Agents' images may be anywhere (https); everything else comes from the bridge itself.
      `default-src 'none'; script-src 'self'; style-src 'self'; img-src * data: blob:; media-src *; connect-src 'self' ${ws}; base-uri 'none'; form-action 'none'; frame-ancestors *`,
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
      pageHeaders(reply, chat.publicUrl);
      const html = render(ASSETS.get('chat.html')!.body, {
        title: chat.settings.title,
        greeting: chat.settings.greeting ?? '',
        channel: chat.channelId,
        maxUpload: chat.settings.maxUploadBytes,
        maxUploadText: formatBytes(chat.settings.maxUploadBytes),
        maxText: MAX_TEXT,
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
        runSession(chat, socket, req.headers['user-agent']);
      },
    );

    scope.post<{ Params: { channelId: string } }>(
      '/chat/:channelId/upload',
      {
        bodyLimit: maxUpload,
        // Refuse before reading the body when its announced size already says no.
        onRequest: async (req, reply) => {
          const chat = webchatOf(lookup, req.params.channelId);
          if (!chat) return fail(reply, 404, 'not_found', `there is no web chat "${req.params.channelId}" on this server`);
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
            json = parseJsonWellFormed(decodeURIComponent(rawContext));
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
        const visitor: Visitor = { clientId: clientIdOf(key.data), context, userAgent: req.headers['user-agent'] };
        const mime = mediaType(req.headers['content-type']) || 'application/octet-stream';
        try {
          const r = await chat.receiveFile(visitor, id.data, { data: body, mime, name: cleanFileName(fileName) });
          return reply.send({ ok: true, status: r.status, entry: r.entry });
        } catch (err) {
          chat.log.warn({ err: redact(String((err as Error).message)) }, 'upload not queued; answering 503');
          return fail(reply, 503, 'unavailable', 'could not take the file right now; try again in a moment');
        }
      },
    );
  });
}

function send(socket: ChatSocket, frame: ServerFrame): void {
  if (socket.readyState === 1) socket.send(JSON.stringify(frame));
}

/** One page's socket: hello, then messages, one frame at a time so a visitor's messages keep their order. */
function runSession(chat: WebchatAdapter, socket: ChatSocket, userAgent: string | undefined): void {
  let visitor: Visitor | undefined;
  let badFrames = 0;
  let chain = Promise.resolve();
  const helloTimer = setTimeout(() => socket.close(4408, 'no hello'), HELLO_TIMEOUT_MS);
  helloTimer.unref();

  const refuse = (code: string, message: string, id?: string) => {
    send(socket, { type: 'error', code, message, ...(id ? { id } : {}) });
    // A press of a button the chat never showed is as suspect as a malformed frame.
    if ((code === 'bad_frame' || code === 'unknown_button') && ++badFrames >= MAX_BAD_FRAMES)
      socket.close(1008, 'too many malformed frames');
  };

  const handle = async (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): Promise<void> => {
    if (isBinary) return refuse('bad_frame', 'binary frames are not accepted: send JSON text frames');
    const text = Buffer.isBuffer(data)
      ? data.toString('utf8')
      : Array.isArray(data)
        ? Buffer.concat(data).toString('utf8')
        : Buffer.from(data).toString('utf8');
    let json: unknown;
    try {
      json = parseJsonWellFormed(text);
    } catch {
      return refuse('bad_frame', 'the frame is not valid JSON');
    }
    const parsed = parseClientFrame(json);
    if (!parsed.success) {
      const id = typeof (json as { id?: unknown } | null)?.id === 'string' ? truncate((json as { id: string }).id, 64) : undefined;
      return refuse('bad_frame', describeFrameIssues(parsed.error), id);
    }
    const frame = parsed.data;
    switch (frame.type) {
      case 'ping':
        return send(socket, { type: 'pong' });
      case 'hello': {
        if (visitor) return refuse('bad_frame', 'hello was already sent on this connection');
        const clientId = clientIdOf(frame.key);
        const { type: _t, key: _k, ...context } = frame;
        if (!chat.hub.add(clientId, socket)) {
          send(socket, {
            type: 'error',
            code: 'too_many_connections',
            message: 'this chat is open in too many tabs; close some and reload',
          });
          socket.close(4429, 'too many tabs');
          return;
        }
        clearTimeout(helloTimer);
        visitor = { clientId, context, userAgent, origin: chat.hub.tagOf(socket) };
        // Registered first, then the history: a reply landing in between comes twice, never zero times.
        let opened;
        try {
          opened = await chat.open(clientId);
        } catch (err) {
          chat.log.warn({ err: redact(String((err as Error).message)) }, 'history unavailable');
          send(socket, { type: 'welcome', clientId, history: [] });
          refuse('unavailable', 'the conversation history is unavailable right now; it will show after a reconnect');
          return;
        }
        send(socket, { type: 'welcome', clientId, history: opened.history });
        // A new conversation with a bot in front: its /start, so the greeting and menu come now.
        // Before any later frame of this socket (they wait on `chain`), so it is the first event.
        if (opened.isNew && chat.hasFlow) {
          try {
            await chat.startConversation(visitor);
          } catch (err) {
            // Nothing the visitor sent is lost; the next visit starts the conversation again.
            chat.log.warn({ err: redact(String((err as Error).message)) }, 'web chat conversation not started');
          }
        }
        return;
      }
      case 'profile':
        if (!visitor) return refuse('hello_first', 'send hello first');
        visitor.context = { ...visitor.context, name: frame.name, phone: frame.phone };
        return;
      case 'message': {
        if (!visitor) return refuse('hello_first', 'send hello first', frame.id);
        try {
          const r = await chat.receiveText(visitor, frame.id, frame.text);
          send(socket, { type: 'ack', id: frame.id, status: r.status, entry: r.entry });
        } catch (err) {
          chat.log.warn({ err: redact(String((err as Error).message)) }, 'web chat message not queued');
          refuse('unavailable', 'your message could not be sent right now; it will be retried', frame.id);
        }
        return;
      }
      case 'button': {
        if (!visitor) return refuse('hello_first', 'send hello first', frame.id);
        let r;
        try {
          r = await chat.receiveButton(visitor, frame.id, frame.data);
        } catch (err) {
          chat.log.warn({ err: redact(String((err as Error).message)) }, 'web chat button press not queued');
          return refuse('unavailable', 'your choice could not be sent right now; it will be retried', frame.id);
        }
        if (!r) return refuse('unknown_button', 'data: not a button of any message in this chat', frame.id);
        return send(socket, { type: 'ack', id: frame.id, status: r.status, entry: r.entry });
      }
      case 'phone': {
        if (!visitor) return refuse('hello_first', 'send hello first', frame.id);
        // The visitor's phone (and name) from now on, as a filled form would make it.
        visitor.context = { ...visitor.context, phone: frame.phone, ...(frame.name ? { name: frame.name } : {}) };
        try {
          const r = await chat.receivePhone(visitor, frame.id, frame.phone);
          send(socket, { type: 'ack', id: frame.id, status: r.status, entry: r.entry });
        } catch (err) {
          chat.log.warn({ err: redact(String((err as Error).message)) }, 'web chat phone not queued');
          refuse('unavailable', 'your phone number could not be sent right now; it will be retried', frame.id);
        }
        return;
      }
    }
  };

  socket.on('message', (data, isBinary) => {
    chain = chain
      .then(() => handle(data, isBinary))
      .catch((err: unknown) => chat.log.error({ err: redact(String(err)) }, 'web chat frame failed'));
  });
  socket.on('close', () => {
    clearTimeout(helloTimer);
    if (visitor) chat.hub.remove(visitor.clientId, socket);
  });
}
