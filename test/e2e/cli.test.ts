/**
 * The operator CLI as a child process against real Redis and the Telegram and Blinger doubles:
 * check, status, dlq list/retry/purge, telegram webhook set/info/delete, help and errors.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import type { Redis } from 'ioredis';
import { startTelegramDouble, type TelegramDouble } from '../doubles/telegram-api.js';
import { startBlingerDouble, type BlingerDouble } from '../doubles/blinger.js';
import { BLINGER_TOKEN, BOT_TOKEN, CHANNEL_ID, MEDIA_SECRET } from '../helpers/bridge.js';
import { runCli } from '../helpers/cli.js';
import { freePort, spawnRedis } from '../helpers/net.js';
import { readyRedis, removeKeys, testRedisUrl, uniquePrefix } from '../helpers/redis.js';
import { LaneQueue } from '../../src/delivery/lane-queue.js';
import type { DeadLetter } from '../../src/delivery/lane-store.js';
import type { InboundMessage, OutboundMessage } from '../../src/message.js';
import { deriveWebhookSecret } from '../../adapters/telegram/settings.js';
import { checkCommand } from '../../src/cli/check.js';
import { statusCommand } from '../../src/cli/status.js';
import { dlqCommand } from '../../src/cli/dlq.js';
import { telegramAdapter } from '../../adapters/telegram/index.js';
import { cliContext } from '../../src/cli/common.js';
import { loadConfig } from '../../src/config/load.js';

const telegramCommand = (argv: string[]) =>
  telegramAdapter.cli!.run(
    argv,
    cliContext('telegram', () => loadConfig()),
  );
import { UsageError } from '../../src/cli/errors.js';

let tg: TelegramDouble;
let blinger: BlingerDouble;
let redis: Redis;
const prefix = uniquePrefix();
const log = pino({ level: 'silent' });
const PUBLIC_URL = 'https://bridge.example.com';

const env = (over: Record<string, string | undefined> = {}) => ({
  REDIS_URL: testRedisUrl(),
  REDIS_PREFIX: prefix,
  BLINGER_URL: blinger.url,
  BLINGER_TOKEN,
  BLINGER_CHANNEL_ID: CHANNEL_ID,
  TELEGRAM_BOT_TOKEN: BOT_TOKEN,
  TELEGRAM_API_ROOT: tg.apiRoot,
  TELEGRAM_MODE: 'webhook',
  MEDIA_SECRET,
  PUBLIC_URL,
  ...over,
});

/** Nothing secret may ever be printed. */
function expectNoSecrets(text: string): void {
  for (const s of [BOT_TOKEN, BLINGER_TOKEN, MEDIA_SECRET]) expect(text).not.toContain(s);
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  return freePort();
}

beforeAll(async () => {
  tg = await startTelegramDouble();
  blinger = await startBlingerDouble({ token: BLINGER_TOKEN, channelId: CHANNEL_ID });
  redis = await readyRedis();
});

afterAll(async () => {
  await removeKeys(redis, prefix);
  await redis.quit();
  await tg.close();
  await blinger.close();
});

