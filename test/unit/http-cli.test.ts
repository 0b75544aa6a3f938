import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { httpAdapter } from '../../adapters/http/index.js';
import { cliContext } from '../../src/cli/common.js';
import { loadConfig } from '../../src/config/load.js';
import { CliError, UsageError } from '../../src/cli/errors.js';
import { verifyWebhook } from '../../src/toolkit/standard-webhooks.js';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const env = {
  BLINGER_URL: 'https://blinger.example/in',
  BLINGER_TOKEN: 'blinger-token',
  BLINGER_CHANNEL_ID: 'my-app',
  HTTP_CHANNEL_DELIVERY_URL: 'https://app.example/bridge',
  HTTP_CHANNEL_SECRET: SECRET,
  MEDIA_SECRET: 'a-long-random-media-secret',
};

async function run(argv: string[], e: Record<string, string> = env): Promise<{ code: number; out: string[] }> {
  const out: string[] = [];
  const ctx = { ...cliContext('http', () => loadConfig(e)), out: (l: string) => void out.push(l), err: (l: string) => void out.push(l) };
  return { code: await httpAdapter.cli!.run(argv, ctx), out };
}

describe('blinger-bridge http', () => {
  it('secret prints a new secret the channel settings accept', async () => {
    const { code, out } = await run(['secret']);
    expect(code).toBe(0);
    expect(out[0]).toMatch(/^whsec_/);
    expect(httpAdapter.settings.safeParse({ type: 'http', secret: out[0], deliveryUrl: 'https://a.example/x' }).success).toBe(true);
  });

  it('sign prints headers that verify against the body with the channel secret', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bb-http-'));
    const body = '{"user":{"id":"u-1"},"type":"text","text":"Hello"}';
    writeFileSync(join(dir, 'body.json'), body);
    const { code, out } = await run(['sign', join(dir, 'body.json'), '--id', 'msg_cli-1']);
    expect(code).toBe(0);
    const headers = Object.fromEntries(out.map((l) => l.split(': ', 2) as [string, string]));
    expect(headers['webhook-id']).toBe('msg_cli-1');
    expect(verifyWebhook(SECRET, headers, body)).toMatchObject({ ok: true, id: 'msg_cli-1' });
  });

  it('names the mistakes: no file, an unknown command, no such channel', async () => {
    await expect(run(['sign'])).rejects.toSatisfy((e: unknown) => e instanceof UsageError && /give one body file/.test(e.message));
    await expect(run(['frob'])).rejects.toSatisfy((e: unknown) => e instanceof UsageError && /unknown command "frob"/.test(e.message));
    await expect(run(['sign', '-', '--channel', 'other'])).rejects.toSatisfy(
      (e: unknown) => e instanceof CliError && /no such HTTP channel/.test(e.message),
    );
  });
});
