/** The web chat's part of a channel's config (BRIDGE_CONFIG `adapter`, or the sandbox channel). */
import { z } from 'zod';

const SIZE_RE = /^(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?$/i;
const UNITS: Record<string, number> = { b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 1024 ** 2, gb: 1e9, gib: 1024 ** 3 };

/** Bytes, as a number or `512KB`, `10MB`, `5MiB`, `1GB`. */
const size = z.union([z.number().int().positive(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  const m = SIZE_RE.exec(v.trim());
  if (!m) {
    ctx.addIssue({ code: 'custom', message: 'expected a size such as 5MB, 512KB or a number of bytes' });
    return z.NEVER;
  }
  return Math.floor(Number(m[1]) * UNITS[(m[2] ?? 'b').toLowerCase()]!);
});

/** Uploads live in Redis until their media link expires: keep them modest. */
export const MAX_UPLOAD_CEILING = 50 * 1024 * 1024;

const count = z.number({ error: 'expected a whole number' }).int('expected a whole number').positive('expected at least 1');

/**
 * How much one visitor (and one network address) may use the chat: counted in Redis, so they hold
 * across processes. The defaults are far above what a person does and far below what a script does.
 */
export const quotasSchema = z.strictObject({
  /** Messages (typed, button presses, shared phones, uploads, resends) per visitor per minute. */
  messagesPerMinute: count.default(30),
  /** Bytes a visitor may upload per day (uploads stay in Redis while their media links live). */
  uploadBytesPerDay: size.default(100 * 1024 * 1024),
  /** Bytes all visitors of one address may upload per day (a script that makes new visitors). */
  uploadBytesPerIpPerDay: size.default(300 * 1024 * 1024),
  /** Open chat sockets per address, across all processes. */
  socketsPerIp: count.default(50),
  /** Visitor keys with no conversation yet that one address may bring per hour. */
  newVisitorsPerIpPerHour: count.default(60),
});

export type Quotas = z.output<typeof quotasSchema>;

/** A page origin such as https://shop.example (scheme, host, port; no path). */
const origin = z.string().transform((v, ctx) => {
  let url: URL | undefined;
  try {
    url = new URL(v.trim());
  } catch {
    /* below */
  }
  if (!url || !/^https?:$/.test(url.protocol) || url.origin !== v.trim().replace(/\/$/, '')) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not an origin: expected scheme://host[:port] such as https://shop.example` });
    return z.NEVER;
  }
  return url.origin;
});

export const webchatSettingsSchema = z.strictObject({
  type: z.literal('webchat'),
  /** Shown in the page header and the tab title. */
  title: z.string().trim().min(1).max(80).default('Chat with us'),
  /** An optional first line shown above the conversation. */
  greeting: z.string().trim().max(300).optional(),
  /** The largest file a visitor may upload. */
  maxUploadBytes: size
    .pipe(z.number().max(MAX_UPLOAD_CEILING, `expected at most ${MAX_UPLOAD_CEILING / 1024 / 1024}MiB`))
    .default(10 * 1024 * 1024),
  quotas: quotasSchema.prefault({}),
  /**
   * Pages allowed to embed the chat and to use its socket and uploads from another origin (the
   * browser's Origin header). Unset: any. The bridge's own origin is always allowed, and so are
   * clients that send no Origin (native apps).
   */
  allowedOrigins: z.array(origin).min(1, 'list at least one origin, or leave allowedOrigins out').optional(),
  /**
   * Behind a reverse proxy: the header it puts the visitor's address in (X-Forwarded-For: the
   * last address, the one your proxy added; or X-Real-IP, CF-Connecting-IP…). Unset: the
   * connection's own address, which behind a proxy is the proxy's, for every visitor.
   */
  clientIpHeader: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9-]{1,64}$/, 'expected a header name such as X-Forwarded-For')
    .transform((v) => v.toLowerCase())
    .optional(),
});

export type WebchatSettings = z.output<typeof webchatSettingsSchema>;
