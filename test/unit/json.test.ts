/** The toolkit's parseJsonWellFormed / wellFormed: no lone surrogate gets past the bridge's JSON intake. */
import { describe, expect, it } from 'vitest';
import { parseJsonWellFormed as parseJson, wellFormed } from '../../src/toolkit/index.js';

describe('parseJsonWellFormed', () => {
  it('replaces lone surrogates in strings and keys with U+FFFD, keeps pairs and everything else', () => {
    const text = '{"a":"x\\ud800y","b":["\\udc00",1,null],"\\udbff":{"ok":"😀 \\ud83d\\ude00"},"__proto__":{"p":1}}';
    const v = parseJson(text) as Record<string, unknown>;
    expect(v.a).toBe('x\uFFFDy');
    expect(v.b).toEqual(['\uFFFD', 1, null]);
    expect(v['\uFFFD']).toEqual({ ok: '😀 😀' });
    // __proto__ stays an own property, as JSON.parse makes it.
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(Object.hasOwn(v, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).p).toBeUndefined();
  });

  it('is JSON.parse for text without surrogate escapes, and throws like it', () => {
    const text = '{"a":"é😀\\n","n":1.5e3,"t":true}';
    expect(parseJson(text)).toEqual(JSON.parse(text));
    expect(() => parseJson('{"a":')).toThrow(SyntaxError);
    expect(() => parseJson('{"a":"\\ud800"')).toThrow(SyntaxError);
  });

  it('wellFormed leaves well-formed text alone', () => {
    for (const s of ['', 'abc', '😀👍🏽🇷🇺', '\uFFFD']) expect(wellFormed(s)).toBe(s);
    expect(wellFormed('\ud83d')).toBe('\uFFFD');
    expect(wellFormed('\ude00\ud83d')).toBe('\uFFFD\uFFFD');
  });
});
