/**
 * Sandbox mode (docs/architecture.md, "Sandbox mode"): with no channel configured, the bridge runs one channel,
 * `sandbox`, between its own web chat (the end-user side) and this local stand-in of Blinger's
 * Custom App (the agents' side):
 *   GET  /sandbox                          the agents' inbox page
 *   POST /sandbox/incoming                 the Custom App incoming URL: checks §1 strictly, records
 *   GET  /sandbox/api/conversations[/:id]  the inbox's data
 *   POST /sandbox/api/conversations/:id/replies   the page records a reply it sent and the answer
 *   POST /sandbox/files, GET /sandbox/files/:id    files agents attach to replies
 *   GET  /sandbox/events                   server-sent events: "something changed"
 * The inbox page sends replies itself, to POST /blinger/sandbox with the app token, exactly as
 * Blinger calls a Custom App's webhook. Everything in between is the production code.
 *
 * The app token is random per start: it exists only in this process, the page, and the
 * configuration the bridge uses; it is registered as a secret so it never reaches a log line.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import type { ChannelConfig } from '../config/schema.js';
import { loadAssets, render, sendAsset } from '../http/assets.js';
import { cleanFileName, isInlineImage, mediaType, servableType } from '../media/safe-type.js';
import { redact, registerSecret } from '../redact.js';
import { checkIncoming } from './contract.js';
import { SandboxInbox, type IncomingEvent, type LinkCheck, type ReplyEvent } from './store.js';

export const SANDBOX_CHANNEL_ID = 'sandbox';
const INCOMING_LIMIT = 1024 * 1024;
const FILE_LIMIT = 20 * 1024 * 1024;

const ASSETS = loadAssets(new URL('./assets/', import.meta.url), ['inbox.html', 'inbox.css', 'inbox.js']);

export interface SandboxOptions {
  publicUrl: string;
  redis: Redis;
  redisPrefix: string;
  log: Logger;
  /** Per-request timeout of the bridge's calls to the stand-in. */
  timeoutMs?: number;
}

export interface Sandbox {
  /** The channel the bridge runs: web chat ↔ this stand-in. */
  channel: ChannelConfig;
  chatUrl: string;
  inboxUrl: string;
  inbox: SandboxInbox;
  /** Adds the stand-in's routes to the bridge's server. */
  register(app: FastifyInstance): void;
}

function fail(reply: FastifyReply, status: number, error: string, message: string): FastifyReply {
  return reply.code(status).send({ error, message });
}

