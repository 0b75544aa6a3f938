/** The Blinger client against the Custom App double: what each answer means for delivery. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BlingerClient, customAppBody } from '../../src/blinger/client.js';
import { DeliveryError } from '../../src/delivery/errors.js';
import { registerSecret } from '../../src/redact.js';
import { startBlingerDouble, type BlingerDouble } from '../doubles/blinger.js';
import { freePort } from '../helpers/net.js';

const TOKEN = 'custom-app-token-for-client-tests';
let blinger: BlingerDouble;
const statuses: (number | 'error')[] = [];
const client = new BlingerClient((_channel, status) => statuses.push(status));
const target = () => ({ url: blinger.url, token: TOKEN, channelId: '31', timeoutMs: 300 });
const text = { client_id: '5001', type: 'text' as const, data: 'hello' };

async function failure(p: Promise<void>): Promise<DeliveryError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DeliveryError);
  return err as DeliveryError;
}

beforeAll(async () => {
  registerSecret(TOKEN);
  blinger = await startBlingerDouble({ token: TOKEN, channelId: '31' });
});
beforeEach(() => {
  blinger.reset();
  statuses.length = 0;
});
afterAll(() => blinger.close());

describe('BlingerClient', () => {
  it('delivers the exact §1 body with the bearer token (the double validates it strictly)', async () => {
    await client.send(target(), { ...text, client_name: 'Ann', info: { username: 'ann' }, echo: true, echo_outgoing: true });
    expect(blinger.received).toHaveLength(1);
    expect(blinger.received[0]).toMatchObject({
      token: TOKEN,
      custom_channel_id: '31',
      client_id: '5001',
      type: 'text',
      data: 'hello',
      client_name: 'Ann',
      info: { username: 'ann' },
      echo: true,
      echo_outgoing: true,
    });
    expect(statuses).toEqual([200]);
  });

  it('leaves out empty optional fields, and echo_outgoing without echo', () => {
    const body = customAppBody(target(), { ...text, info: {}, echo_outgoing: true });
    expect(Object.keys(body).sort()).toEqual(['client_id', 'custom_channel_id', 'data', 'token', 'type']);
  });

  it.each([503, 500, 502, 408])('treats HTTP %i as transient', async (status) => {
    blinger.failNext(status);
    const e = await failure(client.send(target(), text));
    expect(e.kind).toBe('transient');
    expect(e.code).toBe(`http_${status}`);
  });

  it('treats 429 as a rate limit', async () => {
    blinger.failNext(429);
    const e = await failure(client.send(target(), text));
    expect(e.kind).toBe('rate_limited');
    expect(e.retryAfterMs).toBeGreaterThan(0);
  });

  it("treats other 4xx as permanent, with Blinger's answer in the reason and no secret", async () => {
    const e = await failure(client.send(target(), { ...text, client_id: '' }));
    expect(e.kind).toBe('permanent');
    expect(e.message).toMatch(/^Blinger answered 400: /);
    expect(e.message).toMatch(/client_id/);
    const wrongToken = await failure(client.send({ ...target(), token: 'another-registered-secret' }, text));
    expect(wrongToken.kind).toBe('permanent');
    expect(wrongToken.code).toBe('http_401');
    expect(wrongToken.message).not.toContain(TOKEN);
  });

  it('treats a hung request as a transient timeout', async () => {
    blinger.setHangRate(1);
    const e = await failure(client.send(target(), text));
    expect(e).toMatchObject({ kind: 'transient', code: 'timeout' });
    expect(e.message).toMatch(/no answer within 300 ms/);
    expect(statuses).toEqual(['error']);
  });

  it('treats a refused connection as transient', async () => {
    const port = await freePort();
    const e = await failure(client.send({ ...target(), url: `http://127.0.0.1:${port}/in` }, text));
    expect(e.kind).toBe('transient');
    expect(e.message).toMatch(/ECONNREFUSED/);
  });
});
