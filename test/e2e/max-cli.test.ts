/**
 * The operator CLI for a MAX channel from environment variables (MAX_BOT_TOKEN, MAX_MODE,
 * MAX_API_ROOT), as child processes against the MAX double and real Redis: `check` shows the
 * webhook subscription state, `max webhook set|info|delete` manage it, failures name their fix,
 * and nothing secret is ever printed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMaxDouble, type MaxDouble } from '../doubles/max-api.js';
import { startBlingerDouble, type BlingerDouble } from '../doubles/blinger.js';
import { MEDIA_SECRET } from '../helpers/bridge.js';
import { runCli } from '../helpers/cli.js';
import { MAX_BLINGER_TOKEN, MAX_CHANNEL, MAX_SECRET, MAX_TOKEN } from '../helpers/max.js';
import { readyRedis, removeKeys, testRedisUrl, uniquePrefix } from '../helpers/redis.js';
import { maxAdapter, MaxAdapter } from '../../adapters/max/index.js';
import { cliContext } from '../../src/cli/common.js';
import { CliError, UsageError } from '../../src/cli/errors.js';
import { loadConfig } from '../../src/config/load.js';

let max: MaxDouble;
let blinger: BlingerDouble;
const prefix = uniquePrefix();
const PUBLIC_URL = 'https://bridge.example.com';
const HOOK = `${PUBLIC_URL}/max/${MAX_CHANNEL}`;

const env = (over: Record<string, string | undefined> = {}) => ({
  REDIS_URL: testRedisUrl(),
  REDIS_PREFIX: prefix,
  BLINGER_URL: blinger.url,
  BLINGER_TOKEN: MAX_BLINGER_TOKEN,
  BLINGER_CHANNEL_ID: MAX_CHANNEL,
  MAX_BOT_TOKEN: MAX_TOKEN,
  MAX_API_ROOT: max.apiRoot,
  MAX_MODE: 'webhook',
  MEDIA_SECRET,
  PUBLIC_URL,
  ...over,
});

function expectNoSecrets(text: string): void {
  for (const secret of [MAX_TOKEN, MAX_BLINGER_TOKEN, MEDIA_SECRET, MAX_SECRET]) expect(text).not.toContain(secret);
}

beforeAll(async () => {
  max = await startMaxDouble();
  blinger = await startBlingerDouble({ token: MAX_BLINGER_TOKEN, channelId: MAX_CHANNEL });
});

afterAll(async () => {
  const redis = await readyRedis();
  await removeKeys(redis, prefix);
  await redis.quit();
  await max.close();
  await blinger.close();
});

/** `blinger-bridge max …` in this process, its output captured (each child process costs seconds under load). */
async function maxCommand(
  argv: string[],
  over: Record<string, string | undefined> = {},
): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const ctx = { ...cliContext('max', () => loadConfig(env(over))), out: (l: string) => out.push(l), err: (l: string) => err.push(l) };
  return { code: await maxAdapter.cli!.run(argv, ctx), out, err };
}

/** The channel's MAX adapter as the CLI builds it (never started). */
function inspected(over: Record<string, string | undefined> = {}): MaxAdapter {
  const adapter = cliContext('max', () => loadConfig(env(over))).channels()[0]?.adapter;
  if (!(adapter instanceof MaxAdapter)) throw new Error('no MAX adapter');
  return adapter;
}

describe('blinger-bridge max', () => {
  it('as processes: check goes from ✗ to ✓ with "max webhook set", and nothing secret is printed', async () => {
    const before = await runCli(['check'], env());
    expect(before.code).toBe(1);
    const lines = before.stdout.trim().split('\n');
    expect(lines).toContainEqual(`✓ max ${MAX_CHANNEL}: /me: Bridge Bot @bridge_test_bot`);
    expect(lines.find((l) => l.includes(`max ${MAX_CHANNEL}: webhook`))).toMatch(
      /^✗ max max-support: webhook: no subscription — fix: run "blinger-bridge max webhook set"; MAX drops a subscription after 8 hours/,
    );

    const set = await runCli(['max', 'webhook', 'set'], env());
    expect([set.code, set.stdout.trim()]).toEqual([0, `✓ ${MAX_CHANNEL}: subscribed to ${HOOK}`]);
    expect(max.subscriptions()).toEqual([
      {
        url: HOOK,
        secret: MAX_SECRET,
        update_types: expect.arrayContaining(['message_created', 'message_callback']),
        time: expect.any(Number),
      },
    ]);

    const after = await runCli(['check'], env());
    expect(after.stdout).toMatch(new RegExp(`✓ max ${MAX_CHANNEL}: webhook: subscribed to ${HOOK} since 20`));
    expect(after.stdout).not.toContain('✗');
    expect(after.code).toBe(0);
    for (const r of [before, set, after]) expectNoSecrets(r.stdout + r.stderr);

    // info shows it; for a polling bridge it is in the way; delete removes it.
    const info = await maxCommand(['webhook', 'info']);
    expect(info.code).toBe(0);
    expect(info.out.join('\n')).toMatch(new RegExp(`subscription: +${HOOK} \\(message_created, .*, since 20`));
    expect(info.out).toContain(`  expected url:     ${HOOK}`);
    const [, blocking] = await inspected({ MAX_MODE: 'polling' }).check();
    expect(blocking).toMatchObject({ ok: false, detail: `subscribed to ${HOOK}, which blocks long polling` });
    const del = await maxCommand(['webhook', 'delete', '--channel', MAX_CHANNEL]);
    expect([del.code, del.out]).toEqual([0, [`✓ ${MAX_CHANNEL}: removed ${HOOK}`]]);
    expect(max.subscriptions()).toEqual([]);
    const [, polled] = await inspected({ MAX_MODE: 'polling' }).check();
    expect(polled).toMatchObject({ ok: true, warning: true, detail: 'no subscription: long polling works' });
  }, 90_000);

  it('names the problem and its fix: a wrong token, an unknown channel, an unknown command', async () => {
    const wrong = 'WrongTokenForTheMaxDouble_bbbbbbbbbbbbbbbbbbbb';
    const check = await runCli(['check'], env({ MAX_BOT_TOKEN: wrong }));
    expect(check.code).toBe(1);
    expect(check.stdout).toMatch(
      /✗ max max-support: \/me: MAX 401 verify\.token: Invalid access_token \(GET \/me\) — fix: check MAX_BOT_TOKEN and MAX_API_ROOT/,
    );
    expect(check.stdout + check.stderr).not.toContain(wrong);
    const set = await maxCommand(['webhook', 'set'], { MAX_BOT_TOKEN: wrong });
    expect([set.code, set.err]).toEqual([1, [`✗ ${MAX_CHANNEL}: MAX 401 verify.token: Invalid access_token (POST /subscriptions)`]]);

    await expect(maxCommand(['webhook', 'set', '--channel', 'nope'])).rejects.toSatisfy(
      (e: unknown) => e instanceof CliError && e.message === 'max webhook: no MAX channel "nope" is configured',
    );
    await expect(maxCommand(['hook'])).rejects.toSatisfy(
      (e: unknown) => e instanceof UsageError && e.message === 'max: unknown command "hook"; expected "max webhook set|info|delete"',
    );
    const help = await maxCommand(['webhook', '--help']);
    expect([help.code, help.out[0]!.split('\n')[0]]).toEqual([0, 'Usage: blinger-bridge max webhook <set|info|delete> [--channel <id>]']);
  }, 60_000);
});
