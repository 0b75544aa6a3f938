/**
 * The one HTTP server: messenger webhooks, Blinger's agent-reply webhook, signed media, health.
 * Errors are JSON `{error, message}`. A 2xx on a webhook means the message is durable in Redis;
 * when it can't be queued the answer is 503 so the sender redelivers.
 */
import type { Socket } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Adapter, AdapterDefinition } from '../adapter.js';
import type { ChannelConfig } from '../config/schema.js';
import { DeliveryError } from '../delivery/errors.js';
import type { MediaSigner } from '../media/links.js';
import { describeIssues, replySchema, toOutbound } from '../blinger/reply.js';
import { INERT_HEADERS, inertMedia } from '../media/safe-type.js';
import { redact } from '../redact.js';
import { sameSecret } from './same-secret.js';
import { DEFAULT_HTTP_TIMEOUTS, timeoutOptions, type HttpTimeouts } from './timeouts.js';
import { parseJsonWellFormed } from '../text.js';

export interface ChannelRuntime {
  config: ChannelConfig;
  adapter: Adapter;
}

export interface ServerDeps {
  channels: Map<string, ChannelRuntime>;
  media: MediaSigner;
  log: Logger;
  /** Durably queues an agent reply; throws when Redis is unavailable. */
  enqueueReply(channelId: string, reply: ReturnType<typeof toOutbound>): Promise<void>;
  readiness(): { ready: boolean; checks: Record<string, boolean> };
  /** Adapter types; those in use that have routes of their own (web chat) register them. */
  definitions?: readonly AdapterDefinition[];
  /** Client timeouts; DEFAULT_HTTP_TIMEOUTS for the rest. */
  timeouts?: Partial<HttpTimeouts>;
}

export const BODY_LIMIT = 1024 * 1024;

const ERROR_NAMES: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  502: 'bad_gateway',
  503: 'unavailable',
};

function fail(reply: FastifyReply, status: number, message: string): FastifyReply {
  return reply.code(status).send({ error: ERROR_NAMES[status] ?? 'error', message });
}

/**
 * A refusal sent before the body was read: the connection closes, so the unread body goes with it
 * — but gently, as nginx's lingering close does. Closing at once resets a connection whose client
 * is still sending its body, and such a client (a webhook with a big update) gets the reset instead
 * of the answer. So our side ends after the answer, and what the client still sends is read and
 * dropped for LINGER_MS at most before the connection goes.
 */
function refuseEarly(reply: FastifyReply, status: number, message: string): FastifyReply {
  const socket = reply.raw.socket;
  if (socket) lingerOnClose(socket);
  return fail(reply.header('connection', 'close'), status, message);
}

const LINGER_MS = 2000;

function lingerOnClose(socket: Socket): void {
  // node:http ends a "Connection: close" answer with destroySoon() (end, then destroy at once).
  socket.destroySoon = () => {
    socket.end();
    const timer = setTimeout(() => socket.destroy(), LINGER_MS).unref();
    socket.once('close', () => clearTimeout(timer));
  };
}

/** The token of an `Authorization: Bearer` header: undefined without the header, '' when it is not Bearer. */
function bearerOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  return /^Bearer\s+(.*)$/i.exec(header)?.[1]?.trim() ?? '';
}

/**
 * Why the body's `token` field refuses an agent reply: absent while no Authorization header came
 * (the header, when present, was checked before the body was read), or not the app token.
 */
function bodyTokenProblem(body: object | undefined, headerSent: boolean, token: string): string | undefined {
  const bodyToken: unknown = (body as { token?: unknown } | undefined)?.token;
  if (typeof bodyToken === 'string') {
    if (sameSecret(bodyToken, token)) return undefined;
    return headerSent ? 'token: does not match the Authorization header' : 'token: wrong token';
  }
  return headerSent ? undefined : 'missing token: send "Authorization: Bearer <token>" or a "token" field in the body';
}

interface RawBodyRequest {
  rawBody?: Buffer;
}

/**
 * Messenger webhooks, for every adapter type in use that takes them: `POST /<type>/:channelId`,
 * plus the methods and sub-paths its definition declares (a GET handshake, `/messages`…).
 */
