/**
 * An operator's first `start` and `check`, as child processes in a directory of their own: ./.env
 * is read (the real environment wins) and named; a PUBLIC_URL Blinger cannot reach is a warning
 * with the fix, and `check` tries PUBLIC_URL/healthz itself; Redis away or the port taken at start
 * is one line saying what to do.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { runCli, spawnCli, startBridgeChild } from '../helpers/cli.js';
import { formatLine, runChecks } from '../../src/cli/check.js';
import { freePort, spawnRedis } from '../helpers/net.js';
import { readyRedis, removeKeys, testRedisUrl, uniquePrefix } from '../helpers/redis.js';

const MEDIA_SECRET = 'operator-start-media-secret-0123456789';
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A directory with a .env (and a web chat channel file), removed after the test. */
function operatorDir(dotEnv: (dir: string) => string): string {
  const dir = mkdtempSync(join(tmpdir(), 'bb-operator-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, 'channels.yaml'),
    'channels:\n  - id: site-chat\n    blinger: { url: "http://127.0.0.1:9/incoming", token: site-token-123456 }\n    adapter: { type: webchat }\n',
  );
  writeFileSync(join(dir, '.env'), dotEnv(dir));
  return dir;
}

function removePrefixAfter(prefix: string): void {
  cleanups.push(async () => {
    const r = await readyRedis();
    await removeKeys(r, prefix);
    await r.quit();
  });
}

function killAfter(child: ChildProcess): void {
  cleanups.push(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const closed = new Promise((r) => child.once('close', r));
    child.kill('SIGKILL');
    await closed;
  });
}

/** A stand-in for "a bridge behind PUBLIC_URL": answers /healthz as the bridge does. */
async function healthz(status = 200): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    res.writeHead(req.url === '/healthz' ? status : 404, { 'content-type': 'application/json' }).end('{"status":"ok"}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => server.close(r)));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server };
}

