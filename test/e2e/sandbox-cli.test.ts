/**
 * `blinger-bridge start` with nothing configured: sandbox mode. It says so in one line, prints the
 * two URLs, serves both pages, and never prints the stand-in's token.
 */
import { afterEach, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { spawnCli } from '../helpers/cli.js';
import { freePort } from '../helpers/net.js';
import { readyRedis, removeKeys, testRedisUrl, uniquePrefix } from '../helpers/redis.js';

let child: ChildProcess | undefined;
let prefix: string | undefined;

afterEach(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child!.once('close', r));
    child.kill('SIGTERM');
    await exited;
  }
  child = undefined;
  if (prefix) {
    const r = await readyRedis();
    await removeKeys(r, prefix);
    await r.quit();
  }
});

it('starts in sandbox mode, prints the chat and inbox URLs and the README section on connecting a bot', async () => {
  const port = await freePort();
  prefix = uniquePrefix();
  child = spawnCli(['start'], {
    REDIS_URL: testRedisUrl(),
    REDIS_PREFIX: prefix,
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
  });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    child!.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (stdout.includes("agents' inbox:")) resolve();
    });
    child!.once('exit', (code) => reject(new Error(`exited with ${code}: ${stderr}`)));
  });

  const lines = stdout.split('\n');
  expect(lines.filter((l) => /sandbox mode/.test(l))).toEqual([
    'blinger-bridge is in sandbox mode: no channel is configured. To connect a bot and Blinger, see "Connecting a bot to Blinger" in README.md.',
  ]);
  expect(lines).toContain(`  visitor's chat:  http://localhost:${port}/chat/sandbox`);
  expect(lines).toContain(`  agents' inbox:   http://localhost:${port}/sandbox`);

  const chat = await fetch(`http://127.0.0.1:${port}/chat/sandbox`);
  expect(chat.status).toBe(200);
  expect(await chat.text()).toContain('<title>Sandbox chat</title>');
  const inbox = await fetch(`http://127.0.0.1:${port}/sandbox`);
  expect(inbox.status).toBe(200);
  const token = /data-token="([^"]+)"/.exec(await inbox.text())?.[1];
  expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/);
  const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
  expect(await ready.json()).toMatchObject({ status: 'ready', checks: { 'adapter:sandbox': true } });

  // A message through the whole path, so the log has had every chance to leak the token.
  const res = await fetch(`http://127.0.0.1:${port}/chat/sandbox/upload`, {
    method: 'POST',
    body: 'hello',
    headers: {
      'content-type': 'text/plain',
      'x-visitor-key': 'cli-test-visitor-key-000000',
      'x-message-id': 'cli-msg-0001',
      'x-file-name': 'hello.txt',
    },
  });
  expect(res.status).toBe(200);
  await expect
    .poll(
      async () =>
        ((await (await fetch(`http://127.0.0.1:${port}/sandbox/api/conversations`)).json()) as { conversations: unknown[] }).conversations
          .length,
    )
    .toBe(1);
  expect(stdout + stderr).not.toContain(token);
});
