import { describe, expect, it } from 'vitest';
import { buildReply, compose, type FlowContext, type Middleware } from '../../src/flow/middleware.js';
import { keywordMatcher } from '../../src/flow/bot-flow.js';

describe('compose', () => {
  it('runs middleware in order around next(), then the terminal', async () => {
    const trace: string[] = [];
    const mw =
      (name: string): Middleware =>
      async (_ctx, next) => {
        trace.push(`${name}>`);
        await next();
        trace.push(`<${name}`);
      };
    await compose([mw('a'), mw('b')])({} as FlowContext, () => void trace.push('end'));
    expect(trace).toEqual(['a>', 'b>', 'end', '<b', '<a']);
  });

  it('stops where a middleware does not call next()', async () => {
    let reached = false;
    await compose([() => undefined])({} as FlowContext, () => {
      reached = true;
    });
    expect(reached).toBe(false);
  });

  it('refuses next() twice and non-functions', async () => {
    await expect(
      compose([
        async (_c, next) => {
          await next();
          await next();
        },
      ])({} as FlowContext, () => undefined),
    ).rejects.toThrow(/more than once/);
    expect(() => compose(['nope' as unknown as Middleware])).toThrow(/must be functions/);
  });
});

describe('buildReply', () => {
  it('makes text, media and keyboards in the messenger-neutral form', () => {
    expect(buildReply('hi')).toEqual({ type: 'text', data: 'hi' });
    expect(buildReply({ type: 'image', data: 'https://x.example/a.png' })).toEqual({ type: 'image', data: 'https://x.example/a.png' });
    expect(
      buildReply('pick', {
        buttons: [
          { label: 'A', data: 'a' },
          [
            { label: 'B', data: 'b' },
            { label: 'C', data: 'c' },
          ],
        ],
      }).keyboard,
    ).toEqual({
      buttons: [
        [{ label: 'A', data: 'a' }],
        [
          { label: 'B', data: 'b' },
          { label: 'C', data: 'c' },
        ],
      ],
    });
    expect(buildReply('phone?', { requestPhone: 'Share' }).keyboard).toEqual({ requestPhone: 'Share' });
    expect(buildReply('thanks', { removeKeyboard: true }).keyboard).toEqual({ remove: true });
  });

  it('refuses what no messenger could send', () => {
    expect(() => buildReply('  ')).toThrow(/must not be empty/);
    expect(() => buildReply({ type: 'file', data: 'file:///etc/passwd' })).toThrow(/http\(s\) URL/);
    expect(() => buildReply('x', { buttons: [{ label: 'A', data: 'é'.repeat(33) }] })).toThrow(/1-64 bytes/);
    expect(() => buildReply('x', { buttons: [{ label: '', data: 'a' }] })).toThrow(/label/);
    expect(() => buildReply('x', { buttons: [{ label: 'A', data: 'a' }], requestPhone: 'P' })).toThrow(/one of/);
    expect(() => buildReply({ type: 'image', data: 'https://x/a.png' }, { removeKeyboard: true })).toThrow(/text reply/);
  });
});

describe('keyword matching', () => {
  it('matches whole words and phrases in any case, commands included, in any script', () => {
    const m = keywordMatcher(['price', 'talk to a human', 'оператор'])!;
    expect(m('What is the PRICE?')).toBe(true);
    expect(m('/price')).toBe(true);
    expect(m('priceless')).toBe(false);
    expect(m('can I talk  to a\nhuman')).toBe(true);
    expect(m('Позовите оператора')).toBe(false);
    expect(m('нужен оператор!')).toBe(true);
    expect(keywordMatcher([])).toBeUndefined();
  });

  it('escapes regex characters in keywords', () => {
    const m = keywordMatcher(['c++', 'a.b'])!;
    expect(m('I love c++')).toBe(true);
    expect(m('axb')).toBe(false);
  });
});
