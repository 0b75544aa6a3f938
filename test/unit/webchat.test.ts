/** The web chat's pure parts: visitor ids, frame validation, settings, what uploads are served as. */
import { describe, expect, it } from 'vitest';
import { addressKey, clientAddress } from '../../adapters/webchat/client-ip.js';
import {
  clientIdOf,
  describeFrameIssues,
  infoOf,
  majorOf,
  parseClientFrame,
  PHONE_PATTERN,
  PROTOCOL_VERSION,
} from '../../adapters/webchat/protocol.js';
import { webchatAdapter } from '../../adapters/webchat/index.js';
import type { WebchatSettings } from '../../adapters/webchat/settings.js';
import { channelSettings } from '../../src/adapters.js';

const parseWebchatSettings = (adapter: Record<string, unknown>, id: string) =>
  channelSettings(webchatAdapter, {
    id,
    blinger: { url: 'https://b.example', token: 't', timeoutMs: 1000 },
    adapter: { type: 'webchat', ...adapter },
    allowPrivateUrls: false,
  }) as WebchatSettings;
import { cleanFileName, isInlineImage, servableType } from '../../src/media/safe-type.js';

describe('visitor ids', () => {
  it('derives a stable client_id from the page key that does not reveal the key', () => {
    const key = 'Zk3q9_abcdefghijklmnopqrstuvwxyz012345';
    expect(clientIdOf(key)).toBe(clientIdOf(key));
    expect(clientIdOf(key)).toMatch(/^web-[A-Za-z0-9_-]{22}$/);
    expect(clientIdOf(key)).not.toContain(key.slice(0, 8));
    expect(clientIdOf(`${key}x`)).not.toBe(clientIdOf(key));
  });
});

describe('client frames', () => {
  const parse = (f: unknown) => {
    const r = parseClientFrame(f);
    return r.success ? r.data : describeFrameIssues(r.error);
  };

  it('accepts a hello with the optional facts, and empty form fields count as unset', () => {
    expect(parse({ type: 'hello', key: 'k'.repeat(22), name: '  ', phone: '', page: 'https://shop.example/x', language: 'de-DE' })).toEqual(
      {
        type: 'hello',
        key: 'k'.repeat(22),
        page: 'https://shop.example/x',
        language: 'de-DE',
      },
    );
  });

  it.each([
    [{ type: 'hello' }, 'key: is required'],
    [{ type: 'hello', key: 'k'.repeat(22), phone: 'call me' }, 'phone: expected a phone number'],
    [{ type: 'message', id: 'short', text: 'x' }, 'id: expected 8-64 characters'],
    [{ type: 'message', id: 'abcdefgh', text: '   ' }, 'text: must not be empty'],
    [{ type: 'message', id: 'abcdefgh', text: 5 }, 'text: expected a string'],
    [{ type: 'dance' }, 'expected type to be one of hello, profile, message, button, phone, resend, ping'],
    [{ type: 'message', id: 'abcdefgh' }, 'text: is required'],
    [[], 'expected a JSON object with a "type": hello, profile, message, button, phone, resend or ping'],
    [{ type: 'button', id: 'abcdefgh' }, 'data: is required'],
    [{ type: 'button', id: 'abcdefgh', data: '' }, 'data: must not be empty'],
    [{ type: 'button', id: 'abcdefgh', data: 7 }, 'data: expected a string'],
    // 33 × 2 bytes: over Telegram's 64-byte callback_data, which every bot button keeps to.
    [{ type: 'button', id: 'abcdefgh', data: 'é'.repeat(33) }, 'data: must be at most 64 bytes'],
    [{ type: 'button', data: 'm:abc' }, 'id: is required'],
    [{ type: 'phone', id: 'abcdefgh' }, 'phone: is required'],
    [{ type: 'phone', id: 'abcdefgh', phone: '   ' }, 'phone: expected a phone number'],
    [{ type: 'phone', id: 'abcdefgh', phone: '+1 555 0100', name: 'x'.repeat(101) }, 'name: must be at most 100 characters'],
    ['hi', 'expected a JSON object with a "type"'],
  ])('refuses %j: %s', (frame, text) => {
    expect(parse(frame)).toEqual(expect.stringContaining(text));
  });

  it('accepts a button press and a shared phone', () => {
    expect(parse({ type: 'button', id: 'press-0001', data: 'm:Zk3q9' })).toEqual({ type: 'button', id: 'press-0001', data: 'm:Zk3q9' });
    expect(parse({ type: 'button', id: 'press-0002', data: 'é'.repeat(32) })).toMatchObject({ data: 'é'.repeat(32) });
    expect(parse({ type: 'phone', id: 'phone-0001', phone: ' +44 20 7946 0000 ', name: 'Ada' })).toEqual({
      type: 'phone',
      id: 'phone-0001',
      phone: '+44 20 7946 0000',
      name: 'Ada',
    });
    expect(parse({ type: 'phone', id: 'phone-0002', phone: '030 1234567', name: '' })).toEqual({
      type: 'phone',
      id: 'phone-0002',
      phone: '030 1234567',
    });
  });

  it('passes only the known facts to Blinger’s info', () => {
    expect(infoOf({ page: 'https://a/', referrer: undefined, language: 'en' }, 'Mozilla/5.0')).toEqual({
      source: 'web chat',
      page: 'https://a/',
      user_agent: 'Mozilla/5.0',
      language: 'en',
    });
    expect(infoOf({}, undefined)).toEqual({ source: 'web chat' });
  });
});

