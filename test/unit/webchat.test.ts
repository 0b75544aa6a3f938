/** The web chat's pure parts: visitor ids, frame validation, settings, what uploads are served as. */
import { describe, expect, it } from 'vitest';
import { clientIdOf, describeFrameIssues, infoOf, parseClientFrame } from '../../adapters/webchat/protocol.js';
import { parseWebchatSettings } from '../../adapters/webchat/settings.js';
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
    [{ type: 'dance' }, 'expected type to be one of hello, profile, message, button, phone, ping'],
    [{ type: 'message', id: 'abcdefgh' }, 'text: is required'],
    [[], 'expected a JSON object with a "type": hello, profile, message, button, phone or ping'],
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
    });
    expect(parseWebchatSettings({ type: 'webchat', maxUploadBytes: '512KB', title: 'Help' }, 'c')).toMatchObject({
      maxUploadBytes: 512_000,
      title: 'Help',
    });
    expect(parseWebchatSettings({ type: 'webchat', maxUploadBytes: '2MiB' }, 'c').maxUploadBytes).toBe(2 * 1024 * 1024);
  });

  it('names the channel and the field of a bad value, and catches typos', () => {
    expect(() => parseWebchatSettings({ type: 'webchat', maxUploadBytes: '1GB' }, 'site')).toThrow(
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
    ['application/pdf', 'application/octet-stream', false],
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