describe('blinger-bridge check', () => {
  it('walks a webhook deployment from ✗ to ✓ with "telegram webhook set", and info/delete manage the webhook', async () => {
    const before = await runCli(['check'], env());
    expect(before.code).toBe(1);
    const lines = before.stdout.trim().split('\n');
    expect(lines[0]).toBe(`✓ configuration: valid; 1 channel (${CHANNEL_ID})`);
    expect(lines).toContainEqual(expect.stringMatching(/^✓ Redis: redis:\/\/.* reachable, version \d+\.\d+/));
    expect(lines).toContainEqual(expect.stringMatching(/^[✓⚠] Redis maxmemory-policy: /));
    expect(lines).toContainEqual(`✓ telegram ${CHANNEL_ID}: getMe: @test_bridge_bot`);
    const webhookLine = lines.find((l) => l.includes(`telegram ${CHANNEL_ID}: webhook`))!;
    expect(webhookLine).toMatch(/^✗ .*not set, 0 pending — fix: run "blinger-bridge telegram webhook set"/);
    expect(lines).toContainEqual(
      expect.stringMatching(new RegExp(`^✓ blinger ${CHANNEL_ID}: http://127\\.0\\.0\\.1:\\d+/custom-app/incoming reachable`)),
    );
    expect(lines.every((l) => /^[✓✗⚠] /.test(l))).toBe(true);
    expectNoSecrets(before.stdout + before.stderr);

    const info = await runCli(['telegram', 'webhook', 'info'], env());
    expect(info.code).toBe(0);
    expect(info.stdout).toMatch(/url: +\(none/);
    expect(info.stdout).toContain(`expected url:     ${PUBLIC_URL}/telegram/${CHANNEL_ID}`);

    const set = await runCli(['telegram', 'webhook', 'set'], env());
    expect(set.code).toBe(0);
    expect(set.stdout).toContain(`✓ ${CHANNEL_ID}: webhook set to ${PUBLIC_URL}/telegram/${CHANNEL_ID}`);
    expect(tg.webhook).toMatchObject({ url: `${PUBLIC_URL}/telegram/${CHANNEL_ID}`, secret_token: deriveWebhookSecret(BOT_TOKEN) });

    const after = await runCli(['check'], env());
    expect(after.stdout).toMatch(new RegExp(`✓ telegram ${CHANNEL_ID}: webhook: set to ${PUBLIC_URL}/telegram/${CHANNEL_ID}, 0 pending`));
    expect(after.stdout).not.toContain('✗');
    expect(after.code).toBe(0);

    const del = await runCli(['telegram', 'webhook', 'delete', '--channel', CHANNEL_ID], env());
    expect(del.code).toBe(0);
    expect(del.stdout).toContain(`✓ ${CHANNEL_ID}: webhook deleted`);
    expect(tg.webhook).toBeUndefined();

    const unknown = await runCli(['telegram', 'webhook', 'set', '--channel', 'nope'], env());
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.trim()).toBe('blinger-bridge: telegram webhook: no Telegram channel "nope" is configured');
  }, 90_000);

  it('reports each failure with its fix and exits 1: Redis down, wrong bot token, Blinger unreachable', async () => {
    const res = await runCli(
      ['check'],
      env({
        REDIS_URL: `redis://127.0.0.1:${await closedPort()}`,
        TELEGRAM_BOT_TOKEN: '999999:WRONG-token-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb',
        BLINGER_URL: `http://127.0.0.1:${await closedPort()}/incoming`,
      }),
    );
    expect(res.code).toBe(1);
    const lines = res.stdout.trim().split('\n');
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^✗ Redis: cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+: connect ECONNREFUSED .* — fix: start Redis, or set REDIS_URL/,
      ),
    );
    expect(lines).toContainEqual(
      expect.stringMatching(new RegExp(`^✗ telegram ${CHANNEL_ID}: getMe: Telegram 401: Unauthorized.* — fix: check TELEGRAM_BOT_TOKEN`)),
    );
    expect(lines).toContainEqual(
      expect.stringMatching(
        new RegExp(`^✗ blinger ${CHANNEL_ID}: http://127\\.0\\.0\\.1:\\d+/incoming unreachable: .*ECONNREFUSED.* — fix: check BLINGER_URL`),
      ),
    );
    expect(res.stdout).not.toContain('999999:WRONG');
    expectNoSecrets(res.stdout + res.stderr);
  }, 60_000);

  it('warns (⚠, not ✗) when Redis may evict keys, and shows the last webhook error Telegram reports', async () => {
    const port = await freePort();
    let lru: ChildProcess | undefined;
    try {
      lru = await spawnRedis(port, ['--maxmemory-policy', 'allkeys-lru']);
      // A webhook Telegram could not deliver to: its last error is part of the check.
      const set = await runCli(['telegram', 'webhook', 'set'], env({ PUBLIC_URL: `http://127.0.0.1:${await closedPort()}` }));
      expect(set.code).toBe(0);
      await expect(tg.deliverWebhook(tg.makeMessageUpdate({ chat_id: 1, text: 'x' }))).rejects.toThrow();
      const res = await runCli(['check'], env({ REDIS_URL: `redis://127.0.0.1:${port}`, TELEGRAM_MODE: 'polling' }));
      const lines = res.stdout.trim().split('\n');
      expect(lines).toContainEqual(
        expect.stringMatching(
          /^⚠ Redis maxmemory-policy: allkeys-lru: when memory is full Redis may evict queued messages — fix: set maxmemory-policy noeviction/,
        ),
      );
      expect(lines).toContainEqual(
        expect.stringMatching(
          new RegExp(
            `^✗ telegram ${CHANNEL_ID}: webhook: set to http://127\\.0\\.0\\.1:\\d+/telegram/${CHANNEL_ID}, \\d+ pending, last error: .*ECONNREFUSED`,
          ),
        ),
      );
      expect(res.code).toBe(1);
    } finally {
      lru?.kill('SIGKILL');
      tg.reset();
    }
  }, 60_000);

  it('lists every configuration problem as a ✗ line and exits 1', async () => {
    const res = await runCli(['check'], env({ TELEGRAM_BOT_TOKEN: 'not-a-token', MEDIA_SECRET: undefined }));
    expect(res.code).toBe(1);
    const lines = res.stdout.trim().split('\n');
    expect(lines).toContainEqual(
      expect.stringMatching(/^✗ configuration: TELEGRAM_BOT_TOKEN=\(11 characters, hidden\): expected a bot token/),
    );
    expect(lines.every((l) => l.startsWith('✗ configuration: '))).toBe(true);
  });
});

