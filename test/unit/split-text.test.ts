import { describe, expect, it } from 'vitest';
import { splitText } from '../../src/toolkit/split-text.js';
import { mulberry32 as rng } from '../helpers/random.js';

const BREAKABLE = /[\t\n\v\f\r \u0085\u1680\u2000-\u2006\u2008-\u200a\u2028\u2029\u205f\u3000]/;

/**
 * Checks the documented contract: parts are non-empty, within `max`, and the text is
 * parts[0] + s0 + parts[1] + … with every separator empty or breakable whitespace only.
 * Returns the dropped separators.
 */
function checkReassembly(text: string, parts: string[], max: number): string[] {
  const dropped: string[] = [];
  let at = 0;
  for (const [i, part] of parts.entries()) {
    expect(part.length, `part ${i} length`).toBeGreaterThan(0);
    expect(part.length, `part ${i} length`).toBeLessThanOrEqual(max);
    const found = text.indexOf(part, at);
    // The part must come next, after nothing but breakable whitespace.
    const gap = text.slice(at, found);
    expect(found, `part ${i} not found in order`).toBeGreaterThanOrEqual(at);
    for (const ch of gap) expect(BREAKABLE.test(ch), `non-whitespace dropped before part ${i}`).toBe(true);
    if (gap) dropped.push(gap);
    at = found + part.length;
  }
  const tail = text.slice(at);
  for (const ch of tail) expect(BREAKABLE.test(ch), 'non-whitespace dropped at the end').toBe(true);
  if (tail) dropped.push(tail);
  return dropped;
}

function isLoneSurrogateEdge(part: string): boolean {
  const first = part.charCodeAt(0);
  const last = part.charCodeAt(part.length - 1);
  return (first >= 0xdc00 && first <= 0xdfff) || (last >= 0xd800 && last <= 0xdbff);
}

