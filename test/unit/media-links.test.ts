import { describe, expect, it } from 'vitest';
import { MediaSigner } from '../../src/media/links.js';

describe('signed media links', () => {
  const signer = new MediaSigner('media-secret-for-tests', 'https://bridge.example', 60_000);
  const ref = { id: 'AgACAgIAAxkBAAIB', name: 'photo 1.jpg', mime: 'image/jpeg', size: 1234 };

  it('round-trips the channel and file under PUBLIC_URL/media/', () => {
    const link = signer.link('shop', ref);
    expect(link.startsWith('https://bridge.example/media/')).toBe(true);
    expect(signer.verify(link.slice('https://bridge.example/media/'.length))).toEqual({ channelId: 'shop', ref });
  });

  it('refuses a tampered payload, a foreign key and a malformed token', () => {
    const token = signer.token('shop', ref);
    const [body, sig] = token.split('.') as [string, string];
    const forged = Buffer.from(JSON.stringify({ c: 'other', i: 'x', e: 9_999_999_999 })).toString('base64url');
    expect(signer.verify(`${forged}.${sig}`)).toEqual({ error: 'bad signature' });
    expect(new MediaSigner('another-secret-value', 'https://b', 60_000).verify(token)).toEqual({ error: 'bad signature' });
    expect(signer.verify('nodot')).toEqual({ error: 'malformed media link' });
    expect(signer.verify(`${body}.`)).toEqual({ error: 'bad signature' });
  });

  it('accepts one spelling of a signature only: every other last character is refused', () => {
    const token = signer.token('shop', ref);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    // A 32-byte HMAC in base64url ends in a character with 2 unused bits, so a byte-level
    // comparison would accept 3 other spellings of the same signature.
    const others = [...alphabet].filter((c) => c !== token.at(-1)).map((c) => token.slice(0, -1) + c);
    expect(others.filter((t) => !('error' in signer.verify(t)))).toEqual([]);
  });

  it('expires after its lifetime', () => {
    const token = signer.token('shop', ref, Date.now() - 120_000);
    expect(signer.verify(token)).toEqual({ error: 'media link expired' });
  });
});