describe('blinger-bridge status and dlq', () => {
  it('shows depths per channel and direction; lists, retries (one, all) and purges dead letters', async () => {
    await removeKeys(redis, prefix);
    const inbound = new LaneQueue<InboundMessage>({ direction: 'inbound', prefix, producer: redis, log, retryMaxAgeMs: 60_000 });
    const outbound = new LaneQueue<OutboundMessage>({ direction: 'outbound', prefix, producer: redis, log, retryMaxAgeMs: 60_000 });
    try {
      // Three end-user messages wait (no workers run); two agent replies are dead letters.
      await inbound.enqueue({ channelId: CHANNEL_ID, clientId: '100' }, [
        { client_id: '100', type: 'text', data: 'a' },
        { client_id: '100', type: 'text', data: 'b' },
      ]);
      await inbound.enqueue({ channelId: CHANNEL_ID, clientId: '101' }, [{ client_id: '101', type: 'image', data: 'https://x/y.jpg' }]);
      const letters: DeadLetter<OutboundMessage>[] = [];
      for (const [client, text, t] of [
        ['200', 'first', 1000],
        ['201', 'second', 2000],
      ] as const) {
        const lane = { channelId: CHANNEL_ID, clientId: client };
        await outbound.enqueue(lane, [{ client_id: client, type: 'text', data: text }]);
        const item = (await outbound.store.head<OutboundMessage>(lane))!;
        const letter: DeadLetter<OutboundMessage> = {
          id: item.id,
          direction: 'outbound',
          lane,
          item,
          reason: 'Telegram 403: Forbidden: bot was blocked by the user',
          code: 'blocked',
          failedAt: Date.now() - 600_000 + t,
          attempts: 1,
        };
        expect(await outbound.store.deadLetter(letter)).toBe(true);
        letters.push(letter);
      }

      // The read-only commands, one after another: each is a process that compiles and loads the
      // bridge (~1.4 s of CPU under tsx), and five at once on two busy cores took tens of seconds.
      const status = await runCli(['status'], env());
      const json = await runCli(['status', '--json'], env());
      const list = await runCli(['dlq', 'list'], env());
      const listOther = await runCli(['dlq', 'list', '--channel', 'other'], env());
      const limitedRun = await runCli(['dlq', 'list', '--limit', '1', '--json'], env());
      expect(status.code).toBe(0);
      const rows = status.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(/\s{2,}/));
      expect(rows[0]).toEqual(['CHANNEL', 'DIRECTION', 'WAITING', 'ACTIVE', 'DELAYED', 'FAILED', 'OLDEST']);
      expect(rows[1]!.slice(0, 6)).toEqual([CHANNEL_ID, 'inbound', '3', '0', '0', '0']);
      expect(rows[1]![6]).toMatch(/^\d+ s$/);
      expect(rows[2]).toEqual([CHANNEL_ID, 'outbound', '0', '0', '0', '2', '-']);

      expect(JSON.parse(json.stdout)).toEqual([
        { channelId: CHANNEL_ID, direction: 'inbound', waiting: 3, active: 0, delayed: 0, failed: 0, oldestAgeMs: expect.any(Number) },
        { channelId: CHANNEL_ID, direction: 'outbound', waiting: 0, active: 0, delayed: 0, failed: 2, oldestAgeMs: null },
      ]);

      expect(list.code).toBe(0);
      const listed = list.stdout.trim().split('\n');
      expect(listed[0]).toMatch(/^FAILED +ID +DIRECTION +CHANNEL +CLIENT +TYPE +ATTEMPTS +REASON$/);
      // Newest first.
      expect(listed[1]).toContain(letters[1]!.id);
      expect(listed[1]).toMatch(
        /^\d+ min \d+ s ago +[0-9a-f-]{36} +outbound +4711 +201 +text +1 +\[blocked\] Telegram 403: Forbidden: bot was blocked by the user$/,
      );
      expect(listed[2]).toContain(letters[0]!.id);
      expect(list.stdout).toContain('2 shown, 2 in all.');
      expect(listOther.stdout.trim()).toBe('No dead letters match.');
      const limited = JSON.parse(limitedRun.stdout) as DeadLetter<OutboundMessage>[];
      expect(limited.map((l) => l.id)).toEqual([letters[1]!.id]);

      // Retry one: back at the end of its lane, with a job to deliver it, and gone from the list.
      const one = await runCli(['dlq', 'retry', letters[0]!.id], env());
      expect(one.code).toBe(0);
      expect(one.stdout).toContain(`Retried ${letters[0]!.id}`);
      const lane0 = { channelId: CHANNEL_ID, clientId: '200' };
      expect((await outbound.store.head<OutboundMessage>(lane0))!.payload.data).toBe('first');
      expect(await outbound.queue.getJob(`${CHANNEL_ID}|200`)).toBeTruthy();
      const again = await runCli(['dlq', 'retry', letters[0]!.id], env());
      expect(again.code).toBe(1);
      expect(again.stderr.trim()).toBe(
        `blinger-bridge: dlq retry: no dead letter with id "${letters[0]!.id}" (see "blinger-bridge dlq list")`,
      );

      // Retry all, with progress on stderr.
      const all = await runCli(['dlq', 'retry', '--all'], env());
      expect(all.code).toBe(0);
      expect(all.stderr).toContain('Retrying dead letters: 1/1 (100%)');
      expect(all.stdout.trim()).toBe('Retried 1 of 1 dead letters.');
      expect(await outbound.store.length({ channelId: CHANNEL_ID, clientId: '201' })).toBe(1);
      expect(await redis.zcard(outbound.store.dlqIndexKey)).toBe(0);

      // Purge: only letters older than the cut-off go.
      const lane1 = { channelId: CHANNEL_ID, clientId: '201' };
      const item = (await outbound.store.head<OutboundMessage>(lane1))!;
      await outbound.store.deadLetter({
        id: item.id,
        direction: 'outbound',
        lane: lane1,
        item,
        reason: 'x',
        code: 'blocked',
        failedAt: Date.now() - 2 * 86_400_000,
        attempts: 1,
      });
      const young = await runCli(['dlq', 'purge', '--older-than', '3d'], env());
      expect(young.stdout.trim()).toBe('Purged 0 dead letters older than 3d.');
      const old = await runCli(['dlq', 'purge', '--older-than', '1d'], env());
      expect(old.code).toBe(0);
      expect(old.stdout.trim()).toBe('Purged 1 dead letter older than 1d.');
      expect(await redis.hlen(outbound.store.dlqKey)).toBe(0);
    } finally {
      await inbound.close();
      await outbound.close();
    }
  }, 120_000);
});