export function createSandbox(opts: SandboxOptions): Sandbox {
  const token = randomBytes(24).toString('base64url');
  registerSecret(token);
  const publicUrl = opts.publicUrl;
  const inbox = new SandboxInbox(opts.redis, `${opts.redisPrefix}:sandbox`);
  const changes = new EventEmitter();
  changes.setMaxListeners(0);
  const log = opts.log.child({ component: 'sandbox' });

  const channel: ChannelConfig = {
    id: SANDBOX_CHANNEL_ID,
    blinger: { url: `${publicUrl}/sandbox/incoming`, token, timeoutMs: opts.timeoutMs ?? 10_000 },
    adapter: {
      type: 'webchat',
      title: 'Sandbox chat',
      greeting: 'This is the bridge’s sandbox. Write something, then answer it from the agents’ inbox.',
      // Looser than a public chat's defaults: every visitor here is on 127.0.0.1, and trying
      // things out (a script, many tabs) should not run into limits meant for the internet.
      quotas: {
        messagesPerMinute: 300,
        uploadBytesPerDay: '1GiB',
        uploadBytesPerIpPerDay: '2GiB',
        socketsPerIp: 500,
        newVisitorsPerIpPerHour: 1000,
      },
    },
    allowPrivateUrls: true,
  };

  const notify = (kind: string, clientId?: string) => changes.emit('change', { kind, ...(clientId ? { clientId } : {}) });

  function register(app: FastifyInstance): void {
    app.register(async (scope) => {
      // The stand-in reads every body itself, so that a wrong Content-Type is recorded, not hidden.
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
      scope.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
        if (err.statusCode === 413) return fail(reply, 413, 'payload_too_large', 'body too large for the sandbox');
        const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
        if (status === 500) log.error({ err: redact(err.message) }, 'sandbox request failed');
        return fail(reply, status, 'error', status === 500 ? 'internal error' : redact(err.message));
      });

      scope.get('/sandbox', async (_req, reply) => {
        reply
          .header(
            'content-security-policy',
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src * data: blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
          )
          .header('x-content-type-options', 'nosniff')
          .header('cache-control', 'no-store')
          .header('referrer-policy', 'no-referrer');
        // The page posts replies like Blinger does, so it needs the token; it is a local tool.
        return reply.type('text/html; charset=utf-8').send(render(ASSETS.get('inbox.html')!.body, { token, channel: SANDBOX_CHANNEL_ID }));
      });
      scope.get<{ Params: { file: string } }>('/sandbox/assets/:file', async (req, reply) => {
        const asset = req.params.file === 'inbox.html' ? undefined : ASSETS.get(req.params.file);
        if (!asset) return fail(reply, 404, 'not_found', 'no such file');
        return sendAsset(req, reply, asset);
      });

      // The Custom App incoming URL.
      scope.post('/sandbox/incoming', { bodyLimit: INCOMING_LIMIT }, async (req, reply) => {
        const raw = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
        const check = checkIncoming(
          { authorization: req.headers.authorization, contentType: req.headers['content-type'], raw },
          { token, channelId: SANDBOX_CHANNEL_ID },
        );
        const event: IncomingEvent = {
          id: SandboxInbox.newId(),
          at: Date.now(),
          dir: 'in',
          status: check.status,
          violations: check.violations,
          warnings: check.warnings,
          body: check.shown,
        };
        const b = check.body;
        // Blinger fetches images and files from their links: so does the stand-in, and says how it went.
        // Only for an authorized request: the stand-in fetches nothing on behalf of strangers.
        const authorized = check.status !== 401 && check.status !== 415;
        if (authorized && b && (b.type === 'image' || b.type === 'file') && typeof b.data === 'string' && /^https?:\/\//i.test(b.data)) {
          event.link = await checkLink(b.data, b.type);
        }
        try {
          if (check.clientId) await inbox.record(check.clientId, event);
          else await inbox.reject(event);
        } catch (err) {
          log.warn({ err: redact(String((err as Error).message)) }, 'sandbox inbox unavailable');
          return fail(reply, 503, 'unavailable', 'the sandbox inbox could not store the message; retry later');
        }
        notify('incoming', check.clientId);
        if (check.violations.length) {
          log.warn({ status: check.status, violations: check.violations }, 'sandbox: the bridge broke the Custom App contract');
          return reply.code(check.status).send({ error: check.violations.join('; ') });
        }
        return reply.send({ success: true });
      });

      scope.get('/sandbox/api/conversations', async () => ({
        conversations: await inbox.conversations(),
        rejected: await inbox.rejected(),
      }));
      scope.get<{ Params: { clientId: string } }>('/sandbox/api/conversations/:clientId', async (req, reply) => {
        const c = await inbox.conversation(req.params.clientId);
        if (!c) return fail(reply, 404, 'not_found', 'no such conversation');
        return c;
      });
      scope.post<{ Params: { clientId: string } }>(
        '/sandbox/api/conversations/:clientId/replies',
        { bodyLimit: INCOMING_LIMIT },
        async (req, reply) => {
          let b: Partial<ReplyEvent>;
          try {
            b = JSON.parse(Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '') as Partial<ReplyEvent>;
          } catch {
            return fail(reply, 400, 'bad_request', 'body: expected JSON');
          }
          if (typeof b.type !== 'string' || typeof b.data !== 'string' || typeof b.status !== 'number') {
            return fail(reply, 400, 'bad_request', 'body: expected {type, data, status, answer}');
          }
          const event: ReplyEvent = {
            id: SandboxInbox.newId(),
            at: Date.now(),
            dir: 'out',
            type: b.type,
            data: b.data,
            status: b.status,
            answer: b.answer ?? null,
          };
          await inbox.record(req.params.clientId, event);
          notify('reply', req.params.clientId);
          return { ok: true };
        },
      );

      // Files agents attach: Blinger hosts them and sends their https link; the stand-in does the same.
      scope.post('/sandbox/files', { bodyLimit: FILE_LIMIT }, async (req, reply) => {
        const data = req.body;
        if (!Buffer.isBuffer(data) || data.length === 0) return fail(reply, 400, 'bad_request', 'body: expected the file');
        const mime = mediaType(req.headers['content-type']) || 'application/octet-stream';
        let name: string | undefined;
        try {
          name = decodeURIComponent(String(req.headers['x-file-name'] ?? ''));
        } catch {
          name = undefined;
        }
        const id = SandboxInbox.newId();
        await inbox.putFile(id, { data, mime, name: cleanFileName(name) });
        return {
          url: `${publicUrl}/sandbox/files/${id}/${encodeURIComponent(cleanFileName(name))}`,
          type: isInlineImage(mime) ? 'image' : 'file',
        };
      });
      const serveFile = async (id: string, reply: FastifyReply) => {
        const file = /^[0-9a-f-]{36}$/.test(id) ? await inbox.getFile(id) : undefined;
        if (!file) return fail(reply, 404, 'not_found', 'no such file (files expire after 7 days)');
        const type = servableType(file.mime);
        return reply
          .type(type)
          .header('x-content-type-options', 'nosniff')
          .header(
            'content-disposition',
            `${type === 'application/octet-stream' ? 'attachment' : 'inline'}; filename*=UTF-8''${encodeURIComponent(file.name)}`,
          )
          .send(file.data);
      };
      scope.get<{ Params: { id: string } }>('/sandbox/files/:id', async (req, reply) => serveFile(req.params.id, reply));
      scope.get<{ Params: { id: string; name: string } }>('/sandbox/files/:id/:name', async (req, reply) =>
        serveFile(req.params.id, reply),
      );

      // Live updates for the inbox page.
      scope.get('/sandbox/events', (req, reply) => {
        reply.hijack();
        const res = reply.raw;
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-store',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
        });
        res.write('retry: 2000\n\n');
        const onChange = (e: unknown) => res.write(`data: ${JSON.stringify(e)}\n\n`);
        changes.on('change', onChange);
        const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 25_000);
        keepAlive.unref();
        req.raw.on('close', () => {
          changes.off('change', onChange);
          clearInterval(keepAlive);
        });
      });
    });
  }

  return {
    channel,
    chatUrl: `${publicUrl}/chat/${SANDBOX_CHANNEL_ID}`,
    inboxUrl: `${publicUrl}/sandbox`,
    inbox,
    register,
  };
}

