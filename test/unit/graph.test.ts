/**
 * The toolkit's Graph module (webhook handshake, signature over the raw bytes, error envelope,
 * generic classification) and the Meta adapters' own error tables and agent notices.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { WebhookRequest } from '../../src/adapter.js';
import {
  answerGraphChallenge,
  checkGraphWebhook,
  classifyGraphError,
  DeliveryError,
  graphErrorFromBody,
  GraphError,
  hasValidHubSignature,
} from '../../src/toolkit/index.js';
import { classifyWhatsAppError, describeForAgent as waNotice } from '../../adapters/whatsapp/errors.js';
import { classifyMessagingError, describeForAgent as msgNotice } from '../../adapters/messenger/errors.js';
import { INSTAGRAM, MESSENGER } from '../../adapters/messenger/platform.js';
import { encodeMetaJson, signMetaBody } from '../doubles/graph-api.js';

const SECRET = 'app-secret-0123456789';
const secrets = { appSecret: SECRET, verifyToken: 'verify-me' };

function post(raw: Buffer, signature: string | undefined, body: unknown = JSON.parse(raw.toString())): WebhookRequest {
  return {
    method: 'POST',
    headers: signature === undefined ? {} : { 'x-hub-signature-256': signature },
    body,
    rawBody: raw,
    query: {},
    subpath: '',
  };
}

describe('Graph webhook authentication', () => {
  it('answers the handshake with the challenge only for the right token', () => {
    const q = (o: Record<string, unknown>) =>
      ({ 'hub.mode': 'subscribe', 'hub.challenge': '1158201444', 'hub.verify_token': 'verify-me', ...o }) as never;
    expect(answerGraphChallenge(q({}), 'verify-me')).toEqual({ status: 200, body: '1158201444' });
    expect(answerGraphChallenge(q({ 'hub.verify_token': 'verify-mE' }), 'verify-me').status).toBe(403);
    expect(answerGraphChallenge(q({ 'hub.verify_token': undefined }), 'verify-me').status).toBe(403);
    expect(answerGraphChallenge(q({ 'hub.mode': 'unsubscribe' }), 'verify-me').status).toBe(400);
    expect(answerGraphChallenge(q({ 'hub.challenge': ['1', '2'] }), 'verify-me').status).toBe(400);
    // Reflected as text: nothing long or unprintable is echoed.
    expect(answerGraphChallenge(q({ 'hub.challenge': '<script>alert(1)</script> x' }), 'verify-me').status).toBe(400);
    expect(answerGraphChallenge(q({ 'hub.challenge': 'x'.repeat(257) }), 'verify-me').status).toBe(400);
  });

  it('checks X-Hub-Signature-256 over the exact bytes Meta sent, escapes included', () => {
    const payload = { entry: [{ text: 'Grüße 😀 https://x.example/a' }] };
    const raw = Buffer.from(encodeMetaJson(payload));
    expect(raw.toString()).toContain('Gr\\u00fc\\u00dfe \\ud83d\\ude00 https:\\/\\/x.example');
    const signature = signMetaBody(raw, SECRET);
    expect(hasValidHubSignature({ 'x-hub-signature-256': signature }, raw, SECRET)).toBe(true);
    expect(hasValidHubSignature({ 'x-hub-signature-256': signature.toUpperCase().replace('SHA256=', 'sha256=') }, raw, SECRET)).toBe(true);
    // Re-serialising the parsed body (what a JSON body parser would hand over) breaks it.
    expect(hasValidHubSignature({ 'x-hub-signature-256': signature }, Buffer.from(JSON.stringify(payload)), SECRET)).toBe(false);
    expect(hasValidHubSignature({ 'x-hub-signature-256': signMetaBody(raw, 'other') }, raw, SECRET)).toBe(false);
    expect(hasValidHubSignature({ 'x-hub-signature-256': ['a', 'b'] }, raw, SECRET)).toBe(false);
    expect(hasValidHubSignature({ 'x-hub-signature': `sha1=${'0'.repeat(40)}` }, raw, SECRET)).toBe(false);
    expect(hasValidHubSignature({ 'x-hub-signature-256': signMetaBody(Buffer.alloc(0), SECRET) }, undefined, SECRET)).toBe(true);
  });

  it('a POST: 401 before anything when unsigned or wrongly signed, 400 when signed but not an object', () => {
    const raw = Buffer.from('{"object":"page","entry":[]}');
    expect(checkGraphWebhook(post(raw, signMetaBody(raw, SECRET)), secrets)).toBeUndefined();
    expect(checkGraphWebhook(post(raw, undefined), secrets)?.status).toBe(401);
    expect(checkGraphWebhook(post(raw, 'sha256=00'), secrets)?.status).toBe(401);
    const list = Buffer.from('[1,2]');
    expect(checkGraphWebhook(post(list, signMetaBody(list, SECRET)), secrets)?.status).toBe(400);
    const empty = Buffer.alloc(0);
    const emptyPost: WebhookRequest = { ...post(list, signMetaBody(empty, SECRET)), body: undefined, rawBody: empty };
    expect(checkGraphWebhook(emptyPost, secrets)?.status).toBe(400);
  });

  it('a signed POST of the wrong notification shape: 400 naming the first problem; unsigned is still 401', () => {
    const shape = z.object({ object: z.literal('page'), entry: z.array(z.object({ id: z.string() })) });
    const good = Buffer.from('{"object":"page","entry":[{"id":"1"}]}');
    expect(checkGraphWebhook(post(good, signMetaBody(good, SECRET)), secrets, shape)).toBeUndefined();
    const bad = Buffer.from('{"object":"page","entry":[{"id":1}]}');
    const refused = checkGraphWebhook(post(bad, signMetaBody(bad, SECRET)), secrets, shape);
    expect(refused).toMatchObject({ status: 400, body: { error: 'bad_request', message: expect.stringMatching(/^entry\.0\.id: /) } });
    expect(checkGraphWebhook(post(bad, undefined), secrets, shape)?.status).toBe(401);
  });
});

const graph = (status: number, error: Record<string, unknown>) => graphErrorFromBody(status, { error })!;

describe('Graph errors', () => {
  it('reads the envelope: code, subcode, type, details', () => {
    const e = graph(400, {
      message: '(#131047) Re-engagement message',
      type: 'OAuthException',
      code: 131047,
      error_subcode: 2494055,
      error_data: { messaging_product: 'whatsapp', details: 'More than 24 hours have passed.' },
      fbtrace_id: 'x',
    });
    expect(e).toMatchObject({
      status: 400,
      code: 131047,
      subcode: 2494055,
      type: 'OAuthException',
      details: 'More than 24 hours have passed.',
    });
    expect(e.description).toBe('(#131047) Re-engagement message — More than 24 hours have passed.');
    expect(graphErrorFromBody(502, '<html>bad gateway</html>')).toBeUndefined();
  });

  it('classifies by code, never by HTTP status; tokens and permissions are the operator’s (transient)', () => {
    const kind = (status: number, code: number, subcode?: number) => {
      const d = classifyGraphError(graph(status, { message: `(#${code}) x`, code, ...(subcode ? { error_subcode: subcode } : {}) }));
      return [d.kind, d.code, d.retryAfterMs, d.scope];
    };
    expect(kind(401, 190, 463)).toEqual(['transient', 'token', undefined, 'conversation']);
    expect(kind(400, 104)).toEqual(['transient', 'token', undefined, 'conversation']);
    expect(kind(403, 200)).toEqual(['transient', 'permission', undefined, 'conversation']);
    expect(kind(400, 613)).toEqual(['rate_limited', 'rate_limited', 5_000, 'account']);
    expect(kind(400, 4)).toEqual(['rate_limited', 'rate_limited', 60_000, 'account']);
    expect(kind(500, 1)).toEqual(['transient', 'graph_1', undefined, 'conversation']);
    expect(kind(400, 2)).toEqual(['transient', 'graph_2', undefined, 'conversation']);
    expect(kind(400, 368)).toEqual(['transient', 'restricted', undefined, 'conversation']);
    expect(kind(400, 100, 33)).toEqual(['permanent', 'graph_100', undefined, 'conversation']);
    expect(classifyGraphError(new GraphError('HTTP 404 without a Graph answer', { status: 404, failure: 'bad_response' })).kind).toBe(
      'transient',
    );
    expect(classifyGraphError(Object.assign(new Error('timeout of 3000ms exceeded'), { code: 'ECONNABORTED' })).code).toBe('timeout');
    expect(classifyGraphError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })).code).toBe('network');
  });

  it('WhatsApp: the window, pair rate, throughput, undeliverable, media and operator codes', () => {
    const wa = (code: number, status = 400, details?: string) =>
      classifyWhatsAppError(graph(status, { message: `(#${code}) x`, code, ...(details ? { error_data: { details } } : {}) }));
    expect(wa(131047)).toMatchObject({ kind: 'permanent', code: 'window_closed' });
    expect(wa(131056, 429)).toMatchObject({ kind: 'rate_limited', retryAfterMs: 6_000, scope: 'conversation' });
    expect(wa(131056, 400)).toMatchObject({ kind: 'rate_limited', retryAfterMs: 6_000, scope: 'conversation' });
    expect(wa(130429)).toMatchObject({ kind: 'rate_limited', retryAfterMs: 1_000, scope: 'account' });
    expect(wa(80007)).toMatchObject({ kind: 'rate_limited', scope: 'account' });
    expect(wa(131026)).toMatchObject({ kind: 'permanent', code: 'undeliverable' });
    expect(wa(131016, 503)).toMatchObject({ kind: 'transient' });
    expect(wa(133010)).toMatchObject({ kind: 'transient', code: 'not_registered' });
    expect(wa(132001, 404)).toMatchObject({ kind: 'permanent', code: 'template_132001' });
    expect(wa(100, 400, "Param file must be a file with one of the following types: … Received file of type 'image/gif'.")).toMatchObject({
      kind: 'permanent',
      code: 'media_refused',
    });
    expect(wa(190, 401)).toMatchObject({ kind: 'transient', code: 'token' });
  });

  it('WhatsApp notices for the agent: user-side and file refusals only', () => {
    expect(waNotice(DeliveryError.permanent('x', 'window_closed'))).toMatch(/^Not delivered: more than 24 hours/);
    expect(waNotice(DeliveryError.permanent('x', 'window_closed'), { name: 'reopen_chat' })).toContain('"reopen_chat"');
    expect(waNotice(DeliveryError.permanent('x', 'undeliverable'))).toMatch(/could not deliver to this user/);
    expect(waNotice(DeliveryError.permanent("(#100) … Received file of type 'image/gif'.", 'media_refused'))).toContain(
      "Received file of type 'image/gif'",
    );
    expect(waNotice(DeliveryError.permanent('x', 'invalid_request'))).toBeUndefined();
    expect(waNotice(DeliveryError.transient('x', 'token'))).toBeUndefined();
  });

  it('Messenger and Instagram: the window by subcode, 551, and the notices', () => {
    const window = graph(400, { message: '(#10) This message is sent outside of allowed window.', code: 10, error_subcode: 2018278 });
    expect(classifyMessagingError(window, MESSENGER)).toMatchObject({ kind: 'permanent', code: 'window_closed' });
    const igWindow = graph(400, { message: '(#10) This message is sent outside of allowed window.', code: 10, error_subcode: 2534022 });
    expect(classifyMessagingError(igWindow, INSTAGRAM)).toMatchObject({ kind: 'permanent', code: 'window_closed' });
    // Code 10 without a window subcode is a missing permission: the operator's.
    expect(classifyMessagingError(graph(403, { message: '(#10) Permission denied', code: 10 }), MESSENGER)).toMatchObject({
      kind: 'transient',
      code: 'permission',
    });
    expect(
      classifyMessagingError(
        graph(400, { message: "(#551) This person isn't available right now.", code: 551, error_subcode: 1545041 }),
        INSTAGRAM,
      ),
    ).toMatchObject({
      kind: 'permanent',
      code: 'unavailable',
    });
    expect(msgNotice(DeliveryError.permanent('x', 'window_closed'), MESSENGER, false)).toMatch(/24 hours.*Human Agent permission/);
    expect(msgNotice(DeliveryError.permanent('x', 'window_closed'), INSTAGRAM, true)).toMatch(/7 days/);
    expect(msgNotice(DeliveryError.permanent('x', 'unavailable'), INSTAGRAM, false)).toMatch(/isn't available on Instagram/);
    expect(msgNotice(DeliveryError.permanent('x', 'graph_100'), MESSENGER, false)).toBeUndefined();
  });
});
