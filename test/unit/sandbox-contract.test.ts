/** The sandbox stand-in's strict reading of docs/architecture.md, "The Custom App API": what is a violation, what a warning. */
import { describe, expect, it } from 'vitest';
import { checkIncoming } from '../../src/sandbox/contract.js';

const TOKEN = 'sandbox-app-token-abcdef123456';
const expected = { token: TOKEN, channelId: 'sandbox' };
const good = { token: TOKEN, custom_channel_id: 'sandbox', client_id: 'web-1', type: 'text', data: 'hi' };
const check = (body: unknown, headers: { authorization?: string; contentType?: string } = {}) =>
  checkIncoming(
    {
      authorization: `Bearer ${TOKEN}`,
      contentType: 'application/json',
      ...headers,
      raw: typeof body === 'string' ? body : JSON.stringify(body),
    },
    expected,
  );

describe('checkIncoming', () => {
  it('accepts exactly what the bridge sends, and never shows the token', () => {
    const r = check({
      ...good,
      client_name: 'Ada',
      client_phone: '+1 555 0100',
      info: { page: 'https://x' },
      echo: true,
      echo_outgoing: true,
    });
    expect(r).toMatchObject({ status: 200, violations: [], warnings: [], clientId: 'web-1' });
    expect(r.shown).toMatchObject({ token: '[the app token]', client_name: 'Ada' });
    expect(JSON.stringify(r.shown)).not.toContain(TOKEN);
  });

  it('takes an http link to this machine without a warning: in the sandbox there is no other kind', () => {
    for (const data of ['http://localhost:3000/media/x.y', 'http://127.0.0.1:3000/media/x.y', 'http://192.168.1.5:3000/media/x.y']) {
      expect(check({ ...good, type: 'file', data })).toMatchObject({ status: 200, violations: [], warnings: [] });
    }
    expect(check({ ...good, type: 'file', data: 'http://files.example/x.pdf' }).violations).toEqual([
      'data: expected an https URL, got http://files.example/…',
    ]);
  });

  it.each<[string, { authorization?: string; contentType?: string }, number, string]>([
    ['no Authorization header', { authorization: '' }, 401, 'Authorization header: missing'],
    ['a Basic header', { authorization: 'Basic abc' }, 401, 'Authorization header: expected "Bearer <app token>"'],
    ['a wrong bearer', { authorization: 'Bearer nope' }, 401, 'the bearer token is not the app token'],
    ['form encoding', { contentType: 'application/x-www-form-urlencoded' }, 415, 'Content-Type: expected application/json'],
  ])('%s → %i', (_name, headers, status, text) => {
    const r = check(good, headers.authorization === '' ? { authorization: undefined } : headers);
    expect(r.status).toBe(status);
    expect(r.violations.join('\n')).toContain(text);
  });

  it.each([
    ['token missing from the body', { ...good, token: undefined }, 400, 'token: required'],
    ['a different body token', { ...good, token: 'other-token-123456' }, 401, 'token: not the app token'],
    ['another app', { ...good, custom_channel_id: 'other' }, 400, 'custom_channel_id: "other" is not this app\'s ID'],
    ['a numeric client_id', { ...good, client_id: 42 }, 400, 'client_id: expected a string, got number'],
    ['an empty client_id', { ...good, client_id: ' ' }, 400, 'client_id: must not be empty'],
    ['an unknown type', { ...good, type: 'video' }, 400, 'type: must be text, image or file, got "video"'],
    ['no data', { ...good, data: undefined }, 400, 'data: required'],
    ['an image that is no URL', { ...good, type: 'image', data: 'photo.jpg' }, 400, 'data: for type "image" expected an https URL'],
    ['a public http image', { ...good, type: 'image', data: 'http://cdn.example.com/a.png' }, 400, 'data: expected an https URL'],
    ['an extra field', { ...good, priority: 'high' }, 400, 'priority: not a field of the Custom App API'],
    ['info as an array', { ...good, info: [1] }, 400, 'info: expected a JSON object, got an array'],
    ['echo as a string', { ...good, echo: 'true' }, 400, 'echo: expected true or false'],
    ['echo_outgoing alone', { ...good, echo_outgoing: true }, 400, 'echo_outgoing: true only makes sense together with echo: true'],
    ['the token leaking into data', { ...good, data: `my token is ${TOKEN}` }, 400, 'data: contains the app token'],
  ])('%s is a violation', (_name, body, status, text) => {
    const r = check(body);
    expect(r.status).toBe(status);
    expect(r.violations.join('\n')).toContain(text);
    expect(JSON.stringify(r.shown)).not.toContain(TOKEN);
  });

  it.each([
    ['an empty client_name', { ...good, client_name: '' }, 'client_name: sent empty'],
    ['empty info', { ...good, info: {} }, 'info: sent empty'],
    ['echo: false', { ...good, echo: false }, 'sent as false'],
    ['a phone that is not one', { ...good, client_phone: 'call me' }, 'does not look like a phone number'],
  ])('%s is a warning, answered 200', (_name, body, text) => {
    const r = check(body);
    expect(r.status).toBe(200);
    expect(r.violations).toEqual([]);
    expect(r.warnings.join('\n')).toContain(text);
  });

  it('says what is wrong with a body that is not JSON, masking the token', () => {
    const r = check(`token=${TOKEN}&data=hi`);
    expect(r.status).toBe(400);
    expect(r.violations).toEqual(['body: not valid JSON']);
    expect(r.shown).toBe('token=[the app token]&data=hi');
    expect(r.clientId).toBeUndefined();
  });

  it('reports every problem at once, with the status a server would check first', () => {
    const r = check({ client_id: 'x', type: 'gif' }, { authorization: 'Bearer nope' });
    expect(r.status).toBe(401);
    expect(r.violations).toEqual(
      expect.arrayContaining([
        'Authorization header: the bearer token is not the app token',
        'token: required (the app token, also in the body)',
        'custom_channel_id: required (the Custom App ID)',
        'data: required',
      ]),
    );
  });
});
