/**
 * `blinger-bridge vk callback set|info` and `check` for a VK channel configured from environment
 * variables (VK_TOKEN, VK_GROUP_ID…), against the VK API double.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { startVkDouble, type VkDouble } from '../doubles/vk-api.js';
import { startBlingerDouble, type BlingerDouble } from '../doubles/blinger.js';
import { BLINGER_TOKEN, MEDIA_SECRET } from '../helpers/bridge.js';
import { runCli } from '../helpers/cli.js';
import { readyRedis, removeKeys, testRedisUrl, uniquePrefix } from '../helpers/redis.js';
import { cliContext } from '../../src/cli/common.js';
import { loadConfig } from '../../src/config/load.js';
import { UsageError } from '../../src/cli/errors.js';
import { vkAdapter } from '../../adapters/vk/index.js';
import { VkAdapter } from '../../adapters/vk/adapter.js';
import { deriveCallbackSecret } from '../../adapters/vk/settings.js';

let vk: VkDouble;
let blinger: BlingerDouble;
let redis: Redis;
const prefix = uniquePrefix();
const PUBLIC_URL = 'https://bridge.example.com';
const CHANNEL = 'vk-shop';
const URL = `${PUBLIC_URL}/vk/${CHANNEL}`;

const env = (over: Record<string, string | undefined> = {}): Record<string, string | undefined> => ({
  REDIS_URL: testRedisUrl(),
  REDIS_PREFIX: prefix,
  BLINGER_URL: blinger.url,
  BLINGER_TOKEN,
  BLINGER_CHANNEL_ID: CHANNEL,
  VK_TOKEN: vk.community.token,
  VK_GROUP_ID: String(vk.community.id),
  VK_API_ROOT: vk.apiRoot,
  VK_MODE: 'callback',
  MEDIA_SECRET,
  PUBLIC_URL,
  ...over,
});

/** Runs `blinger-bridge vk …` in this process with the given environment, capturing its output. */
async function vkCommand(argv: string[], e = env()): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const cli = { ...cliContext('vk', () => loadConfig(e)), out: (l: string) => out.push(l), err: (l: string) => err.push(l) };
  const code = await vkAdapter.cli!.run(argv, cli);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

beforeAll(async () => {
  vk = await startVkDouble();
  blinger = await startBlingerDouble({ token: BLINGER_TOKEN, channelId: CHANNEL });
  redis = await readyRedis();
});
afterEach(() => vk.reset());
afterAll(async () => {
  await removeKeys(redis, prefix);
  await redis.quit();
  await vk.close();
  await blinger.close();
});

describe('blinger-bridge vk callback', () => {
  it('set registers the server with the secret, version and events; again, it updates the same server; info shows it', async () => {
    const first = await vkCommand(['callback', 'set']);
    expect(first.code).toBe(0);
    expect(first.out).toContain(`✓ ${CHANNEL}: Callback API server 1 of community ${vk.community.id} added: ${URL}`);
    expect(first.out).toContain(`confirmation:     ${vk.confirmationCode()} (the bridge asks VK for it`);
    expect(first.out).toContain('press "Confirm"');
    const [server] = vk.callbackServers();
    expect(server).toMatchObject({
      url: URL,
      secret_key: deriveCallbackSecret(vk.community.token),
      title: 'blinger-bridge',
      api_version: '5.199',
    });
    expect(server!.events).toMatchObject({
      message_new: true,
      message_edit: true,
      message_event: true,
      message_reply: false,
      message_typing_state: false,
    });

    const again = await vkCommand(['callback', 'set', '--channel', CHANNEL]);
    expect(again.code).toBe(0);
    expect(again.out).toContain('updated');
    expect(vk.callbackServers()).toHaveLength(1);

    const info = await vkCommand(['callback', 'info']);
    expect(info.code).toBe(0);
    expect(info.out).toContain(`expected address: ${URL}`);
    expect(info.out).toMatch(new RegExp(`server 1: +${URL.replace(/[.]/g, '\\.')} — unconfigured \\(this bridge, secret key matches\\)`));
    // info never prints the secret.
    expect(info.out).not.toContain(deriveCallbackSecret(vk.community.token));
  });

  it('a stale VK_CONFIRMATION is named with the string to set', async () => {
    const r = await vkCommand(['callback', 'info'], env({ VK_CONFIRMATION: 'deadbeef' }));
    expect(r.out).toContain(`VK_CONFIRMATION is "deadbeef": set it to "${vk.confirmationCode()}"`);
  });

  it('when VK refuses (the token may not manage the community), prints exactly what to enter in the settings, and exits 1', async () => {
    vk.failNext('groups.getCallbackServers', { error_code: 15, error_msg: 'Access denied: no access to call this method' });
    const r = await vkCommand(['callback', 'set'], env({ VK_SECRET: 'MyOwnSecret42' }));
    expect(r.code).toBe(1);
    expect(r.err).toContain('VK refused to set the server through the API');
    expect(r.out).toContain(`community ${vk.community.id} → Manage → API usage → Callback API`);
    expect(r.out).toContain('API version:   5.199');
    expect(r.out).toContain(`Address:       ${URL}`);
    expect(r.out).toContain('Secret key:    MyOwnSecret42');
    expect(r.out).toContain('Incoming message, Message edited, Message event (callback button)');
    expect(r.out).toContain('VK_CONFIRMATION');
    expect(vk.callbackServers()).toEqual([]);
  });

  it('misuse is a usage error; --help prints the help', async () => {
    await expect(vkCommand(['webhook'])).rejects.toBeInstanceOf(UsageError);
    await expect(vkCommand(['callback', 'delete'])).rejects.toThrow(/expected set or info/);
    await expect(vkCommand(['callback', 'set', '--bogus'])).rejects.toBeInstanceOf(UsageError);
    const help = await vkCommand(['callback', '--help']);
    expect(help.code).toBe(0);
    expect(help.out).toContain('Usage: blinger-bridge vk callback <set|info>');
    expect((await vkCommand([])).code).toBe(2);
    await expect(vkCommand(['callback', 'info', '--channel', 'nope'])).rejects.toThrow('no VK channel "nope" is configured');
  });
});