function registerWebhooks(app: FastifyInstance, deps: ServerDeps, log: Logger): void {
  const inUse = new Set([...deps.channels.values()].filter((c) => c.adapter.handleWebhook).map((c) => c.adapter.type));
  for (const type of inUse) {
    const def = deps.definitions?.find((d) => d.type === type);
    const methods = def?.webhook?.methods ?? ['POST'];
    const subpaths = def?.webhook?.subpaths ?? [''];
    const handler = (subpath: string) => async (req: FastifyRequest<{ Params: { channelId: string } }>, reply: FastifyReply) => {
      const channel = deps.channels.get(req.params.channelId);
      if (!channel || channel.adapter.type !== type || !channel.adapter.handleWebhook) return fail(reply, 404, 'unknown channel');
      try {
        const res = await channel.adapter.handleWebhook({
          method: req.method,
          headers: req.headers,
          body: req.body,
          rawBody: (req as RawBodyRequest).rawBody,
          query: req.query as Record<string, string | undefined>,
          subpath,
        });
        if (res.headers) reply.headers(res.headers);
        if (typeof res.body === 'string') return reply.code(res.status).type('text/plain; charset=utf-8').send(res.body);
        return reply.code(res.status).send(res.body ?? { ok: true });
      } catch (err) {
        log.warn({ channel: channel.config.id, err: redact(String((err as Error).message)) }, 'update not queued; answering 503');
        return fail(reply, 503, 'could not queue the update; retry later');
      }
    };
    // Before the body is read: an unknown channel, or a request the adapter can tell from its
    // headers alone is not from the messenger (a secret header), is refused without reading it.
    const early = async (req: FastifyRequest<{ Params: { channelId: string } }>, reply: FastifyReply) => {
      const channel = deps.channels.get(req.params.channelId);
      if (!channel || channel.adapter.type !== type) return refuseEarly(reply, 404, 'unknown channel');
      const refusal = channel.adapter.authorizeWebhook?.(req.headers);
      if (refusal)
        return refuseEarly(reply, refusal.status, String((refusal.body as { message?: string } | undefined)?.message ?? 'refused'));
      return undefined;
    };
    for (const subpath of subpaths) {
      const bodyLimit = def?.webhook?.bodyLimit;
      app.route({
        method: methods,
        url: `/${type}/:channelId${subpath ? `/${subpath}` : ''}`,
        onRequest: early,
        handler: handler(subpath),
        ...(bodyLimit ? { bodyLimit } : {}),
      });
    }
  }
}