describe('splitText', () => {
  it('returns short text unchanged, and nothing for empty text', () => {
    expect(splitText('hello')).toEqual(['hello']);
    expect(splitText('x'.repeat(4096))).toEqual(['x'.repeat(4096)]);
    expect(splitText('  padded  ')).toEqual(['  padded  ']);
    expect(splitText('')).toEqual([]);
  });

  it('defaults to Telegram’s 4096 limit', () => {
    const text = `${'a'.repeat(4000)} ${'b'.repeat(200)}`;
    expect(splitText(text)).toEqual(['a'.repeat(4000), 'b'.repeat(200)]);
  });

  it('rejects a limit that cannot hold a surrogate pair', () => {
    expect(() => splitText('abc', 1)).toThrow(RangeError);
    expect(() => splitText('abc', 2.5)).toThrow(RangeError);
  });

  it('breaks on the last whitespace within the limit', () => {
    expect(splitText('aaa bbb ccc ddd', 8)).toEqual(['aaa bbb', 'ccc ddd']);
    // A break right at the limit is allowed.
    expect(splitText('aaaa bbbb', 4)).toEqual(['aaaa', 'bbbb']);
  });

  it('prefers the last newline over a later space', () => {
    const text = 'first line here\nsecond line with words';
    expect(splitText(text, 20)).toEqual(['first line here', 'second line with', 'words']);
  });

  it('ignores a newline that would leave a part under half the limit', () => {
    const text = 'hi\nthere are many words in this sentence';
    const parts = splitText(text, 20);
    expect(parts[0]).toBe('hi\nthere are many');
    checkReassembly(text, parts, 20);
  });

  it('drops exactly the whitespace run at each split point, \\r\\n included', () => {
    const text = 'one two  \r\n\r\n  three four';
    const parts = splitText(text, 10);
    expect(parts).toEqual(['one two', 'three four']);
    expect(checkReassembly(text, parts, 10)).toEqual(['  \r\n\r\n  ']);
  });

  it('never splits at a non-breaking space', () => {
    const text = 'aaaa\u00a0bbbb cc';
    expect(splitText(text, 10)).toEqual(['aaaa\u00a0bbbb', 'cc']);
  });

  it('hard-splits a 10,000-character word at the limit', () => {
    const word = 'x'.repeat(10_000);
    const parts = splitText(word);
    expect(parts.map((p) => p.length)).toEqual([4096, 4096, 1808]);
    expect(parts.join('')).toBe(word);
  });

  it('keeps a word longer than the limit whole-prefixed when it starts the text after spaces', () => {
    const text = `   ${'x'.repeat(20)}`;
    const parts = splitText(text, 10);
    expect(parts.join('')).toBe(text);
    expect(parts[0]).toBe('   xxxxxxx');
  });

  it('drops a leading whitespace run that fills a whole part', () => {
    const text = `${' '.repeat(15)}hello world`;
    expect(splitText(text, 10)).toEqual(['hello', 'world']);
  });

  it('never splits a surrogate pair at the boundary', () => {
    // 4095 ASCII then an emoji: the emoji straddles 4096 and must move to the next part whole.
    const text = `${'a'.repeat(4095)}😀${'b'.repeat(10)}`;
    const parts = splitText(text);
    expect(parts).toEqual(['a'.repeat(4095), `😀${'b'.repeat(10)}`]);
    // Only emoji, odd limit: every cut would fall mid-pair unless moved.
    const emoji = '😀'.repeat(50);
    const eparts = splitText(emoji, 7);
    for (const p of eparts) {
      expect(isLoneSurrogateEdge(p)).toBe(false);
      expect(p.length).toBeLessThanOrEqual(7);
    }
    expect(eparts.join('')).toBe(emoji);
  });

  it('keeps a ZWJ family emoji together at the boundary', () => {
    const family = '👨‍👩‍👧‍👦'; // 11 code units
    const text = `${'a'.repeat(4090)}${family}${'b'.repeat(10)}`;
    const parts = splitText(text);
    expect(parts[0]).toBe('a'.repeat(4090));
    expect(parts[1]?.startsWith(family)).toBe(true);
    expect(parts.join('')).toBe(text);
  });

  it('keeps markup-looking characters exactly as typed', () => {
    const text = '<b>bold?</b> *not bold* _nor italic_ `code` [link](http://x) & &amp; < >';
    expect(splitText(text)).toEqual([text]);
    const long = `${text} `.repeat(200);
    const parts = splitText(long);
    expect(parts.length).toBeGreaterThan(1);
    // Each split point drops exactly the one space it fell on; the text's own last space stays.
    expect(parts.join(' ') === long).toBe(true);
    for (const p of parts.slice(0, -1)) expect(/^\S.*\S$/s.test(p)).toBe(true);
  });

  it('satisfies the reassembly contract on many random strings (seeded)', () => {
    const rand = rng(20240611);
    const alphabet = [
      'a',
      'b',
      'Z',
      '<',
      '*',
      '_',
      ' ',
      ' ',
      ' ',
      '\n',
      '\r\n',
      '\t',
      '\u00a0',
      'é',
      'e\u0301',
      '😀',
      '👍🏽',
      '🇺🇦',
      '👨‍👩‍👧',
      '\u3000',
    ];
    for (let n = 0; n < 400; n++) {
      const max = 2 + Math.floor(rand() * 60);
      const len = Math.floor(rand() * 400);
      let text = '';
      while (text.length < len) {
        // Some long runs without whitespace, to exercise hard breaks.
        if (rand() < 0.05) text += 'w'.repeat(Math.floor(rand() * 150));
        else text += alphabet[Math.floor(rand() * alphabet.length)];
      }
      const parts = splitText(text, max);
      checkReassembly(text, parts, max);
      for (const p of parts) expect(isLoneSurrogateEdge(p), JSON.stringify({ text, max })).toBe(false);
      if (text.length <= max) expect(parts).toEqual(text ? [text] : []);
    }
  });
});
