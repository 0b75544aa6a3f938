/**
 * The web chat's quotas against the real Redis, with the clock in the test's hands: a burst up to
 * the limit passes, the next is refused (counting nothing) with the time to wait, room comes back
 * evenly, and every limit counts its own subject.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { QuotaGuard, SOCKET_LEASE_MS } from '../../adapters/webchat/quota.js';
import { quotasSchema, type Quotas } from '../../adapters/webchat/settings.js';
import { readyRedis, removeKeys, uniquePrefix } from '../helpers/redis.js';

let redis: Redis;
const prefix = uniquePrefix();
let n = 0;

beforeAll(async () => {
  redis = await readyRedis();
});

afterAll(async () => {
  await removeKeys(redis, prefix);
  await redis.quit();
});

/** A guard on its own keys, with a clock the test moves. */
function guard(limits: Partial<Quotas>) {
  const clock = { now: 1_700_000_000_000 };
  const q = new QuotaGuard(redis, `${prefix}:q${++n}`, quotasSchema.parse(limits), () => clock.now);
  return { q, clock };
}

describe('messages per visitor per minute', () => {
  it('lets a burst up to the limit through, refuses the next with the wait, and refills one message per minute/limit', async () => {
    const { q, clock } = guard({ messagesPerMinute: 3 });
    for (let i = 0; i < 3; i++) expect(await q.message('web-a')).toBeUndefined();
    const refused = await q.message('web-a');
    expect(refused).toEqual({
      limit: 'messagesPerMinute',
      message: 'too many messages: this chat takes at most 3 a minute from one visitor; try again in 20 s',
      retryAfterMs: 20_000,
    });
    // The refusal counted nothing: the wait is still 20 s, not 40.
    expect((await q.message('web-a'))?.retryAfterMs).toBe(20_000);
    // Another visitor has their own allowance.
    expect(await q.message('web-b')).toBeUndefined();
    clock.now += 19_999;
    expect((await q.message('web-a'))?.retryAfterMs).toBe(1);
    clock.now += 1;
    expect(await q.message('web-a')).toBeUndefined();
    expect(await q.message('web-a')).toMatchObject({ limit: 'messagesPerMinute' });
    // A quiet minute gives the whole burst back.
    clock.now += 60_000;
    for (let i = 0; i < 3; i++) expect(await q.message('web-a')).toBeUndefined();
  });
});

describe('upload bytes', () => {
  it('per visitor per day: refused when the file does not fit, and the refusal counts neither bytes nor the message', async () => {
    const { q, clock } = guard({ uploadBytesPerDay: 1000, messagesPerMinute: 5 });
    expect(await q.upload('web-a', '203.0.113.7', 600)).toBeUndefined();
    const refused = await q.upload('web-a', '203.0.113.7', 600);
    expect(refused).toMatchObject({ limit: 'uploadBytesPerDay', retryAfterMs: 17_280_000 });
    expect(refused!.message).toBe('too many uploads: this chat takes at most 1000 bytes a day from one visitor; try again in 5 h');
    // 400 bytes fit; the refused upload took no message either (5 allowed, 2 taken).
    expect(await q.upload('web-a', '203.0.113.7', 400)).toBeUndefined();
    for (let i = 0; i < 3; i++) expect(await q.message('web-a')).toBeUndefined();
    expect(await q.message('web-a')).toMatchObject({ limit: 'messagesPerMinute' });
    // A file larger than the whole day's allowance never fits: no "try again".
    clock.now += 86_400_000;
    expect(await q.upload('web-a', '203.0.113.7', 1001)).toEqual({
      limit: 'uploadBytesPerDay',
      message: 'too many uploads: this chat takes at most 1000 bytes a day from one visitor',
    });
  });

  it('per address per day: many new visitors from one address share it', async () => {
    const { q } = guard({ uploadBytesPerDay: 1000, uploadBytesPerIpPerDay: 1500 });
    expect(await q.upload('web-a', '203.0.113.7', 1000)).toBeUndefined();
    expect(await q.upload('web-b', '203.0.113.7', 1000)).toMatchObject({ limit: 'uploadBytesPerIpPerDay' });
    expect(await q.upload('web-b', '198.51.100.1', 1000)).toBeUndefined();
  });
});

describe('sockets per address', () => {
  it('counts open sockets across processes, frees a closed one at once and a crashed process’s after its lease', async () => {
    const { q, clock } = guard({ socketsPerIp: 2 });
    // Two guards on the same keys: two processes of one deployment.
    const other = new QuotaGuard(redis, `${prefix}:q${n}`, quotasSchema.parse({ socketsPerIp: 2 }), () => clock.now);
    expect(await q.openSocket('203.0.113.7', 's1')).toBeUndefined();
    expect(await other.openSocket('203.0.113.7', 's2')).toBeUndefined();
    const refused = await q.openSocket('203.0.113.7', 's3');
    expect(refused).toEqual({
      limit: 'socketsPerIp',
      message: 'too many open chats from your network address (this chat allows 2); close some tabs and reload',
    });
    expect(await q.openSocket('198.51.100.1', 's4')).toBeUndefined();
    await q.closeSocket('203.0.113.7', 's1');
    expect(await q.openSocket('203.0.113.7', 's3')).toBeUndefined();

    // The other process dies: its socket s2 is not renewed, this one's s3 is.
    clock.now += SOCKET_LEASE_MS - 1000;
    await q.renewSockets([{ ip: '203.0.113.7', tag: 's3' }]);
    expect(await q.openSocket('203.0.113.7', 's5')).toMatchObject({ limit: 'socketsPerIp' });
    clock.now += 2000;
    expect(await q.openSocket('203.0.113.7', 's5')).toBeUndefined();
  });
});

describe('new visitors per address per hour', () => {
  it('counts each new key once, and refuses the keys over the limit', async () => {
    const { q, clock } = guard({ newVisitorsPerIpPerHour: 2 });
    expect(await q.newVisitor('web-a', '203.0.113.7')).toBeUndefined();
    expect(await q.newVisitor('web-a', '203.0.113.7')).toBeUndefined();
    expect(await q.newVisitor('web-b', '203.0.113.7')).toBeUndefined();
    const refused = await q.newVisitor('web-c', '203.0.113.7');
    expect(refused).toEqual({
      limit: 'newVisitorsPerIpPerHour',
      message: 'too many new chats from your network address: this chat allows 2 an hour; try again in 30 min',
      retryAfterMs: 1_800_000,
    });
    // Known keys still pass, and another address is not affected.
    expect(await q.newVisitor('web-a', '203.0.113.7')).toBeUndefined();
    expect(await q.newVisitor('web-c', '198.51.100.1')).toBeUndefined();
    clock.now += 1_800_000;
    expect(await q.newVisitor('web-c', '203.0.113.7')).toBeUndefined();
  });
});
