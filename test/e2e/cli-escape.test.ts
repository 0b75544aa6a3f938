/**
 * The CLI prints data from outside (client ids, texts, failure reasons); its control characters
 * must reach the operator's terminal as visible escapes, never as commands to the terminal.
 */
import type { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LaneQueue } from '../../src/delivery/lane-queue.js';
import type { DeadLetter } from '../../src/delivery/lane-store.js';
import type { OutboundMessage } from '../../src/message.js';
import { escapeControls, guardConsole } from '../../src/cli/terminal.js';
import { dlqCommand } from '../../src/cli/dlq.js';
import { statusCommand } from '../../src/cli/status.js';
import { runCli } from '../helpers/cli.js';
import { readyRedis, removeKeys, testRedisUrl, uniquePrefix } from '../helpers/redis.js';

/** Raw control characters a terminal acts on (newline aside), and bidi controls. */
// eslint-disable-next-line no-control-regex -- control characters are what this finds
const RAW_CONTROLS = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

describe('escapeControls', () => {
  it('writes C0, DEL, C1 and bidi controls as \\uXXXX, and keeps newlines and tabs only when asked', () => {
    expect(escapeControls('red \u001b[31mALERT\u0007 \u009b2J \u007f \u202egnp.exe')).toBe(
      'red \\u001B[31mALERT\\u0007 \\u009B2J \\u007F \\u202Egnp.exe',
    );
    expect(escapeControls('a\nb\tc\rd')).toBe('a\\u000Ab\\u0009c\\u000Dd');
    expect(escapeControls('a\nb\tc\rd', { keepLines: true })).toBe('a\nb\tc\\u000Dd');
    expect(escapeControls('plain text, ünïcödé, 😀')).toBe('plain text, ünïcödé, 😀');
    // Inside a JSON string, the escapes decode back to the original.
    const hostile = 'x\u009b\u202ey\u007f';
    expect(JSON.parse(escapeControls(JSON.stringify({ v: hostile }), { keepLines: true }))).toEqual({ v: hostile });
  });
});

describe('blinger-bridge dlq list and status with hostile message data', () => {
  const prefix = uniquePrefix();
  let redis: Redis;
  const clientId = 'evil\u001b]0;pwned\u0007\u001b[2J';
  const reason = 'Telegram 400: Bad Request\r\u001b[32mALL GOOD\u001b[0m \u009b31m \u202eexe.txt';
  const env = () => ({
    REDIS_URL: testRedisUrl(),
    REDIS_PREFIX: prefix,
    BLINGER_URL: 'http://127.0.0.1:9/in',
    BLINGER_TOKEN: 'cli-escape-token-0123456789',
    BLINGER_CHANNEL_ID: 'esc',
    TELEGRAM_BOT_TOKEN: '123456:ESCAPE-token-aaaaaaaaaaaaaaaaaaaaaaaa',
    MEDIA_SECRET: 'cli-escape-media-secret-0123456789',
  });

  beforeAll(async () => {
    redis = await readyRedis();
    const outbound = new LaneQueue<OutboundMessage>({
      direction: 'outbound',
      prefix,
      producer: redis,
      log: pino({ level: 'silent' }),
      retryMaxAgeMs: 60_000,
    });
    try {
      const lane = { channelId: 'esc', clientId };
      await outbound.enqueue(lane, [{ client_id: clientId, type: 'text', data: 'hi' }]);
      const item = (await outbound.store.head<OutboundMessage>(lane))!;
      const letter: DeadLetter<OutboundMessage> = {
        id: item.id,
        direction: 'outbound',
        lane,
        item,
        reason,
        code: 'bad',
        failedAt: Date.now(),
        attempts: 1,
      };
      expect(await outbound.store.deadLetter(letter)).toBe(true);
      // A lane of a channel no longer configured, named with control characters: status lists it.
      await outbound.enqueue({ channelId: 'gone\u001b[8m', clientId: '1' }, [{ client_id: '1', type: 'text', data: 'x' }]);
    } finally {
      await outbound.close();
    }
  });

  afterAll(async () => {
    await removeKeys(redis, prefix);
    await redis.quit();
  });

  it('prints the escapes, never the raw characters: as a process, and every printer in process', async () => {
    // The real CLI process: main installs the guard.
    const list = await runCli(['dlq', 'list'], env());
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout + list.stderr).not.toMatch(RAW_CONTROLS);
    expect(list.stdout).toContain('evil\\u001B]0;pwned\\u0007\\u001B[2J');
    expect(list.stdout).toContain('Telegram 400: Bad Request \\u001B[32mALL GOOD\\u001B[0m \\u009B31m \\u202Eexe.txt');
    // One row per letter: nothing in the data broke the table.
    expect(list.stdout.split('\n').filter((l) => l.includes('evil'))).toHaveLength(1);

    // The other printers, in this process (quicker than a process each), behind the same guard.
    const printed = await inProcess(env(), async () => {
      await dlqCommand(['list', '--json']);
      await statusCommand([]);
      await statusCommand(['--json']);
    });
    expect(printed.join('\n')).not.toMatch(RAW_CONTROLS);
    const [json, status, statusJson] = printed;
    // JSON stays JSON, and says exactly what is stored.
    const letters = JSON.parse(json!) as Array<{ lane: { clientId: string }; reason: string }>;
    expect(letters[0]!.lane.clientId).toBe(clientId);
    expect(letters[0]!.reason).toBe(reason);
    expect(status).toContain('gone\\u001B[8m');
    expect((JSON.parse(statusJson!) as Array<{ channelId: string }>).map((r) => r.channelId)).toContain('gone\u001b[8m');
  }, 60_000);
});

/** Runs CLI commands in this process with `env` and the CLI's console guard; returns what they printed. */
async function inProcess(env: Record<string, string>, run: () => Promise<void>): Promise<string[]> {
  const printed: string[] = [];
  const saved = { log: console.log, error: console.error, env: { ...process.env } };
  console.log = console.error = (...args: unknown[]) => printed.push(args.map(String).join(' '));
  guardConsole();
  Object.assign(process.env, env);
  try {
    await run();
  } finally {
    console.log = saved.log;
    console.error = saved.error;
    for (const k of Object.keys(env)) if (!(k in saved.env)) delete process.env[k];
    Object.assign(process.env, saved.env);
  }
  return printed;
}