/** Fetches an image/file link the way Blinger would, and says whether it would show. */
async function checkLink(url: string, type: string): Promise<LinkCheck> {
  try {
    const res = await fetch(url, { redirect: 'follow', signal: AbortSignal.timeout(5000) });
    const ct = mediaType(res.headers.get('content-type') ?? undefined);
    const bytes = (await res.arrayBuffer()).byteLength;
    if (res.status !== 200) return { ok: false, detail: `the link answered ${res.status}` };
    if (type === 'image' && !ct.startsWith('image/')) return { ok: false, detail: `an image link served ${ct || 'no Content-Type'}` };
    const name = fileNameOf(res.headers.get('content-disposition'));
    return { ok: true, detail: `the link serves ${ct || 'no Content-Type'}, ${bytes} bytes`, ...(name ? { name } : {}) };
  } catch (err) {
    return { ok: false, detail: `the link could not be fetched: ${redact((err as Error).message)}` };
  }
}

/** The file name a Content-Disposition header gives (filename* first), for the inbox to show. */
function fileNameOf(disposition: string | null): string | undefined {
  if (!disposition) return undefined;
  const star = /filename\*\s*=\s*UTF-8''([^;]+)/i.exec(disposition);
  if (star) {
    try {
      return cleanFileName(decodeURIComponent(star[1]!.trim()));
    } catch {
      /* fall back to filename= */
    }
  }
  const plain = /filename\s*=\s*"?([^";]+)"?/i.exec(disposition);
  return plain ? cleanFileName(plain[1]!.trim()) : undefined;
}