describe('check, and the real CLI', () => {
  it('check shows the community and the Callback API server; a bad token fails with its fix', async () => {
    const adapter = cliContext('vk', () => loadConfig(env())).channels()[0]!.adapter as VkAdapter;
    const before = await adapter.check();
    expect(before.map((c) => [c.ok, c.name])).toEqual([
      [true, `vk ${CHANNEL}: community`],
      [false, `vk ${CHANNEL}: Callback API`],
    ]);
    expect(before[0]!.detail).toBe(`${vk.community.name} (id ${vk.community.id})`);
    expect(before[1]!.fix).toContain('vk callback set');
    await vkCommand(['callback', 'set']);
    await vk.confirmCallbackServer(1).catch(() => undefined); // nothing listens at the example URL: failed
    expect((await adapter.check())[1]!.detail).toMatch(/server 1 at .*: (failed|wait)/);

    const polling = cliContext('vk', () => loadConfig(env({ VK_MODE: undefined }))).channels()[0]!.adapter as VkAdapter;
    expect((await polling.check()).map((c) => [c.ok, c.name, c.detail])).toEqual([
      [true, `vk ${CHANNEL}: community`, `${vk.community.name} (id ${vk.community.id})`],
      [true, `vk ${CHANNEL}: Long Poll`, 'on, API 5.199'],
    ]);

    const bad = cliContext('vk', () => loadConfig(env({ VK_TOKEN: 'vk1.a.not-this-community-token-xxxxxxx' }))).channels()[0]!
      .adapter as VkAdapter;
    const [failed] = await bad.check();
    expect(failed).toMatchObject({ ok: false, name: `vk ${CHANNEL}: token` });
    expect(failed!.detail).toContain('error 5');
    expect(failed!.fix).toContain('VK_TOKEN');
  });

  it('the CLI runs "vk callback info" and lists the vk commands in its help; VK variables without VK_TOKEN are named', async () => {
    const info = await runCli(['vk', 'callback', 'info'], env());
    expect(info.code).toBe(0);
    expect(info.stdout).toContain(`${CHANNEL}:\n  community:        ${vk.community.id}`);
    expect(info.stdout + info.stderr).not.toContain(vk.community.token);
    const help = await runCli(['--help'], {});
    expect(help.stdout).toMatch(/vk callback set\|info/);
    let problems: string[] = [];
    try {
      loadConfig(env({ VK_TOKEN: undefined }));
    } catch (err) {
      problems = (err as { problems: string[] }).problems;
    }
    expect(problems).toContainEqual(expect.stringMatching(/^VK_GROUP_ID=\d+: set without VK_TOKEN/));
  }, 60_000);
});