describe('web chat settings', () => {
  it('has defaults and reads sizes with units', () => {
    expect(parseWebchatSettings({ type: 'webchat' }, 'c')).toEqual({
      type: 'webchat',
      title: 'Chat with us',
      maxUploadBytes: 10 * 1024 * 1024,
      quotas: {
        messagesPerMinute: 30,
        uploadBytesPerDay: 100 * 1024 * 1024,
        uploadBytesPerIpPerDay: 300 * 1024 * 1024,
        socketsPerIp: 50,
        newVisitorsPerIpPerHour: 60,
      },
    });
    expect(parseWebchatSettings({ type: 'webchat', maxUploadBytes: '512KB', title: 'Help' }, 'c')).toMatchObject({
      maxUploadBytes: 512_000,
      title: 'Help',
    });
    expect(parseWebchatSettings({ type: 'webchat', maxUploadBytes: '2MiB' }, 'c').maxUploadBytes).toBe(2 * 1024 * 1024);
  });

  it('names the channel and the field of a bad value, and catches typos', () => {
    expect(() => parseWebchatSettings({ type: 'webchat', maxUploadBytes: '1TB' }, 'site')).toThrow(
      'channel site (webchat): adapter.maxUploadBytes: expected a size such as 5MB',
    );
    expect(() => parseWebchatSettings({ type: 'webchat', maxUploadBytes: '60MB' }, 'site')).toThrow(
      'adapter.maxUploadBytes: expected at most 50MiB',
    );
    expect(() => parseWebchatSettings({ type: 'webchat', titel: 'x' }, 'site')).toThrow(/titel/);
  });
});

describe('serving uploads', () => {
  it.each([
    ['image/png', 'image/png', true],
    ['IMAGE/JPEG; charset=binary', 'image/jpeg', true],
    ['image/svg+xml', 'application/octet-stream', false],
    ['text/html', 'application/octet-stream', false],
    ['application/pdf', 'application/pdf', false],
    ['text/plain', 'text/plain; charset=utf-8', false],
    [undefined, 'application/octet-stream', false],
  ])('%s is served as %s (inline image: %s)', (mime, served, image) => {
    expect(servableType(mime)).toBe(served);
    expect(isInlineImage(mime)).toBe(image);
  });

  it('keeps only the last part of a file name, without control characters', () => {
    expect(cleanFileName('../../etc/passwd')).toBe('passwd');
    expect(cleanFileName('C:\\Users\\me\\report.pdf')).toBe('report.pdf');
    expect(cleanFileName('a\u0000b\nc.txt')).toBe('abc.txt');
    expect(cleanFileName('')).toBe('file');
    expect(cleanFileName('x'.repeat(300))).toHaveLength(200);
  });
});

describe('protocol version', () => {
  it('reads the major version of a hello; a hello without one is a page from before versions, 1', () => {
    expect(PROTOCOL_VERSION).toBe('1.0');
    expect(majorOf(undefined)).toBe(1);
    expect(majorOf('1.0')).toBe(1);
    expect(majorOf('1.7')).toBe(1);
    expect(majorOf('2.0')).toBe(2);
    expect(majorOf('2')).toBe(2);
  });

  it('accepts "major.minor" in hello and refuses anything else, naming the field', () => {
    const hello = { type: 'hello', key: 'k'.repeat(22) };
    expect(parseClientFrame({ ...hello, version: '1.0' }).data).toMatchObject({ version: '1.0' });
    for (const version of ['v1', '1.0.0', '', 1]) {
      const r = parseClientFrame({ ...hello, version });
      expect(r.success).toBe(false);
      expect(describeFrameIssues(r.error!)).toMatch(/^version: expected/);
    }
  });

  it('takes a resend of an earlier message, as a new message id', () => {
    expect(parseClientFrame({ type: 'resend', id: 'new-msg-01', of: 'old-msg-01' }).data).toEqual({
      type: 'resend',
      id: 'new-msg-01',
      of: 'old-msg-01',
    });
    expect(describeFrameIssues(parseClientFrame({ type: 'resend', id: 'new-msg-01' }).error!)).toBe('of: is required');
  });
});

