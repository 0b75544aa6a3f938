/** The pure parts of sending to VK: random_id, keyboards, peers, file names, settings. */
import { describe, expect, it } from 'vitest';
import { cutUtf16, renderKeyboard } from '../../adapters/vk/keyboard.js';
import { peerOf, randomIdFor, uploadName } from '../../adapters/vk/send.js';
import { deriveCallbackSecret, vkSettingsSchema } from '../../adapters/vk/settings.js';
import { FULL_CAPS } from '../../adapters/vk/store.js';
import type { ReplyButton } from '../../src/adapter.js';

const TOKEN = 'vk1.a.TEST-community-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';

describe('random_id', () => {
  it('is the same for the same message and part on every attempt, different otherwise, and exact in 48 bits', () => {
    const id = '0b7c1f7e-6a6e-4c37-9d0e-4f8b5d2d7a11';
    expect(randomIdFor(id, 0)).toBe(randomIdFor(id, 0));
    expect(randomIdFor(id, 1)).not.toBe(randomIdFor(id, 0));
    expect(randomIdFor('another', 0)).not.toBe(randomIdFor(id, 0));
    const ids = Array.from({ length: 5000 }, (_, i) => randomIdFor(`m${i}`, i % 3));
    expect(new Set(ids).size).toBe(5000);
    expect(ids.filter((r) => !(Number(r) > 0 && Number(r) < 2 ** 48 && String(Number(r)) === r))).toEqual([]);
    expect(randomIdFor(undefined, 0)).not.toBe(randomIdFor(undefined, 0));
  });
});

describe('keyboards', () => {
  const menu: ReplyButton[][] = [[{ label: 'Opening hours', data: 'm:0' }], [{ label: 'Talk to an operator', data: 'h' }]];

  it('buttons become an inline keyboard of callback buttons carrying data and label', () => {
    expect(JSON.parse(renderKeyboard({ buttons: menu }, FULL_CAPS)!)).toEqual({
      inline: true,
      buttons: [
        [{ action: { type: 'callback', label: 'Opening hours', payload: '{"b":"m:0","l":"Opening hours"}' } }],
        [{ action: { type: 'callback', label: 'Talk to an operator', payload: '{"b":"h","l":"Talk to an operator"}' } }],
      ],
    });
  });

  it('an app without callback buttons gets inline text buttons; without inline keyboards a one-time keyboard', () => {
    const text = JSON.parse(renderKeyboard({ buttons: menu }, { ...FULL_CAPS, callback: false })!);
    expect(text.inline).toBe(true);
    expect(text.buttons[0][0].action).toEqual({ type: 'text', label: 'Opening hours', payload: '{"b":"m:0"}' });
    const oneTime = JSON.parse(renderKeyboard({ buttons: menu }, { ...FULL_CAPS, inline: false })!);
    expect(oneTime).toMatchObject({ one_time: true, buttons: [[{ action: { type: 'text' } }], [{ action: { type: 'text' } }]] });
    expect(oneTime.inline).toBeUndefined();
  });

  it('a menu too big for an inline keyboard (10 buttons, 6 rows) goes as a one-time keyboard, cut to 40 buttons', () => {
    const many = Array.from({ length: 12 }, (_, i) => [{ label: `Item ${i}`, data: `m:${i}` }]);
    expect(JSON.parse(renderKeyboard({ buttons: many }, FULL_CAPS)!)).toMatchObject({ one_time: true });
    const huge = [Array.from({ length: 60 }, (_, i) => ({ label: `${i}`, data: `${i}` }))];
    const k = JSON.parse(renderKeyboard({ buttons: huge }, FULL_CAPS)!) as { buttons: unknown[][] };
    expect(k.buttons.length).toBe(8);
    expect(k.buttons.every((r) => r.length <= 5)).toBe(true);
    expect(k.buttons.flat()).toHaveLength(40);
  });

  it('labels are cut to 40 UTF-16 units without splitting an emoji; payloads stay within 255', () => {
    const label = `${'x'.repeat(38)}😀tail`;
    expect(cutUtf16(label, 40)).toBe(`${'x'.repeat(38)}…`);
    expect(cutUtf16('short', 40)).toBe('short');
    const k = JSON.parse(renderKeyboard({ buttons: [[{ label: '"'.repeat(60), data: '\\'.repeat(64) }]] }, FULL_CAPS)!);
    const b = k.buttons[0][0].action;
    expect(b.label.length).toBeLessThanOrEqual(40);
    expect(b.payload.length).toBeLessThanOrEqual(255);
    expect(JSON.parse(b.payload).b).toBe('\\'.repeat(64));
  });

  it('remove hides the keyboard; a phone request shows none (VK has no such button); nothing gives nothing', () => {
    expect(JSON.parse(renderKeyboard({ remove: true }, FULL_CAPS)!)).toEqual({ one_time: true, buttons: [] });
    expect(renderKeyboard({ requestPhone: 'Share my phone' }, FULL_CAPS)).toBeUndefined();
    expect(renderKeyboard(undefined, FULL_CAPS)).toBeUndefined();
  });
});

describe('peers and file names', () => {
  it('client_id must be a VK peer: a user id or a chat (2000000000 + n)', () => {
    expect(peerOf('100001')).toBe(100001);
    expect(peerOf('2000000005')).toBe(2000000005);
    for (const bad of ['-5', '0', 'abc', '1e5', '', '99999999999999999999']) expect(() => peerOf(bad), bad).toThrow(/not a VK peer_id/);
  });

  it('an upload keeps the file name, with the extension of its type when it has none', () => {
    expect(uploadName({ fileName: 'report.pdf', contentType: 'application/pdf' }, 'file')).toBe('report.pdf');
    expect(uploadName({ fileName: 'scan', contentType: 'image/png' }, 'photo')).toBe('scan.png');
    expect(uploadName({ contentType: 'application/pdf; charset=binary' }, 'file')).toBe('file.pdf');
    expect(uploadName({}, 'file')).toBe('file');
  });
});

describe('settings', () => {
  it('fills the defaults, derives the secret from the token, takes env strings, and parses its own output the same', () => {
    const s = vkSettingsSchema.parse({ type: 'vk', token: TOKEN, groupId: 'club218000001', apiRoot: 'http://127.0.0.1:9/method/' });
    expect(s).toMatchObject({
      groupId: 218000001,
      mode: 'longpoll',
      apiVersion: '5.199',
      apiRoot: 'http://127.0.0.1:9/method',
      secret: deriveCallbackSecret(TOKEN),
    });
    expect(s.secret).toHaveLength(40);
    expect(vkSettingsSchema.parse(s)).toEqual(s);
    expect(vkSettingsSchema.parse({ type: 'vk', token: TOKEN, groupId: '-42' }).groupId).toBe(42);
  });

  it('refuses what cannot work, naming it', () => {
    const issues = (raw: Record<string, unknown>) =>
      vkSettingsSchema.safeParse({ type: 'vk', token: TOKEN, groupId: 1, ...raw }).error?.issues;
    expect(issues({ groupId: 'mygroup' })?.[0]?.path).toEqual(['groupId']);
    expect(issues({ token: 'short' })?.[0]?.path).toEqual(['token']);
    expect(issues({ mode: 'webhook' })?.[0]?.path).toEqual(['mode']);
    expect(issues({ secret: 'x'.repeat(51) })?.[0]?.path).toEqual(['secret']);
    expect(issues({ apiVersion: '6' })?.[0]?.path).toEqual(['apiVersion']);
    expect(issues({})).toBeUndefined();
  });
});
