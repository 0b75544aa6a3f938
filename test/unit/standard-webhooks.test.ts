import { describe, expect, it } from 'vitest';
import { newWebhookSecret, signWebhook, verifyWebhook, webhookHeaders } from '../../src/toolkit/standard-webhooks.js';

// The test vector of the Standard Webhooks reference libraries (libraries/javascript/src/webhook.test.ts).
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const ID = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
const TS = 1614265330;
const BODY = '{"test": 2432232314}';
const AT = TS * 1000;

describe('Standard Webhooks signatures', () => {
  it("signs the spec's test vector", () => {
    expect(signWebhook(SECRET, ID, TS, BODY)).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
    expect(signWebhook(SECRET.slice('whsec_'.length), ID, TS, Buffer.from(BODY))).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('accepts a valid signature, also among other entries and versions', () => {
    const headers = webhookHeaders(SECRET, ID, BODY, AT);
    expect(verifyWebhook(SECRET, headers, BODY, AT)).toEqual({ ok: true, id: ID, timestampS: TS });
    const many = `v2,abc v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= ${headers['webhook-signature']}`;
    expect(verifyWebhook(SECRET, { ...headers, 'webhook-signature': many }, BODY, AT).ok).toBe(true);
  });

  it('names what is wrong: a missing header, a stale or future timestamp, a changed body, a truncated signature', () => {
    const headers = webhookHeaders(SECRET, ID, BODY, AT);
    const problem = (h: Record<string, string | undefined>, body = BODY, now = AT) => {
      const r = verifyWebhook(SECRET, h, body, now);
      return r.ok ? 'ok' : r.problem;
    };
    expect(problem({ ...headers, 'webhook-id': undefined })).toBe('webhook-id header is missing');
    expect(problem({ ...headers, 'webhook-timestamp': 'hello' })).toBe('webhook-timestamp header: expected Unix seconds');
    expect(problem({ ...headers, 'webhook-signature': undefined })).toBe('webhook-signature header is missing');
    expect(problem(headers, BODY, AT + 301_000)).toBe('webhook-timestamp is 301 s old (at most 300 s allowed)');
    expect(problem(headers, BODY, AT - 301_000)).toBe('webhook-timestamp is 301 s in the future (at most 300 s allowed)');
    expect(problem(headers, BODY, AT + 299_000)).toBe('ok');
    expect(problem(headers, '{"test": 2432232315}')).toBe('webhook-signature: no v1 signature matches the body');
    expect(problem({ ...headers, 'webhook-signature': headers['webhook-signature']!.slice(0, 8) })).toBe(
      'webhook-signature: no v1 signature matches the body',
    );
    expect(problem({ ...headers, 'webhook-signature': 'v1,' })).toBe('webhook-signature: no v1 signature matches the body');
  });

  it('makes secrets of 32 random bytes in the whsec_ form', () => {
    const s = newWebhookSecret();
    expect(s).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(newWebhookSecret()).not.toBe(s);
  });
});
