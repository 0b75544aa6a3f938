/**
 * Standard Webhooks signatures (standardwebhooks.com): headers `webhook-id`, `webhook-timestamp`
 * (Unix seconds) and `webhook-signature`, a space-separated list of `v1,<base64 HMAC-SHA256>` over
 * `<id>.<timestamp>.<raw body>`, keyed with the base64 part of a `whsec_…` secret. Verification
 * compares every v1 entry in constant time and refuses a timestamp more than 5 minutes away.
 *
 * Written on node:crypto rather than taken from the reference package, which computes SHA-256 in
 * JavaScript; test/unit/standard-webhooks.test.ts checks the spec's own test vector.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const SECRET_PREFIX = 'whsec_';
/** How far a timestamp may be from now, either way. */
export const TOLERANCE_S = 5 * 60;

/** The HMAC key of a `whsec_<base64>` secret (the prefix is optional, as in the reference libraries). */
export function webhookKey(secret: string): Buffer {
  const key = Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, 'base64');
  if (key.length === 0) throw new Error('the webhook secret is empty');
  return key;
}

/** A fresh secret: 32 random bytes, `whsec_` + base64. */
export function newWebhookSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString('base64')}`;
}

function hmac(key: Buffer, id: string, timestampS: number, body: string | Buffer): Buffer {
  return createHmac('sha256', key).update(`${id}.${timestampS}.`).update(body).digest();
}

/** The value of `webhook-signature` for this message. */
export function signWebhook(secret: string, id: string, timestampS: number, body: string | Buffer): string {
  return `v1,${hmac(webhookKey(secret), id, timestampS, body).toString('base64')}`;
}

/** The three headers of a signed request. */
export function webhookHeaders(secret: string, id: string, body: string | Buffer, nowMs = Date.now()): Record<string, string> {
  const timestamp = Math.floor(nowMs / 1000);
  return { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signWebhook(secret, id, timestamp, body) };
}

export type VerifyResult = { ok: true; id: string; timestampS: number } | { ok: false; problem: string };

type Headers = Record<string, string | string[] | undefined>;

const header = (headers: Headers, name: string): string | undefined => {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/**
 * What is wrong with a request's signature headers, judged without its body (missing headers, a
 * timestamp out of tolerance), or undefined: lets a route refuse before reading the body.
 */
export function webhookHeadersProblem(headers: Headers, nowMs = Date.now()): string | undefined {
  const r = checkHeaders(headers, nowMs);
  return 'problem' in r ? r.problem : undefined;
}

function checkHeaders(headers: Headers, nowMs: number): { id: string; timestampS: number; signatures: string } | { problem: string } {
  const id = header(headers, 'webhook-id');
  const ts = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id) return { problem: 'webhook-id header is missing' };
  if (id.length > 256) return { problem: 'webhook-id header is longer than 256 characters' };
  if (!ts) return { problem: 'webhook-timestamp header is missing' };
  if (!/^\d{1,12}$/.test(ts)) return { problem: 'webhook-timestamp header: expected Unix seconds' };
  if (!signatures) return { problem: 'webhook-signature header is missing' };
  const timestampS = Number(ts);
  const skew = timestampS - Math.floor(nowMs / 1000);
  if (Math.abs(skew) > TOLERANCE_S) {
    return { problem: `webhook-timestamp is ${Math.abs(skew)} s ${skew < 0 ? 'old' : 'in the future'} (at most ${TOLERANCE_S} s allowed)` };
  }
  return { id, timestampS, signatures };
}

/**
 * Checks a request's signature over its raw body. `problem` names what is wrong (a missing header,
 * a stale timestamp, no matching signature) and never reveals the expected signature.
 */
export function verifyWebhook(secret: string, headers: Headers, rawBody: Buffer | string, nowMs = Date.now()): VerifyResult {
  const checked = checkHeaders(headers, nowMs);
  if ('problem' in checked) return { ok: false, problem: checked.problem };
  const { id, timestampS, signatures } = checked;
  const expected = hmac(webhookKey(secret), id, timestampS, rawBody);
  let match = false;
  for (const entry of signatures.split(' ')) {
    const [version, value] = entry.split(',', 2);
    if (version !== 'v1' || !value) continue;
    const given = Buffer.from(value, 'base64');
    // Every entry is compared (no early exit), each in constant time.
    if (given.length === expected.length && timingSafeEqual(given, expected)) match = true;
  }
  return match ? { ok: true, id, timestampS } : { ok: false, problem: 'webhook-signature: no v1 signature matches the body' };
}
