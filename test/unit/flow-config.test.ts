import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { configProblems } from '../helpers/config.js';
import { HANDOVER_BUTTON_DATA, menuData } from '../../src/flow/config.js';
import { isOpen } from '../../src/flow/schedule.js';

const TOKEN = '123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw';
const ENV = {
  MEDIA_SECRET: 'a-long-random-media-secret',
  SUPPORT_BLINGER_URL: 'https://blinger.example/in',
  SUPPORT_BLINGER_TOKEN: 'bt',
  SUPPORT_BOT_TOKEN: TOKEN,
};
const dir = mkdtempSync(join(tmpdir(), 'bb-bot-config-'));

function withBot(bot: string): string {
  const path = join(dir, `c-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    path,
    `channels:\n  - id: shop\n    blinger: { url: "https://b.example/in", token: t }\n    adapter: { type: telegram, token: "${TOKEN}" }\n    bot:\n${bot.replace(/^/gm, '      ')}\n`,
  );
  return path;
}

function problems(path: string): string[] {
  return configProblems({ BRIDGE_CONFIG: path, MEDIA_SECRET: ENV.MEDIA_SECRET });
}

describe('the bot section of BRIDGE_CONFIG', () => {
  it('reads examples/bot-flow.yaml (the README example) into the flow config', () => {
    const c = loadConfig({ ...ENV, BRIDGE_CONFIG: 'examples/bot-flow.yaml' });
    const bot = c.channels[0]!.bot!;
    expect(bot).toMatchObject({
      mirror: 'all',
      history: 20,
      greeting: expect.stringContaining('Acme bot'),
      handover: { keywords: ['operator', 'human', 'agent'], idleTimeoutMs: 30 * 60_000, message: expect.any(String) },
      askPhone: { when: 'handover', button: 'Share my phone number', thanks: 'Thank you!' },
      unmatched: { forward: true },
    });
    expect(bot.menu.map((m) => [m.label, m.handover, m.data])).toEqual([
      ['Opening hours', false, menuData('Opening hours')],
      ['Delivery times', false, menuData('Delivery times')],
      ['Talk to an operator', true, menuData('Talk to an operator')],
    ]);
    expect(bot.faq[1]).toEqual({ keywords: [], pattern: 'order\\s*#?\\d{4,}', answer: expect.any(String) });
    expect(bot.schedule).toMatchObject({ timezone: 'Europe/Berlin', closedDates: ['2025-12-25', '2025-12-26'] });
    expect(isOpen(bot.schedule!, Date.parse('2025-06-07T09:00:00Z'))).toBe(true); // Saturday 11:00
    expect(isOpen(bot.schedule!, Date.parse('2025-06-08T09:00:00Z'))).toBe(false); // Sunday
  });

  it('is off unless configured, and fills defaults for a minimal section', () => {
    const plain = join(dir, 'plain.yaml');
    writeFileSync(
      plain,
      `channels:\n  - id: shop\n    blinger: { url: "https://b.example/in", token: t }\n    adapter: { type: telegram, token: "${TOKEN}" }\n`,
    );
    expect(loadConfig({ BRIDGE_CONFIG: plain, MEDIA_SECRET: ENV.MEDIA_SECRET }).channels[0]).not.toHaveProperty('bot');
    const bot = loadConfig({
      BRIDGE_CONFIG: withBot('greeting: Hello\naskPhone: true\nhandover: { button: Operator, idleTimeout: 90s }'),
      MEDIA_SECRET: ENV.MEDIA_SECRET,
    }).channels[0]!.bot!;
    expect(bot).toEqual({
      mirror: 'all',
      history: 20,
      greeting: 'Hello',
      menu: [],
      faq: [],
      handover: { keywords: [], button: 'Operator', idleTimeoutMs: 90_000 },
      askPhone: { text: expect.any(String), button: 'Share my phone number', when: 'handover' },
      unmatched: { forward: true },
    });
    expect(HANDOVER_BUTTON_DATA).not.toBe(menuData('Operator'));
  });

  it('names the path and the problem of each bad value', () => {
    const p = problems(
      withBot(`mirror: sometimes
greting: typo
menu:
  - { label: Both, answer: yes, handover: true }
  - { label: "" , answer: x }
faq:
  - { answer: no trigger }
  - { pattern: "(unclosed", answer: x }
handover: { idleTimeout: soon }
askPhone: { when: later }
unmatched: reply
schedule:
  timezone: Mars/Olympus
  hours: { mon-fri: "9-18", weekend: "10:00-12:00", fri: "10:00-12:00" }
  message: closed`),
    );
    const at = (path: string) => p.find((l) => l.startsWith(`BRIDGE_CONFIG channels[0].bot${path}:`));
    expect(at('.mirror')).toMatch(/all|after-handover/);
    expect(p.join('\n')).toMatch(/greting/);
    expect(at('.menu[0]')).toMatch(/either "answer: <text>" or "handover: true"/);
    expect(at('.menu[1].label')).toMatch(/expected the button label/);
    expect(at('.faq[0]')).toMatch(/"keywords" or "pattern"/);
    expect(at('.faq[1].pattern')).toMatch(/not a valid regular expression/);
    expect(at('.handover.idleTimeout')).toMatch(/expected a duration/);
    expect(at('.schedule.timezone')).toMatch(/IANA time zone/);
    expect(at('.askPhone.when')).toMatch(/"start"\|"handover"/);
    expect(at('.unmatched')).toBe('BRIDGE_CONFIG channels[0].bot.unmatched: expected "forward" or { answer: "<text>" }');
    expect(p.filter((l) => l.startsWith('BRIDGE_CONFIG channels[0].bot.schedule.hours.mon-fri:'))).toEqual([
      expect.stringMatching(/"9-18" is not a time range/),
    ]);
    expect(at('.schedule.hours.weekend')).toMatch(/"weekend" is not a day/);
    expect(at('.schedule.hours.fri')).toMatch(/overlaps "mon-fri"/);
  });
});
