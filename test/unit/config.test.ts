import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { configProblems } from '../helpers/config.js';
import { parseDuration } from '../../src/config/duration.js';

const TOKEN = '123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw';
const channelEnv = {
  BLINGER_URL: 'https://blinger.example/custom-app/incoming',
  BLINGER_TOKEN: 'blinger-token-1',
  BLINGER_CHANNEL_ID: '4711',
  TELEGRAM_BOT_TOKEN: TOKEN,
  MEDIA_SECRET: 'a-long-random-media-secret',
};

describe('configuration from the environment', () => {
  it('uses the documented defaults and runs the sandbox when no channel is configured', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      redisUrl: 'redis://127.0.0.1:6379',
      port: 3000,
      host: '127.0.0.1',
      publicUrl: 'http://localhost:3000',
      logLevel: 'info',
      sandbox: true,
      channels: [],
      retryMaxAgeMs: 86_400_000,
    });
    expect(c.mediaSecret).toHaveLength(64);
  });

  it('builds one Telegram channel from the single-channel variables', () => {
    const c = loadConfig({
      ...channelEnv,
      PORT: '8080',
      PUBLIC_URL: 'https://bridge.example/',
      TELEGRAM_MODE: 'webhook',
      RETRY_MAX_AGE: '2h',
    });
    expect(c.sandbox).toBe(false);
    expect(c.publicUrl).toBe('https://bridge.example');
    expect(c.retryMaxAgeMs).toBe(7_200_000);
    expect(c.channels).toMatchObject([
      {
        id: '4711',
        blinger: { url: channelEnv.BLINGER_URL, token: 'blinger-token-1', timeoutMs: 10_000 },
        // Validated by the Telegram adapter's schema: its defaults are filled in.
        adapter: { type: 'telegram', token: TOKEN, mode: 'webhook', apiRoot: 'https://api.telegram.org', pollTimeout: 30 },
        allowPrivateUrls: false,
      },
    ]);
  });

  it('names every bad variable on its own line with what is expected', () => {
    const p = configProblems({
      PORT: 'eighty',
      REDIS_URL: 'localhost:6379',
      TELEGRAM_MODE: 'push',
      LOG_LEVEL: 'loud',
      PUBLIC_URL: 'bridge.example',
    });
    expect(p).toHaveLength(5);
    expect(p).toContainEqual(expect.stringMatching(/^TELEGRAM_MODE=push: set without TELEGRAM_BOT_TOKEN/));
    // The value given and the form expected, not the library's words.
    expect(p).toContain('PORT=eighty: expected a port number 1–65535');
    expect(p).toContain('REDIS_URL=localhost:6379: expected a redis:// or rediss:// URL');
    expect(p).toContain('LOG_LEVEL=loud: expected one of fatal, error, warn, info, debug, trace, silent');
    expect(p).toContain('PUBLIC_URL=bridge.example: expected an absolute http(s) URL');
  });

  it("names a messenger's variable set without the one that enables it, and checks it with the channel", () => {
    expect(configProblems({ TELEGRAM_MODE: 'push' })).toEqual([
      'TELEGRAM_MODE=push: set without TELEGRAM_BOT_TOKEN, so it has no effect (set TELEGRAM_BOT_TOKEN, or remove it)',
    ]);
    expect(configProblems({ ...channelEnv, TELEGRAM_MODE: 'push' })).toEqual([
      expect.stringMatching(/^TELEGRAM_MODE=push: .*polling.*webhook/),
    ]);
    expect(configProblems({ PORT: 'x y' })).toEqual(['PORT="x y": expected a port number 1–65535']);
  });

  it('asks for the missing parts of a half-configured channel, and for MEDIA_SECRET', () => {
    const p = configProblems({ TELEGRAM_BOT_TOKEN: TOKEN });
    expect(p.filter((l) => /^BLINGER_(URL|TOKEN|CHANNEL_ID): required/.test(l))).toHaveLength(3);
    expect(p.some((l) => l.startsWith('MEDIA_SECRET: required'))).toBe(true);
  });

  it('never echoes a secret in a problem line', () => {
    const p = configProblems({ ...channelEnv, TELEGRAM_BOT_TOKEN: 'not-a-token-but-secret-ish', MEDIA_SECRET: 'short' });
    expect(p.join('\n')).not.toContain('not-a-token-but-secret-ish');
    expect(p.join('\n')).not.toContain('short');
    expect(p).toContain('MEDIA_SECRET=(5 characters, hidden): expected at least 16 characters (use a long random string)');
    expect(p.some((l) => l.startsWith('TELEGRAM_BOT_TOKEN=(26 characters, hidden): expected a bot token'))).toBe(true);
  });

  it('requires ADMIN_USER and ADMIN_PASSWORD together', () => {
    expect(configProblems({ ADMIN_USER: 'ops' })).toEqual(['ADMIN_USER / ADMIN_PASSWORD: set both to enable /admin, or neither']);
  });

  it('refuses an /admin password shorter than 12 characters, without echoing it; ADMIN_READ_ONLY makes the dashboard read-only', () => {
    const p = configProblems({ ADMIN_USER: 'ops', ADMIN_PASSWORD: 'hunter2-abc' });
    expect(p).toEqual(['ADMIN_PASSWORD=(11 characters, hidden): expected at least 12 characters (/admin can pause and empty the queues)']);
    expect(loadConfig({ ADMIN_USER: 'ops', ADMIN_PASSWORD: 'correct-horse-battery' }).admin).toEqual({
      user: 'ops',
      password: 'correct-horse-battery',
      readOnly: false,
    });
    expect(loadConfig({ ADMIN_USER: 'ops', ADMIN_PASSWORD: 'correct-horse-battery', ADMIN_READ_ONLY: 'true' }).admin?.readOnly).toBe(true);
    expect(configProblems({ ADMIN_READ_ONLY: 'yes' })).toEqual(['ADMIN_READ_ONLY=yes: expected true or false']);
  });

  it('the sandbox listens on 127.0.0.1 unless HOST says otherwise; a configured bridge on every interface', () => {
    expect(loadConfig({}).host).toBe('127.0.0.1');
    expect(loadConfig({ HOST: '0.0.0.0' }).host).toBe('0.0.0.0');
    expect(loadConfig(channelEnv).host).toBe('0.0.0.0');
    expect(loadConfig({ ...channelEnv, HOST: '::' }).host).toBe('::');
    expect(loadConfig({ HOST: 'localhost' }).host).toBe('localhost');
  });

  it.each(['0.0.0.0:3000', 'http://0.0.0.0', 'my host', '-bad.example', 'a..b'])('refuses HOST=%s with one line naming HOST', (host) => {
    expect(configProblems({ HOST: host })).toEqual([
      expect.stringMatching(/^HOST=("?).*\1: expected an IP address \(0\.0\.0\.0, 127\.0\.0\.1, ::\) or a host name such as localhost$/),
    ]);
  });

  it('refuses MEDIA_LINK_TTL=0 (every link would be expired when sent) and takes HTTP_REQUEST_TIMEOUT as a duration', () => {
    expect(configProblems({ MEDIA_LINK_TTL: '0' })).toEqual(['MEDIA_LINK_TTL=0: expected more than 0 (links would be expired when sent)']);
    expect(configProblems({ MEDIA_LINK_TTL: '0s' })).toHaveLength(1);
    expect(loadConfig({ MEDIA_LINK_TTL: '1h' }).mediaTtlMs).toBe(3_600_000);
    expect(loadConfig({ HTTP_REQUEST_TIMEOUT: '2m' }).requestTimeoutMs).toBe(120_000);
    expect(loadConfig({}).requestTimeoutMs).toBeUndefined();
    expect(configProblems({ HTTP_REQUEST_TIMEOUT: '10' })[0]).toMatch(/^HTTP_REQUEST_TIMEOUT=10: expected at least 1s/);
  });
});