it('start reads ./.env, lets the real environment win, names the file, and warns about a PUBLIC_URL Blinger cannot reach', async () => {
  const prefix = uniquePrefix();
  removePrefixAfter(prefix);
  const port = await freePort();
  const dir = operatorDir(
    (d) =>
      [
        '# as copied from .env.example and filled in',
        `BRIDGE_CONFIG=${join(d, 'channels.yaml')}`,
        `MEDIA_SECRET=${MEDIA_SECRET}`,
        'PUBLIC_URL=http://localhost:8080',
        `REDIS_PREFIX=${prefix}`,
        'PORT=not-a-port',
        'LOG_LEVEL=debug',
      ].join('\n') + '\n',
  );
  // PORT and LOG_LEVEL are set in the environment too: those values win (an invalid PORT in .env
  // would stop the bridge).
  const bridge = await startBridgeChild(
    [],
    { REDIS_URL: testRedisUrl(), PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info', LOG_FORMAT: 'json' },
    { cwd: dir },
  );
  killAfter(bridge.child);

  const named = bridge.lines.filter((l) => typeof l.msg === 'string' && l.msg.includes('.env'));
  expect(named).toEqual([expect.objectContaining({ level: 30, file: join(dir, '.env') })]);
  expect(named[0]!.msg).toBe('settings read from .env (the environment wins where both set a variable)');
  // From .env: the channel file, PUBLIC_URL, the prefix.
  expect(bridge.lines).toContainEqual(expect.objectContaining({ msg: 'web chat ready', url: 'http://localhost:8080/chat/site-chat' }));
  // From the environment: the port, and LOG_LEVEL=info (no debug lines).
  expect(bridge.lines).toContainEqual(expect.objectContaining({ msg: 'blinger-bridge started', address: `http://127.0.0.1:${port}` }));
  expect(bridge.lines.filter((l) => l.level === 20)).toEqual([]);
  const r = await readyRedis();
  const keys = await r.keys(`${prefix}:*`);
  await r.quit();
  expect(keys.length).toBeGreaterThan(0);

  const warnings = bridge.lines.filter((l) => l.level === 40);
  expect(warnings).toEqual([
    expect.objectContaining({
      msg: 'PUBLIC_URL http://localhost:8080 is an address of this machine or a private network: Blinger, on the internet, cannot reach it',
      fix: expect.stringContaining('set PUBLIC_URL to the https address where Blinger reaches this bridge'),
    }),
  ]);
  expect(warnings[0]!.fix).toContain('"Connecting a bot to Blinger" in README.md');
  expect(bridge.output()).not.toContain(MEDIA_SECRET);
});

it('check reads ./.env too, and checks PUBLIC_URL: its form, and whether /healthz answers there', async () => {
  const up = await healthz();
  const dir = operatorDir((d) => `BRIDGE_CONFIG=${join(d, 'channels.yaml')}\nMEDIA_SECRET=${MEDIA_SECRET}\nPUBLIC_URL=${up.url}\n`);
  const env = { REDIS_URL: testRedisUrl(), REDIS_PREFIX: uniquePrefix() };
  const linesOf = async (over: Record<string, string> = {}) =>
    (await runCli(['check'], { ...env, ...over }, 20_000, { cwd: dir })).stdout.trim().split('\n');

  const local = await linesOf();
  expect(local[0]).toBe(`✓ settings: read from ${join(dir, '.env')} (the environment wins where both set a variable)`);
  expect(local[1]).toBe('✓ configuration: valid; 1 channel (site-chat)');
  expect(local[2]).toMatch(
    new RegExp(
      `^⚠ PUBLIC_URL: ${up.url} is an address of this machine or a private network: .* — fix: set PUBLIC_URL to the https address`,
    ),
  );
  expect(local[3]).toBe(`✓ PUBLIC_URL reachable: ${up.url}/healthz answered 200 from this host`);

  // Set but empty in the environment: it wins over .env, and counts as unset.
  const unset = await linesOf({ PUBLIC_URL: '' });
  expect(unset[2]).toMatch(
    /^⚠ PUBLIC_URL: is not set, so it is http:\/\/localhost:3000: Blinger cannot send agents' replies there — fix: /,
  );

  // The other cases in process (the same checks, without a Node.js start each).
  const checked = async (publicUrl: string) => {
    const lines: string[] = [];
    await runChecks({ ...env, BRIDGE_CONFIG: join(dir, 'channels.yaml'), MEDIA_SECRET, PUBLIC_URL: publicUrl }, (l) =>
      lines.push(formatLine(l)),
    );
    return lines;
  };
  // A public https address passes; nothing answering there is a warning saying what to do.
  const https = await checked('https://bridge.example.com');
  expect(https[1]).toBe('✓ PUBLIC_URL: https://bridge.example.com');
  expect(https[2]).toMatch(/^⚠ PUBLIC_URL reachable: https:\/\/bridge\.example\.com\/healthz unreachable from this host: \S/);
  const plainHttp = await checked('http://bridge.example.com');
  expect(plainHttp[1]).toMatch(/^⚠ PUBLIC_URL: http:\/\/bridge\.example\.com is plain http: .* Telegram webhooks need https — fix: /);
  const stopped = `http://127.0.0.1:${await freePort()}`;
  expect((await checked(stopped))[2]).toBe(
    `⚠ PUBLIC_URL reachable: ${stopped}/healthz unreachable from this host: ECONNREFUSED — fix: start the bridge, and make sure the proxy or tunnel at PUBLIC_URL forwards to its PORT`,
  );
  // Something else answering there is not taken for the bridge.
  const other = await healthz(404);
  expect((await checked(other.url))[2]).toBe(
    `⚠ PUBLIC_URL reachable: ${other.url}/healthz answered 404, not as blinger-bridge's /healthz does — fix: start the bridge, and make sure the proxy or tunnel at PUBLIC_URL forwards to its PORT`,
  );
}, 60_000);

it('start with Redis away says so in one line with the fix, waits, and starts once Redis answers', async () => {
  const redisPort = await freePort();
  const child = spawnCli(['start'], {
    REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    PORT: String(await freePort()),
    HOST: '127.0.0.1',
    LOG_FORMAT: 'json',
  });
  killAfter(child);
  let out = '';
  const seen = (re: RegExp) =>
    new Promise<void>((resolve, reject) => {
      const check = () => re.test(out) && resolve();
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        check();
      });
      child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      child.once('exit', (code) => reject(new Error(`exited with ${code}: ${out}`)));
      check();
    });
  await seen(/cannot reach Redis/);
  const redis = await spawnRedis(redisPort);
  cleanups.push(() => void redis.kill('SIGKILL'));
  await seen(/blinger-bridge started/);

  const lines = out
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const beforeRedis = lines.slice(
    0,
    lines.findIndex((l) => l.msg === 'Redis answers now; starting'),
  );
  expect(beforeRedis).toEqual([
    expect.objectContaining({
      level: 50,
      msg: `cannot reach Redis at redis://127.0.0.1:${redisPort}: connect ECONNREFUSED 127.0.0.1:${redisPort}; waiting for it (Ctrl-C to stop)`,
      fix: expect.stringMatching(/^start Redis .*, or set REDIS_URL to where it runs/),
    }),
  ]);
  expect(out).not.toMatch(/\n\s+at /);
}, 60_000);

it('start on a port that is taken: one line with the fix, exit status 1, no stack trace', async () => {
  const taken = createTcpServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => taken.close(r)));
  const port = (taken.address() as { port: number }).port;
  const prefix = uniquePrefix();
  removePrefixAfter(prefix);

  const res = await runCli(['start'], { REDIS_URL: testRedisUrl(), REDIS_PREFIX: prefix, PORT: String(port), HOST: '127.0.0.1' }, 30_000);
  expect(res.code).toBe(1);
  expect(res.stderr.trim().split('\n')).toEqual([
    `blinger-bridge: port ${port} on 127.0.0.1 is already in use by another program — fix: stop it (ss -ltnp shows which), or set PORT to a free port`,
  ]);
  expect(res.stdout + res.stderr).not.toMatch(/\n\s+at /);
}, 60_000);
