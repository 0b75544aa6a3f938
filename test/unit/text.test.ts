import { describe, expect, it } from 'vitest';
import {
  cutPoint,
  parseJsonWellFormed,
  REPLACEMENT_CHARACTER,
  stringifyWellFormed,
  truncate,
  wellFormed,
  wellFormedDeep,
} from '../../src/text.js';
import { cleanFileName } from '../../src/media/safe-type.js';
import { sanitizeFileName } from '../../src/net/safe-download.js';

const LONE_HIGH = '\ud83d';
const LONE_LOW = '\ude00';
const GRIN = '\ud83d\ude00'; // 😀, one code point, two code units
const FLAG = '\ud83c\uddfa\ud83c\udde6'; // 🇺🇦, one grapheme, four code units
const FAMILY = '👩‍👩‍👧'; // a ZWJ sequence, one grapheme

describe('wellFormed', () => {
  it('replaces each lone surrogate with U+FFFD and keeps pairs', () => {
    expect(wellFormed(`broken ${LONE_HIGH} tail`)).toBe(`broken ${REPLACEMENT_CHARACTER} tail`);
    expect(wellFormed(`${LONE_LOW}x${LONE_HIGH}`)).toBe('\ufffdx\ufffd');
    expect(wellFormed(`${LONE_LOW}${LONE_HIGH}`)).toBe('\ufffd\ufffd'); // low before high is no pair
    expect(wellFormed(`ok ${GRIN} ${FLAG}`)).toBe(`ok ${GRIN} ${FLAG}`);
  });
});

describe('wellFormedDeep', () => {
  it('repairs strings at any depth, keys included, and leaves other values alone', () => {
    const input = { a: [1, `x${LONE_HIGH}`, { [`k${LONE_LOW}`]: true, n: null }], b: 'fine', c: 2.5 };
    expect(wellFormedDeep(input)).toEqual({ a: [1, 'x\ufffd', { 'k\ufffd': true, n: null }], b: 'fine', c: 2.5 });
    // The input is not modified.
    expect(input.a[1]).toBe(`x${LONE_HIGH}`);
  });

  it('returns the very same value when nothing needed repair (no copy on the usual path)', () => {
    const input = { message: { text: `hi ${GRIN}`, entities: [{ type: 'bold' }] } };
    expect(wellFormedDeep(input)).toBe(input);
    const array = ['a', GRIN];
    expect(wellFormedDeep(array)).toBe(array);
  });

  it('keeps "__proto__" an ordinary key when it rebuilds an object', () => {
    const input = JSON.parse(`{"__proto__": {"polluted": "x${'\\ud83d'}"}, "t": "${'\\ud83d'}"}`) as Record<string, unknown>;
    const out = wellFormedDeep(input) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out)).toEqual(['__proto__', 't']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('parseJsonWellFormed / stringifyWellFormed', () => {
  it('parses a JSON escape of a lone surrogate into U+FFFD, and keeps escaped pairs', () => {
    expect(parseJsonWellFormed('{"text":"broken \\ud83d tail","ok":"\\ud83d\\ude00"}')).toEqual({
      text: 'broken \ufffd tail',
      ok: GRIN,
    });
    // Uppercase hex, an array at the top, a lone low half.
    expect(parseJsonWellFormed('["\\uD83D", "\\uDE00x"]')).toEqual(['\ufffd', '\ufffdx']);
    // An escaped backslash followed by "ud83d" is ordinary text.
    expect(parseJsonWellFormed('"\\\\ud83d"')).toBe('\\ud83d');
    expect(() => parseJsonWellFormed('{')).toThrow(SyntaxError);
  });

  it('writes JSON without lone surrogate escapes, so Lua cjson can decode it', () => {
    expect(JSON.stringify({ t: `a${LONE_HIGH}` })).toBe('{"t":"a\\ud83d"}'); // what cjson refuses
    expect(stringifyWellFormed({ t: `a${LONE_HIGH}`, k: [`${LONE_LOW}`] })).toBe('{"t":"a\ufffd","k":["\ufffd"]}');
    expect(stringifyWellFormed({ t: `a ${GRIN} \\ud83d` })).toBe(JSON.stringify({ t: `a ${GRIN} \\ud83d` }));
  });
});

describe('truncate', () => {
  it('keeps a text that fits, and cuts a longer one to at most max code units', () => {
    expect(truncate('hello', 5)).toBe('hello');
    expect(truncate('hello world', 5)).toBe('hello');
    expect(truncate('hello world', 6, '…')).toBe('hello…');
    expect(truncate('hello', 0)).toBe('');
  });

  it('never cuts inside a surrogate pair', () => {
    const name = `${'a'.repeat(199)}${GRIN}`; // 201 code units, the emoji straddles 200
    expect(name.slice(0, 200).isWellFormed()).toBe(false); // what a slice does
    expect(truncate(name, 200)).toBe('a'.repeat(199));
    expect(truncate(GRIN, 1)).toBe('');
    for (let max = 0; max <= 12; max++) {
      const cut = truncate(`${GRIN}x${GRIN}${GRIN}y${GRIN}`, max, max % 2 ? '…' : '');
      expect(cut.isWellFormed(), `max ${max}`).toBe(true);
      expect(cut.length).toBeLessThanOrEqual(max);
    }
  });

  it('does not cut inside a short grapheme cluster (flags, ZWJ sequences, combining marks)', () => {
    expect(truncate(`ab${FLAG}`, 4)).toBe('ab');
    expect(truncate(`ab${FAMILY}cd`, 6)).toBe('ab');
    expect(truncate('abe\u0301', 3)).toBe('ab'); // e + combining acute accent
  });

  it('cutPoint is what split-text uses: a cut after pos whenever two code units fit', () => {
    expect(cutPoint(`${GRIN}${GRIN}`, 0, 3)).toBe(2);
    expect(cutPoint(`${FLAG}${FLAG}`, 0, 6)).toBe(4);
    expect(cutPoint(FLAG, 0, 2)).toBe(2); // a cluster longer than the piece is cut between code points
  });
});

describe('file names are cut by code point', () => {
  it('cleanFileName: a 200-character name ending in an emoji loses the whole emoji, never half of it', () => {
    const name = `${'n'.repeat(195)}.pdf${GRIN}`; // 201 code units: code unit 200 is half the emoji
    const clean = cleanFileName(name);
    expect(clean).toBe(`${'n'.repeat(195)}.pdf`);
    expect(clean.isWellFormed()).toBe(true);
    expect(cleanFileName(`report${LONE_HIGH}.txt`)).toBe('report\ufffd.txt');
  });

  it('sanitizeFileName (agent file downloads) keeps the extension and cuts the base by code point', () => {
    const name = `x${GRIN.repeat(120)}.pdf`; // 245 code units: a slice would end inside an emoji
    const clean = sanitizeFileName(name)!;
    expect(clean.length).toBeLessThanOrEqual(200);
    expect(clean.isWellFormed()).toBe(true);
    expect(clean.endsWith(`${GRIN}.pdf`)).toBe(true);
  });
});
