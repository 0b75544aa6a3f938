/** The HTTP channel's part of a channel's config (docs/architecture.md, "The HTTP channel"): its secret and the app's delivery URL. */
import { z } from 'zod';
import type { AdapterEnv } from '../../src/adapter.js';
import { parseDuration, webhookKey } from '../../src/toolkit/index.js';

const secret = z
  .string()
  .trim()
  .regex(
    /^whsec_[A-Za-z0-9+/]+={0,2}$/,
    'expected a Standard Webhooks secret: whsec_ followed by base64 (run "blinger-bridge http secret")',
  )
  .refine((s) => webhookKey(s).length >= 24, 'expected at least 24 bytes of key after whsec_ (run "blinger-bridge http secret")');

const url = z
  .string()
  .trim()
  .refine((v) => /^https?:\/\//i.test(v) && URL.canParse(v), 'expected an absolute http(s) URL of your app');

const timeout = z.union([z.number().int().min(1000).max(120_000), z.string()]).transform((v, ctx) => {
  const ms = typeof v === 'number' ? v : parseDuration(v);
  if (ms === undefined || ms < 1000 || ms > 120_000) {
    ctx.addIssue({ code: 'custom', message: 'expected a duration between 1s and 120s, such as 10s' });
    return z.NEVER;
  }
  return ms;
});

export const httpSettingsSchema = z.strictObject({
  type: z.literal('http'),
  /** Signs both directions; the app keeps the same secret. */
  secret,
  /** Where agents' replies are POSTed. */
  deliveryUrl: url,
  /** One delivery attempt's timeout. */
  timeout: timeout.default(10_000),
});

export type HttpSettings = z.output<typeof httpSettingsSchema>;

/** One HTTP channel from the environment. */
export const HTTP_ENV: AdapterEnv = {
  enabledBy: 'HTTP_CHANNEL_DELIVERY_URL',
  vars: { deliveryUrl: 'HTTP_CHANNEL_DELIVERY_URL', secret: 'HTTP_CHANNEL_SECRET', timeout: 'HTTP_CHANNEL_TIMEOUT' },
};