export function buildServer(deps: ServerDeps): FastifyInstance {
  // maxParamLength: signed media tokens are a few hundred characters (fastify allows 100 by default).
  const app = Fastify({
    bodyLimit: BODY_LIMIT,
    logger: false,
    return503OnClosing: true,
    forceCloseConnections: true,
    routerOptions: { maxParamLength: 2048 },
    ...timeoutOptions({ ...DEFAULT_HTTP_TIMEOUTS, ...deps.timeouts }),
  });
  const log = deps.log.child({ component: 'http' });

  // Only JSON bodies are accepted; everything else is 415. Strings come out well-formed (a lone
  // surrogate would stall its conversation's lane in Redis). The bytes are kept for webhooks
  // signed over the raw body (HTTP channel, Meta).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(/^application\/([\w.+-]+\+)?json/, { parseAs: 'buffer' }, (req, body, done) => {
    const raw = body as Buffer;
    (req as RawBodyRequest).rawBody = raw;
    try {
      // Strings well-formed here cover every webhook: a lone surrogate must never reach a lane.
      done(null, raw.length === 0 ? undefined : parseJsonWellFormed(raw.toString('utf8')));
    } catch (err) {
      // RangeError: thousands of nested levels, more than the well-forming pass goes down.
      const message = err instanceof RangeError ? 'body is nested too deeply' : 'body is not valid JSON';
      done(Object.assign(new Error(message), { statusCode: 400 }), undefined);
    }
  });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status === 413) {
      const limit = req.routeOptions.bodyLimit ?? BODY_LIMIT;
      return fail(reply, 413, `body is larger than ${limit} bytes${limit === BODY_LIMIT ? ' (1 MiB)' : ''}`);
    }
    if (status === 415 || err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return fail(reply, 415, 'expected Content-Type: application/json');
    if (status < 500) return fail(reply, status, redact(err.message));
    log.error({ err: redact(err.message) }, 'request failed');
    return fail(reply, 500, 'internal error');
  });
  app.setNotFoundHandler((_req, reply) => fail(reply, 404, 'no such route'));

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const r = deps.readiness();
    return reply.code(r.ready ? 200 : 503).send({ status: r.ready ? 'ready' : 'not_ready', checks: r.checks });
  });

  // Adapter types with routes of their own (the web chat's page and socket), once per type in use.
  for (const def of deps.definitions ?? []) {
    const channelIds = [...deps.channels.values()].filter((c) => c.adapter.type === def.type).map((c) => c.config.id);
    if (!def.registerRoutes || channelIds.length === 0) continue;
    def.registerRoutes(
      app,
      (id) => {
        const c = deps.channels.get(id);
        return c?.adapter.type === def.type ? c.adapter : undefined;
      },
      { log: log.child({ adapter: def.type }), channelIds },
    );
  }

  registerWebhooks(app, deps, log);

  // Agent replies from Blinger. Its documentation puts the app token both in the Authorization
  // header and in a `token` body field: either one is accepted, and when both come they must agree.
  // An unknown channel or a wrong header is refused before the body is read.
  app.post<{ Params: { channelId: string } }>(
    '/blinger/:channelId',
    {
      onRequest: async (req, reply) => {
        const channel = deps.channels.get(req.params.channelId);
        if (!channel) return refuseEarly(reply, 404, 'unknown channel');
        const bearer = bearerOf(req.headers.authorization);
        if (bearer !== undefined && !sameSecret(bearer, channel.config.blinger.token)) {
          return refuseEarly(reply, 401, 'Authorization: expected "Bearer <the Custom App token>"; wrong or malformed');
        }
        return undefined;
      },
    },
    async (req, reply) => {
      const channel = deps.channels.get(req.params.channelId)!;
      const body = req.body;
      const isObject = typeof body === 'object' && body !== null && !Array.isArray(body);
      const problem = bodyTokenProblem(isObject ? body : undefined, req.headers.authorization !== undefined, channel.config.blinger.token);
      if (problem) return fail(reply, 401, problem);
      if (!isObject) return fail(reply, 400, 'body: expected a JSON object');
      const parsed = replySchema.safeParse(body);
      if (!parsed.success) return fail(reply, 400, describeIssues(parsed.error));
      const agentReply = parsed.data;
      if (agentReply.custom_channel_id !== channel.config.id) {
        return fail(reply, 400, `custom_channel_id: "${agentReply.custom_channel_id}" does not match the channel in the URL`);
      }
      try {
        await deps.enqueueReply(channel.config.id, toOutbound(agentReply));
      } catch (err) {
        log.warn({ channel: channel.config.id, err: redact(String((err as Error).message)) }, 'reply not queued; answering 503');
        return fail(reply, 503, 'could not queue the reply; retry later');
      }
      return reply.code(200).send({ success: true });
    },
  );

  // Signed media links: the messenger's file, streamed, served by the one inert-media rule
  // (src/media/safe-type.ts) whatever the adapter says the type is. Its headers go on every
  // answer of the route, errors included.
  const inert = async (_req: unknown, reply: FastifyReply, payload: unknown) => {
    reply.headers(INERT_HEADERS);
    return payload;
  };
  app.get<{ Params: { signed: string } }>('/media/:signed', { onSend: inert }, async (req, reply) => {
    const v = deps.media.verify(req.params.signed);
    if ('error' in v) return fail(reply, 403, v.error);
    const channel = deps.channels.get(v.channelId);
    if (!channel?.adapter.openMedia) return fail(reply, 404, 'unknown channel');
    try {
      const file = await channel.adapter.openMedia(v.ref);
      const served = inertMedia(file.contentType, file.fileName);
      reply.header('content-type', served.contentType).header('content-disposition', served.disposition);
      if (file.size !== undefined) reply.header('content-length', String(file.size));
      reply.header('cache-control', 'private, max-age=3600');
      return reply.send(file.stream);
    } catch (err) {
      const e = err instanceof DeliveryError ? err : DeliveryError.transient(redact(String((err as Error).message)));
      log.warn({ channel: v.channelId, err: e.message }, 'media not served');
      return e.kind === 'permanent'
        ? fail(reply, 404, `file unavailable: ${e.message}`)
        : fail(reply, 502, 'the messenger did not deliver the file; try again');
    }
  });

  return app;
}