describe('help and errors', () => {
  it('every command has --help (in process: the command functions themselves)', async () => {
    const printed: string[] = [];
    const spy = vi.spyOn(console, 'log').mockImplementation((text: string) => void printed.push(text));
    try {
      const calls: [string, () => Promise<number>][] = [
        ['check', () => checkCommand(['--help'])],
        ['status', () => statusCommand(['-h'])],
        ['dlq', () => dlqCommand(['--help'])],
        ['dlq list', () => dlqCommand(['list', '--help'])],
        ['dlq retry', () => dlqCommand(['retry', '--help'])],
        ['dlq purge', () => dlqCommand(['purge', '--help'])],
        ['telegram webhook', () => telegramCommand(['webhook', '--help'])],
        ['telegram webhook set', () => telegramCommand(['webhook', 'set', '--help'])],
      ];
      for (const [name, call] of calls) {
        printed.length = 0;
        expect(await call(), name).toBe(0);
        expect(printed.join('\n'), name).toMatch(new RegExp(`^Usage: blinger-bridge ${name.split(' ')[0]}`));
      }
    } finally {
      spy.mockRestore();
    }
    // Usage mistakes are UsageErrors (main prints them as one line, exit 2).
    for (const [call, expected] of [
      [() => dlqCommand(['purge']), /^dlq purge: --older-than <duration> is required/],
      [
        () => dlqCommand(['purge', '--older-than', 'soon']),
        /^dlq purge: --older-than needs a duration such as 30m, 24h or 7d, got "soon"$/,
      ],
      [() => dlqCommand(['list', '--limit', 'ten']), /^dlq list: --limit must be a positive whole number, got "ten"$/],
      [() => dlqCommand(['retry']), /^dlq retry: give one dead-letter id, or --all/],
      [() => dlqCommand(['list', '--direction', 'sideways']), /^dlq list: --direction must be inbound or outbound, got "sideways"$/],
      [() => dlqCommand(['frob']), /^dlq: unknown command "frob"; expected list, retry or purge$/],
      [() => telegramCommand(['hook']), /^telegram: unknown command "hook"/],
      [
        () => telegramCommand(['webhook', 'info', '--drop-pending-updates']),
        /^telegram webhook info: --drop-pending-updates goes with set or delete$/,
      ],
    ] as [() => Promise<number>, RegExp][]) {
      await expect(call()).rejects.toSatisfy((e: unknown) => e instanceof UsageError && expected.test(e.message));
    }
  });

  it('as a process: help on stdout with status 0; a mistake is one line on stderr with a non-zero status', async () => {
    const runs: [string[], Record<string, string>, number, RegExp, 'stdout' | 'stderr'][] = [
      [['--help'], {}, 0, /^Usage: blinger-bridge <command>/, 'stdout'],
      [['start', '--help'], {}, 0, /^Usage: blinger-bridge start \[--role all\|ingress\|worker\]/, 'stdout'],
      [['frobnicate'], {}, 2, /^blinger-bridge: unknown command "frobnicate"; run "blinger-bridge help"$/, 'stderr'],
      [['start', '--role', 'boss'], {}, 2, /^blinger-bridge: --role: expected all, ingress or worker, got "boss"$/, 'stderr'],
      [
        ['status', '--verbose'],
        {},
        2,
        /^blinger-bridge: status: Unknown option '--verbose'; see "blinger-bridge status --help"$/,
        'stderr',
      ],
      [
        ['status'],
        { REDIS_URL: `redis://127.0.0.1:${await closedPort()}` },
        1,
        /^blinger-bridge: cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+\/?: connect ECONNREFUSED/,
        'stderr',
      ],
    ];
    // One after another: six processes starting at once on two busy cores outran runCli's 20 s.
    for (const [args, env, code, expected, stream] of runs) {
      const r = await runCli(args, env);
      expect(r.code, args.join(' ')).toBe(code);
      if (stream === 'stderr') expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r[stream].trim(), args.join(' ')).toMatch(expected);
    }
  }, 60_000);
});
