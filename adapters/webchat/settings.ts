/** The web chat's part of a channel's config (BRIDGE_CONFIG `adapter`, or the sandbox channel). */
import { z } from 'zod';

const SIZE_RE = /^(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib)?$/i;
const UNITS: Record<string, number> = { b: 1, kb: 1000, kib: 1024, mb: 1_000_000, mib: 1024 * 1024 };

/** Bytes, as a number or `512KB`, `10MB`, `5MiB`. */
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
});

export type WebchatSettings = z.output<typeof webchatSettingsSchema>;
