/**
 * One chat socket (a page's, or an app's): admitted by origin and the address's socket quota, then
 * hello (protocol version, visitor key), then the visitor's frames one at a time, so a visitor's
 * messages keep their order. The frames are in protocol.ts; docs/client-api.md explains them.
 */
import { randomUUID } from 'node:crypto';
import { redact } from '../../src/toolkit/index.js';
import type { Received, Visitor, WebchatAdapter } from './adapter.js';
import type { ChatSocket } from './hub.js';
import {
  clientIdOf,
  describeFrameIssues,
  majorOf,
  parseClientFrame,
  PROTOCOL_MAJOR,
  PROTOCOL_VERSION,
  type ClientFrame,
  type ServerFrame,
} from './protocol.js';
import { QuotaExceeded, type Refusal } from './quota.js';

/** A page must say hello this soon after connecting. */
const HELLO_TIMEOUT_MS = 10_000;
/** Malformed frames tolerated on one socket before it is closed (a broken or hostile client). */
const MAX_BAD_FRAMES = 20;

export interface SessionFacts {
  userAgent?: string;
  /** The address the per-address quotas count. */
  ip: string;
  /** Why the request's origin may not use this chat, if it may not. */
  originRefusal?: string;
}

export function send(socket: ChatSocket, frame: ServerFrame): void {
  if (socket.readyState === 1) socket.send(JSON.stringify(frame));
}

function rateLimited(refusal: Refusal, id?: string): ServerFrame {
  return {
    type: 'error',
    code: 'rate_limited',
    limit: refusal.limit,
    message: refusal.message,
    ...(refusal.retryAfterMs !== undefined ? { retryAfterMs: refusal.retryAfterMs } : {}),
    ...(id ? { id } : {}),
  };
}

/** The text of a client frame, or undefined for a binary one. */
function frameText(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): string | undefined {
  if (isBinary) return undefined;
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  return Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data).toString('utf8');
}