describe('the phone rule', () => {
  // Browsers compile an <input pattern> in the "v" mode, where the old pattern was a syntax
  // error (so it checked nothing). The one pattern must mean the same in every mode.
  const samples = ['+44 20 7946 0000', '030 1234-567', '+1 (555) 010.0100', 'abc', '12', '+', '555 abc 1234', '1'.repeat(33)];

  it.each(['', 'u', 'v'])('is a valid pattern with flags "%s", and means the same as the server rule', (flags) => {
    const re = new RegExp(`^(?:${PHONE_PATTERN})$`, flags);
    const server = (v: string) => parseClientFrame({ type: 'phone', id: 'phone-msg-1', phone: v }).success;
    for (const v of samples) expect(re.test(v), v).toBe(server(v));
    expect(samples.filter((v) => re.test(v))).toEqual(['+44 20 7946 0000', '030 1234-567', '+1 (555) 010.0100']);
  });
});

describe('the address per-address quotas count', () => {
  it('is the connection’s address, IPv6 by its /64, IPv4-mapped as IPv4', () => {
    expect(addressKey('203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:2:ffff:ffff:ffff:fffe')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
  });

  it('behind a proxy, the last address of its header (the one the proxy added); the connection’s when the header is missing or not an address', () => {
    const h = { 'x-forwarded-for': '198.51.100.9, 203.0.113.7' };
    expect(clientAddress(h, '10.0.0.2', 'x-forwarded-for')).toBe('203.0.113.7');
    expect(clientAddress({ 'x-real-ip': '2001:db8:5:6::9' }, '10.0.0.2', 'x-real-ip')).toBe('2001:db8:5:6::/64');
    expect(clientAddress({}, '10.0.0.2', 'x-forwarded-for')).toBe('10.0.0.2');
    expect(clientAddress({ 'x-forwarded-for': 'garbage' }, '10.0.0.2', 'x-forwarded-for')).toBe('10.0.0.2');
    // Without the setting the header is not trusted: a client could write anything in it.
    expect(clientAddress(h, '10.0.0.2')).toBe('10.0.0.2');
  });
});

describe('quota and origin settings', () => {
  it('reads quotas with units, and refuses what is not a count', () => {
    const s = parseWebchatSettings({ type: 'webchat', quotas: { messagesPerMinute: 5, uploadBytesPerDay: '1GB', socketsPerIp: 3 } }, 'c');
    expect(s.quotas).toMatchObject({ messagesPerMinute: 5, uploadBytesPerDay: 1e9, socketsPerIp: 3, newVisitorsPerIpPerHour: 60 });
    expect(() => parseWebchatSettings({ type: 'webchat', quotas: { messagesPerMinute: 0 } }, 'c')).toThrow(
      'adapter.quotas.messagesPerMinute: expected at least 1',
    );
    expect(() => parseWebchatSettings({ type: 'webchat', quotas: { socketsPerIp: 2.5 } }, 'c')).toThrow(
      'adapter.quotas.socketsPerIp: expected a whole number',
    );
    expect(() => parseWebchatSettings({ type: 'webchat', quotas: { messagesPerHour: 5 } }, 'c')).toThrow(/messagesPerHour/);
  });

  it('takes origins (scheme, host, port) and a proxy header, and names what is wrong', () => {
    const s = parseWebchatSettings(
      { type: 'webchat', allowedOrigins: ['https://shop.example', 'http://localhost:8080/'], clientIpHeader: 'X-Forwarded-For' },
      'c',
    );
    expect(s.allowedOrigins).toEqual(['https://shop.example', 'http://localhost:8080']);
    expect(s.clientIpHeader).toBe('x-forwarded-for');
    expect(() => parseWebchatSettings({ type: 'webchat', allowedOrigins: ['https://shop.example/cart'] }, 'c')).toThrow(
      'adapter.allowedOrigins.0: "https://shop.example/cart" is not an origin',
    );
    expect(() => parseWebchatSettings({ type: 'webchat', allowedOrigins: ['shop.example'] }, 'c')).toThrow(/is not an origin/);
    expect(() => parseWebchatSettings({ type: 'webchat', clientIpHeader: 'X Forwarded' }, 'c')).toThrow(
      'adapter.clientIpHeader: expected a header name',
    );
  });
});