describe('BRIDGE_CONFIG files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bb-config-'));
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  it('reads several channels from YAML with ${VAR} expansion', () => {
    const path = file(
      'ok.yaml',
      `channels:
  - id: shop
    blinger: { url: "https://blinger.example/in", token: "\${SHOP_TOKEN}", timeout: 5s }
    adapter: { type: telegram, token: "\${SHOP_BOT}", mode: webhook }
  - id: support
    blinger: { url: "https://blinger.example/in", token: t2 }
    adapter: { type: telegram, token: "${TOKEN}" }
`,
    );
    const c = loadConfig({ BRIDGE_CONFIG: path, SHOP_TOKEN: 'shop-secret', SHOP_BOT: TOKEN, MEDIA_SECRET: channelEnv.MEDIA_SECRET });
    expect(c.channels.map((ch) => ch.id)).toEqual(['shop', 'support']);
    expect(c.channels[0]!.blinger).toEqual({ url: 'https://blinger.example/in', token: 'shop-secret', timeoutMs: 5000 });
    expect(c.channels[0]!.adapter).toMatchObject({ type: 'telegram', token: TOKEN, mode: 'webhook' });
  });

  it('reads JSON and reports problems by path', () => {
    const path = file('bad.json', JSON.stringify({ channels: [{ id: 'has space', blinger: { url: 'ftp://x', token: '' }, adapter: {} }] }));
    const p = configProblems({ BRIDGE_CONFIG: path, MEDIA_SECRET: channelEnv.MEDIA_SECRET });
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^BRIDGE_CONFIG channels\[0\]\.id: expected 1-64 characters/),
        expect.stringMatching(/^BRIDGE_CONFIG channels\[0\]\.blinger\.url: expected an absolute http\(s\) URL/),
        expect.stringMatching(/^BRIDGE_CONFIG channels\[0\]\.blinger\.token: expected the Custom App token/),
        expect.stringMatching(/^BRIDGE_CONFIG channels\[0\]\.adapter\.type:/),
      ]),
    );
  });

  it('names an unset ${VAR}, a missing file, invalid YAML and duplicate ids', () => {
    expect(
      configProblems({
        BRIDGE_CONFIG: file('v.yaml', 'channels: [{id: a, blinger: {url: "https://x", token: "${NOPE}"}, adapter: {type: telegram}}]'),
        MEDIA_SECRET: channelEnv.MEDIA_SECRET,
      })[0],
    ).toBe('BRIDGE_CONFIG: ${NOPE} is used but the environment variable NOPE is not set');
    expect(configProblems({ BRIDGE_CONFIG: join(dir, 'missing.yaml') })[0]).toMatch(
      /^BRIDGE_CONFIG: cannot read .*missing\.yaml \(ENOENT\)/,
    );
    expect(configProblems({ BRIDGE_CONFIG: file('broken.yaml', 'channels: [: :') })[0]).toMatch(/^BRIDGE_CONFIG: .* is not valid YAML/);
    const dup =
      'channels: [{id: a, blinger: {url: "https://x", token: t}, adapter: {type: webchat}}, {id: a, blinger: {url: "https://x", token: t}, adapter: {type: webchat}}]';
    expect(configProblems({ BRIDGE_CONFIG: file('dup.yaml', dup), MEDIA_SECRET: channelEnv.MEDIA_SECRET })).toEqual([
      'BRIDGE_CONFIG channels: the id "a" is used twice; each Custom App ID must be unique',
    ]);
  });
});

describe('durations', () => {
  it('parses units and rejects nonsense', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('7d')).toBe(604_800_000);
    expect(parseDuration('1200')).toBe(1200);
    expect(parseDuration('soon')).toBeUndefined();
  });
});
