import { Writable } from 'node:stream';
import type pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { redact, registerSecret } from '../../src/redact.js';

describe('redact', () => {
  it('removes registered secrets wherever they appear', () => {
    registerSecret('blinger-secret-xyz');
    expect(redact('Authorization: Bearer blinger-secret-xyz failed')).toBe('Authorization: Bearer [REDACTED] failed');
  });

  it('catches unregistered bot tokens, also inside Bot API URLs', () => {
    const token = '987654321:AAFakeTokenFakeTokenFakeTokenFake12';
    expect(redact(`GET https://api.telegram.org/bot${token}/getMe`)).toBe('GET https://api.telegram.org/bot[REDACTED]/getMe');
    expect(redact(`file/bot${token}/photos/a.jpg`)).not.toContain(token.split(':')[1]);
  });

  it('leaves ordinary text alone', () => {
    expect(redact('update 123456 at 12:30 delivered')).toBe('update 123456 at 12:30 delivered');
  });
});

describe('log lines', () => {
  const SECRET = 'deep-secret-token-0123456789';
  const BOT = '555555:AAdeepBotTokenDeepBotTokenDeepBot12';

  function capture(): { lines: () => string; log: ReturnType<typeof createLogger> } {
    const chunks: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        chunks.push(String(chunk));
        cb();
      },
    });
    registerSecret(SECRET);
    return {
      lines: () => chunks.join(''),
      log: createLogger('debug', { destination: sink as unknown as pino.DestinationStream, pretty: false }),
    };
  }

  /** A token at depth 5: a.b.c.d.e = token. */
  const deep = (token: string) => ({ a: { b: { c: { d: { e: token, list: [{ f: token }] } } } } });

  it('hold for nested objects, arrays and errors at any depth', () => {
    const { lines, log } = capture();
    log.info({ req: deep(SECRET) }, 'nested');
    log.info(deep(BOT), 'bot token nested');
    const err = new Error(`upstream said ${SECRET}`);
    log.error({ wrapper: { inner: { more: { err, cause: new Error(`via ${BOT}`) } } } }, 'wrapped error');
    log.error(err);
    const out = lines();
    expect(out).toContain('[REDACTED]');
    expect(out).not.toContain(SECRET);
    expect(out).not.toContain(BOT.split(':')[1]);
    expect(out.split('\n').filter(Boolean)).toHaveLength(4);
  });

  it('hold for child-logger bindings, nested too', () => {
    const { lines, log } = capture();
    const child = log.child({ channel: 'c1', token: SECRET, ctx: deep(SECRET) }).child({ bot: deep(BOT) });
    child.info('from a child');
    child.warn({ extra: 1 }, 'again');
    const out = lines();
    expect(out).toContain('from a child');
    expect(out).not.toContain(SECRET);
    expect(out).not.toContain(BOT.split(':')[1]);
  });

  it('hold for %o, %O, %j and %s interpolation', () => {
    const { lines, log } = capture();
    log.info('o: %o', deep(SECRET));
    log.info('O: %O', deep(SECRET));
    log.info('j: %j and %s', deep(BOT), SECRET);
    log.info({ m: 1 }, 'merged then %j', deep(SECRET));
    const out = lines();
    expect(out.match(/\[REDACTED\]/g)!.length).toBeGreaterThanOrEqual(4);
    expect(out).not.toContain(SECRET);
    expect(out).not.toContain(BOT.split(':')[1]);
  });

  it('leave a cycle and ordinary values intact', () => {
    const { lines, log } = capture();
    const cyclic: Record<string, unknown> = { name: 'loop', n: 42, ok: true, none: null };
    cyclic.self = cyclic;
    log.info({ cyclic }, 'cycle');
    const line = JSON.parse(lines()) as { cyclic: Record<string, unknown> };
    expect(line.cyclic).toMatchObject({ name: 'loop', n: 42, ok: true, none: null });
  });
});
