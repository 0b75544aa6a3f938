/**
 * The validated configuration. Environment variables describe one channel; BRIDGE_CONFIG (a JSON
 * or YAML file) describes any number. Both end up as this shape.
 */
import { z } from 'zod';
import { parseDuration } from './duration.js';
import type { AdapterSettings } from '../adapter.js';
import { botFlowSchema, type BotFlowConfig } from '../flow/config.js';

export const duration = (what: string) =>
  z.union([z.number().int().nonnegative(), z.string()]).transform((v, ctx) => {
    const ms = typeof v === 'number' ? v : parseDuration(v);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected a duration such as 30s, 15m, 24h or 7d (${what})` });
      return z.NEVER;
    }
    return ms;
  });

export const httpUrl = z
  .string()
  .trim()
  .refine((v) => {
    try {
      const u = new URL(v);
      return u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      return false;
    }
  }, 'expected an absolute http(s) URL');

/** A Custom App ID: it appears in URL paths and Redis keys, so keep it to a safe alphabet. */
export const channelId = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'expected 1-64 characters of letters, digits, "_", "-" or "."');

export const channelSchema = z.object({
  id: channelId,
  blinger: z.object({
    url: httpUrl,
    token: z.string().min(1, 'expected the Custom App token'),
    timeout: duration('Blinger request timeout').optional(),
  }),
  adapter: z.looseObject({ type: z.string().min(1, 'expected an adapter type such as "telegram"') }),
  /** Lets outbound file downloads reach loopback/private addresses (sandbox, tests, intranets). */
  allowPrivateUrls: z.boolean().optional(),
  /** The built-in bot flow in front of the agents (src/flow/); off when absent. */
  bot: botFlowSchema.optional(),
});

export type ChannelInput = z.input<typeof channelSchema>;

export interface ChannelConfig {
  id: string;
  blinger: { url: string; token: string; timeoutMs: number };
  /** The adapter section, as the adapter type's settings schema validated it. */
  adapter: AdapterSettings & Record<string, unknown>;
  allowPrivateUrls: boolean;
  /** The channel's bot flow (greeting, menu, FAQ, hand-over, off-hours), when configured. */
  bot?: BotFlowConfig;
}

export interface BridgeConfig {
  redisUrl: string;
  /** Prefix of every Redis key; use a hash tag such as {bb} on Redis Cluster. */
  redisPrefix: string;
  /** REDIS_URL names one node of a Redis Cluster (the others are discovered). */
  redisCluster?: boolean;
  port: number;
  host: string;
  publicUrl: string;
  mediaSecret: string;
  mediaTtlMs: number;
  logLevel: string;
  /** LOG_FORMAT: unset = pretty on a terminal, JSON otherwise. */
  logFormat?: 'json' | 'pretty';
  admin?: { user: string; password: string };
  retryMaxAgeMs: number;
  concurrency: number;
  channels: ChannelConfig[];
  /** No channel configured: the built-in sandbox channel runs (docs/architecture.md, "Sandbox mode"). */
  sandbox: boolean;
}
