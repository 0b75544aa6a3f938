/**
 * Signed media links: GET /media/<payload>.<signature>. The payload (base64url JSON) names the
 * channel and the messenger's file; the HMAC-SHA256 signature (MEDIA_SECRET) makes it unforgeable
 * and the expiry makes it stale after MEDIA_LINK_TTL. Messenger URLs that embed tokens (Telegram's)
 * therefore never leave the bridge.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { MediaRef } from '../adapter.js';

interface Payload {
  c: string; // channel id
  i: string; // adapter file handle
  n?: string;
  m?: string;
  s?: number;
  e: number; // expiry, unix seconds
}

export interface VerifiedMedia {
  channelId: string;
  ref: MediaRef;
}

export class MediaSigner {
  constructor(
    private readonly secret: string,
    private readonly publicUrl: string,
    private readonly ttlMs: number,
  ) {}

  token(channelId: string, ref: MediaRef, now = Date.now()): string {
    const p: Payload = { c: channelId, i: ref.id, e: Math.floor((now + this.ttlMs) / 1000) };
    if (ref.name) p.n = ref.name;
    if (ref.mime) p.m = ref.mime;
    if (ref.size !== undefined) p.s = ref.size;
    const body = Buffer.from(JSON.stringify(p)).toString('base64url');
    return `${body}.${this.sign(body)}`;
  }

  link(channelId: string, ref: MediaRef): string {
    return `${this.publicUrl}/media/${this.token(channelId, ref)}`;
  }

  /** The file a token names, or why it is refused (bad signature, expired, malformed). */
  verify(token: string, now = Date.now()): VerifiedMedia | { error: string } {
    const dot = token.lastIndexOf('.');
    if (dot <= 0) return { error: 'malformed media link' };
    const body = token.slice(0, dot);
    // Compared as text, not as decoded bytes: base64url's last character carries unused bits, so
    // decoding would accept several spellings of one signature.
    const given = Buffer.from(token.slice(dot + 1));
    const expected = Buffer.from(this.sign(body));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { error: 'bad signature' };
    let p: Payload;
    try {
      p = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Payload;
    } catch {
      return { error: 'malformed media link' };
    }
    if (typeof p.e !== 'number' || p.e * 1000 < now) return { error: 'media link expired' };
    return { channelId: p.c, ref: { id: p.i, name: p.n, mime: p.m, size: p.s } };
  }

  private sign(body: string): string {
    return createHmac('sha256', this.secret).update(body).digest('base64url');
  }
}