export function runSession(chat: WebchatAdapter, socket: ChatSocket, facts: SessionFacts): void {
  if (facts.originRefusal) {
    send(socket, { type: 'error', code: 'origin_not_allowed', message: facts.originRefusal });
    socket.close(4403, 'origin not allowed');
    return;
  }
  const lease = randomUUID();
  let visitor: Visitor | undefined;
  let badFrames = 0;
  let closed = false;
  const helloTimer = setTimeout(() => socket.close(4408, 'no hello'), HELLO_TIMEOUT_MS);
  helloTimer.unref();

  const refuse = (code: string, message: string, id?: string) => {
    send(socket, { type: 'error', code, message, ...(id ? { id } : {}) });
    // A press of a button the chat never showed is as suspect as a malformed frame.
    if ((code === 'bad_frame' || code === 'unknown_button') && ++badFrames >= MAX_BAD_FRAMES)
      socket.close(1008, 'too many malformed frames');
  };
  /** Closes the socket after a last frame; frames still queued behind this one are dropped. */
  const end = (frame: ServerFrame, code: number, reason: string) => {
    closed = true;
    send(socket, frame);
    socket.close(code, reason);
  };
  const closeForQuota = (refusal: Refusal) => end(rateLimited(refusal), 4429, refusal.limit);

  // Frames wait for the admission, then for each other.
  let chain: Promise<unknown> = chat.admitSocket(facts.ip, lease).then(
    (refusal) => {
      if (refusal && !closed) closeForQuota(refusal);
    },
    (err: unknown) => chat.log.warn({ err: redact(String(err)) }, 'socket quota unavailable; admitting the socket'),
  );

  /** A visitor's message of any kind: acknowledged once durable, or refused with the reason. */
  const take = async (id: string, what: string, receive: () => Promise<Received | undefined>, unknown: () => void) => {
    let r: Received | undefined;
    try {
      r = await receive();
    } catch (err) {
      if (err instanceof QuotaExceeded) return send(socket, rateLimited(err.refusal, id));
      chat.log.warn({ err: redact(String((err as Error).message)) }, `web chat ${what} not queued`);
      return refuse('unavailable', `your ${what} could not be sent right now; it will be retried`, id);
    }
    if (!r) return unknown();
    send(socket, { type: 'ack', id, status: r.status, entry: r.entry });
  };

  const hello = async (frame: Extract<ClientFrame, { type: 'hello' }>): Promise<void> => {
    if (visitor) return refuse('bad_frame', 'hello was already sent on this connection');
    if (majorOf(frame.version) !== PROTOCOL_MAJOR) {
      const message = `protocol version ${frame.version} is not supported: this server speaks ${PROTOCOL_MAJOR}.x (${PROTOCOL_VERSION})`;
      return end({ type: 'error', code: 'unsupported_version', message }, 4426, 'unsupported protocol version');
    }
    const clientId = clientIdOf(frame.key);
    const { type: _t, key: _k, version: _v, ...context } = frame;
    if (!chat.hub.add(clientId, socket)) {
      const message = 'this chat is open in too many tabs; close some and reload';
      return end({ type: 'error', code: 'too_many_connections', message }, 4429, 'too many tabs');
    }
    clearTimeout(helloTimer);
    visitor = { clientId, context, userAgent: facts.userAgent, origin: chat.hub.tagOf(socket), ip: facts.ip };
    // Registered first, then the history: a reply landing in between comes twice, never zero times.
    let opened;
    try {
      opened = await chat.open(clientId);
      if (opened.isNew) {
        const refusal = await chat.quotas.newVisitor(clientId, facts.ip);
        if (refusal) return closeForQuota(refusal);
      }
    } catch (err) {
      chat.log.warn({ err: redact(String((err as Error).message)) }, 'history unavailable');
      send(socket, await chat.welcome(clientId, []));
      refuse('unavailable', 'the conversation history is unavailable right now; it will show after a reconnect');
      return;
    }
    send(socket, await chat.welcome(clientId, opened.history));
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
  };

  const handle = async (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): Promise<void> => {
    if (closed) return;
    const text = frameText(data, isBinary);
    if (text === undefined) return refuse('bad_frame', 'binary frames are not accepted: send JSON text frames');
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return refuse('bad_frame', 'the frame is not valid JSON');
    }
    const parsed = parseClientFrame(json);
    if (!parsed.success) {
      const id = typeof (json as { id?: unknown } | null)?.id === 'string' ? (json as { id: string }).id.slice(0, 64) : undefined;
      return refuse('bad_frame', describeFrameIssues(parsed.error), id);
    }
    const frame = parsed.data;
    if (frame.type === 'ping') return send(socket, { type: 'pong' });
    if (frame.type === 'hello') return hello(frame);
    const v = visitor;
    if (!v) return refuse('hello_first', 'send hello first', 'id' in frame ? frame.id : undefined);
    switch (frame.type) {
      case 'profile':
        v.context = { ...v.context, name: frame.name, phone: frame.phone };
        return;
      case 'message':
        return take(
          frame.id,
          'message',
          () => chat.receiveText(v, frame.id, frame.text),
          () => undefined,
        );
      case 'button':
        return take(
          frame.id,
          'choice',
          () => chat.receiveButton(v, frame.id, frame.data),
          () => refuse('unknown_button', 'data: not a button of any message in this chat', frame.id),
        );
      case 'phone':
        // The visitor's phone (and name) from now on, as a filled form would make it.
        v.context = { ...v.context, phone: frame.phone, ...(frame.name ? { name: frame.name } : {}) };
        return take(
          frame.id,
          'phone number',
          () => chat.receivePhone(v, frame.id, frame.phone),
          () => undefined,
        );
      case 'resend':
        return take(
          frame.id,
          'message',
          () => chat.resend(v, frame.id, frame.of),
          () => refuse('not_resendable', `of: "${frame.of}" is not an undelivered message of this chat (or its file expired)`, frame.id),
        );
    }
  };

  socket.on('message', (data, isBinary) => {
    chain = chain
      .then(() => handle(data, isBinary))
      .catch((err: unknown) => chat.log.error({ err: redact(String(err)) }, 'web chat frame failed'));
  });
  socket.on('close', () => {
    closed = true;
    clearTimeout(helloTimer);
    if (visitor) chat.hub.remove(visitor.clientId, socket);
    // After the admission settled, so a lease taken late is released too.
    void chain.then(() => chat.releaseSocket(lease));
  });
}
