/**
 * Logs of a real `blinger-bridge start` process: one JSON line per lifecycle step of each message
 * (received, queued, retrying, delivered, dead-lettered) linked by a correlation id, secrets
 * redacted even when an upstream echoes them back in an error, one short line per event on a terminal,
 * none lost when the process exits at once.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { BLINGER_TOKEN, BOT_TOKEN, CHANNEL_ID, MEDIA_SECRET, startChildTestbed } from '../helpers/bridge.js';
import { startBridgeChild } from '../helpers/cli.js';
import { freePort } from '../helpers/net.js';
import { testRedisUrl } from '../helpers/redis.js';
import { deriveWebhookSecret } from '../../adapters/telegram/settings.js';

const ADMIN_PASSWORD = 'admin-password-do-not-log-42';
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

type Line = Record<string, unknown>;
const eventsOf = (lines: Line[], cid: string) => lines.filter((l) => l.cid === cid && typeof l.event === 'string');

describe('logs', () => {
  it('trace every message by correlation id through its lifecycle, and never show a secret — even one an upstream echoes back', async () => {
    const { tg, blinger, prefix } = await startChildTestbed(cleanups);
    // Blinger's errors quote the credentials back (as a badly written upstream might).
    let transientSent = false;
    blinger.setHandler((req) => {
      const data = (req.body as { data?: string } | undefined)?.data;
      if (data === 'will be refused') return { status: 400, body: { error: `invalid token ${BLINGER_TOKEN} (bot ${BOT_TOKEN})` } };
      if (data === 'will be retried' && !transientSent) {
        transientSent = true;
        return { status: 502, body: { error: `bad gateway for Authorization: Bearer ${BLINGER_TOKEN}` } };
      }
      return undefined;
    });

    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const bridge = await startBridgeChild(['--role', 'all'], {
      REDIS_URL: testRedisUrl(),
      REDIS_PREFIX: prefix,
      PORT: String(port),
      HOST: '127.0.0.1',
      PUBLIC_URL: url,
      BLINGER_URL: blinger.url,
      BLINGER_TOKEN,
      BLINGER_CHANNEL_ID: CHANNEL_ID,
      TELEGRAM_BOT_TOKEN: BOT_TOKEN,
      TELEGRAM_API_ROOT: tg.apiRoot,
      TELEGRAM_MODE: 'webhook',
      MEDIA_SECRET,
      ADMIN_USER: 'ops',
      ADMIN_PASSWORD,
      LOG_LEVEL: 'debug',
      ALLOW_PRIVATE_URLS: 'true',
    });
    cleanups.push(() => void bridge.child.kill('SIGKILL'));

    const ok = tg.makeMessageUpdate({ chat_id: 501, text: 'hello' });
    const retried = tg.makeMessageUpdate({ chat_id: 502, text: 'will be retried' });
    const refused = tg.makeMessageUpdate({ chat_id: 503, text: 'will be refused' });
    for (const u of [ok, retried, refused]) expect((await tg.deliverWebhook(u)).status).toBe(200);
    // An agent's reply Telegram refuses, with the bot token in its description.
    tg.failNext('sendMessage', { error_code: 400, description: `Bad Request: chat not found (bot${BOT_TOKEN})` });
    expect((await blinger.sendReply(url, { client_id: '504', type: 'text', data: 'agent reply' })).status).toBe(200);
    // hello, the retried one, and the "Not delivered" note for the agent.
    await blinger.waitFor(3);
    await bridge.waitForLine((l) => l.event === 'dead-lettered' && l.direction === 'inbound');
    await bridge.waitForLine((l) => l.event === 'dead-lettered' && l.direction === 'outbound');
    bridge.child.kill('SIGTERM');
    expect((await bridge.exited).code).toBe(0);

    const out = bridge.output();
    const lines = bridge.lines;
    // JSON when not on a terminal: every line parses.
    expect(lines.filter((l) => 'raw' in l)).toEqual([]);
    // No secret anywhere, though they went through the logs' path (so [REDACTED] shows up).
    for (const secret of [
      BOT_TOKEN,
      BOT_TOKEN.split(':')[1]!,
      BLINGER_TOKEN,
      MEDIA_SECRET,
      ADMIN_PASSWORD,
      deriveWebhookSecret(BOT_TOKEN),
    ]) {
      expect(out.includes(secret), `secret ${secret.slice(0, 6)}… in the logs`).toBe(false);
    }
    expect(out).toContain('[REDACTED]');

    const cid = (u: { update_id: number }) => `tg-${CHANNEL_ID}-${u.update_id}`;
    // A plain message: received → queued → delivered, one job (its conversation) and one message id.
    const okLines = eventsOf(lines, cid(ok));
    expect(okLines.map((l) => l.event)).toEqual(['received', 'queued', 'delivered']);
    expect(okLines.slice(1).map((l) => l.job)).toEqual([`${CHANNEL_ID}|501`, `${CHANNEL_ID}|501`]);
    expect(okLines[1]!.messageId).toEqual(expect.any(String));
    expect(okLines[1]!.messageId).toBe(okLines[2]!.messageId);
    expect(okLines.every((l) => l.channel === CHANNEL_ID)).toBe(true);
    expect(okLines[2]).toMatchObject({ direction: 'inbound', attempt: 1, latencyMs: expect.any(Number) });

    // A transient failure: retrying (with Blinger's answer, redacted), then delivered.
    const retryLines = eventsOf(lines, cid(retried));
    expect(retryLines.map((l) => l.event)).toEqual(['received', 'queued', 'retrying', 'delivered']);
    // A warning per backoff step, saying when the next try is.
    expect(retryLines[2]).toMatchObject({ level: 40, code: 'http_502', attempt: 1, delayMs: expect.any(Number), job: `${CHANNEL_ID}|502` });
    const nextTry = Date.parse(retryLines[2]!.nextTry as string) - (retryLines[2]!.delayMs as number);
    expect(Math.abs(nextTry - (retryLines[2]!.time as number))).toBeLessThan(1000);
    expect(retryLines[2]!.reason).toBe('Blinger answered 502: {"error":"bad gateway for Authorization: Bearer [REDACTED]"}');
    expect(retryLines[3]).toMatchObject({ attempt: 2 });

    // A permanent failure: dead-lettered with the reason, redacted.
    const refusedLines = eventsOf(lines, cid(refused));
    expect(refusedLines.map((l) => l.event)).toEqual(['received', 'queued', 'dead-lettered']);
    expect(refusedLines[2]).toMatchObject({
      level: 40,
      code: 'http_400',
      reason: 'Blinger answered 400: {"error":"invalid token [REDACTED] (bot [REDACTED])"}',
    });

    // An agent reply: its own correlation id from the webhook to the dead letter, and on to the
    // note that tells the agent (an inbound echo carrying the same id).
    const replyReceived = lines.find((l) => l.event === 'received' && l.direction === 'outbound')!;
    expect(replyReceived.cid).toMatch(new RegExp(`^bl-${CHANNEL_ID}-[0-9a-f-]{36}$`));
    const replyLines = eventsOf(lines, replyReceived.cid as string);
    expect(replyLines.map((l) => `${l.direction ?? ''}:${l.event}`)).toEqual([
      'outbound:received',
      'outbound:queued',
      'outbound:dead-lettered',
      'inbound:queued',
      'inbound:delivered',
    ]);
    expect(replyLines[2]).toMatchObject({ code: 'chat_not_found', job: `${CHANNEL_ID}|504` });
    expect(replyLines[2]!.reason).toBe('Telegram 400: Bad Request: chat not found (bot[REDACTED])');
    expect(blinger.received.map((m) => m.data)).toContain('Not delivered: the chat no longer exists');
  });

  it('are one readable line per event on a terminal, and LOG_FORMAT forces JSON or pretty', async () => {
    // What main.ts does: LOG_FORMAT from the configuration, then one record with many fields, a
    // multi-line reason and an error with a stack, as a retry warning has.
    const program = `import('./src/config/load.ts').then((c) => import('./src/log.ts').then((m) => m
      .createLogger('info', { format: c.loadConfig().logFormat })
      .warn({ channel: 'tg-support', cid: 'c-1', messageId: 'm-1', job: 'tg-support|501', event: 'retrying', attempt: 3,
              delayMs: 4000, nextTry: '2030-01-02T03:04:05.000Z', code: 'http_502', reason: 'Blinger answered 502:\\nbad gateway',
              err: new Error('token ${BOT_TOKEN} refused'), extra: { a: 1 } }, 'delivery failed, retrying')))`;
    const run = async (args: string[], env: Record<string, string> = {}) => (await runProcess(args, { env })).out;
    const nodeArgs = [process.execPath, '--import', 'tsx', '-e', program];
    // `script` gives the child a pseudo-terminal, as an operator's shell would.
    const onTerminal = (env: Record<string, string> = {}) =>
      run(['script', '-qfec', nodeArgs.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' '), '/dev/null'], env);

    // Three processes at once (JSON on a pipe by default is what the test above reads).
    const [tty, forcedJson, forcedPretty] = await Promise.all([
      onTerminal(),
      onTerminal({ LOG_FORMAT: 'json' }),
      run(nodeArgs, { LOG_FORMAT: 'pretty' }),
    ]);
    expect(tty.trim().split(/\r?\n/)).toHaveLength(1);
    expect(tty).toContain('\x1b[33mWARN\x1b[39m');
    const plain = stripVTControlCharacters(tty).trim();
    const nextTry = new Date('2030-01-02T03:04:05.000Z').toTimeString().slice(0, 8);
    expect(plain).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: delivery failed, retrying {2}/);
    // The fields that matter first, as key=value; ids for machines left to the JSON lines.
    expect(plain).toContain(
      `job=tg-support|501  attempt=3  nextTry=${nextTry}  code=http_502  reason="Blinger answered 502:\\nbad gateway"  err="token [REDACTED] refused"  extra={"a":1}`,
    );
    for (const hidden of ['c-1', 'm-1', 'delayMs', 'pid', 'stack', 'channel=']) expect(plain).not.toContain(hidden);
    expect(tty).not.toContain(BOT_TOKEN);

    expect(JSON.parse(forcedJson.trim())).toMatchObject({
      level: 40,
      cid: 'c-1',
      event: 'retrying',
      nextTry: '2030-01-02T03:04:05.000Z',
      msg: 'delivery failed, retrying',
    });
    // Piped: no colours, still one line.
    expect(forcedPretty.trim().split('\n')).toHaveLength(1);
    expect(forcedPretty).toMatch(/^\[[\d:.]+\] WARN: delivery failed, retrying {2}job=tg-support\|501/);
    expect(forcedPretty).not.toContain('\x1b[');
  });

  it('written off the event loop, are all out when the process exits at once — on a pipe and in a file', async () => {
    // What a fatal error does: many lines, then process.exit before any write could finish.
    const program = `import('./src/log.ts').then((m) => { const log = m.createLogger('info', { format: 'json' });
      for (let i = 0; i < 5000; i++) log.info({ i, pad: 'x'.repeat(200) }, 'line'); log.error('last words'); process.exit(3); })`;
    const file = join(mkdtempSync(join(tmpdir(), 'bb-logs-')), 'out.log');
    const args = [process.execPath, '--import', 'tsx', '-e', program];
    const [piped, toFile] = await Promise.all([runProcess(args), runProcess(args, { stdout: openSync(file, 'w') })]);
    for (const { code, out } of [piped, { code: toFile.code, out: readFileSync(file, 'utf8') }]) {
      expect(code).toBe(3);
      const lines = out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { i?: number; msg: string });
      expect(lines).toHaveLength(5001);
      expect(lines.slice(0, 5000).map((l) => l.i)).toEqual(Array.from({ length: 5000 }, (_, i) => i));
      expect(lines[5000]!.msg).toBe('last words');
    }
  });
});

/** Runs a process (LOG_FORMAT unset unless `env` sets it); its stdout to a pipe (collected) or to a file descriptor. */
function runProcess(
  args: string[],
  o: { env?: Record<string, string>; stdout?: number } = {},
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(args[0]!, args.slice(1), {
      stdio: ['ignore', o.stdout ?? 'pipe', 'inherit'],
      env: { ...process.env, LOG_FORMAT: '', ...o.env },
    });
    if (o.stdout !== undefined) closeSync(o.stdout);
    let out = '';
    p.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    p.once('error', reject);
    p.once('close', (code) => resolve({ code, out }));
  });
}
