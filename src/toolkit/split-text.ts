/**
 * Splits an agent's text into messenger-sized messages ("split at 4096 characters on word
 * boundaries, in order"; Telegram, WhatsApp and others use it with their own limit). Plain text
 * only: nothing is escaped or interpreted, so `<b>`, `*` and `_` arrive exactly as typed.
 *
 * Lengths are counted in UTF-16 code units, which is how Telegram and WhatsApp count their 4096.
 *
 * Where a part ends, in order of preference:
 *  1. at the last line break (`\n`) within the limit, if the part is then at least half the limit
 *     (so one early newline does not produce a tiny part followed by a full one);
 *  2. otherwise at the last breakable whitespace within the limit (a break exactly at the limit is
 *     allowed: "aaaa bbbb" with max 4 gives "aaaa", "bbbb");
 *  3. otherwise (one "word" longer than the limit) as close to the limit as possible without
 *     cutting a surrogate pair, and without cutting a grapheme cluster (ZWJ emoji sequences, flags,
 *     skin tones, combining marks) when the cluster is shorter than the limit.
 *
 * What is dropped — exactly this, and nothing else:
 *  - at a whitespace break (1 or 2), the whole run of consecutive breakable whitespace the break
 *    falls in (so no part starts or ends with whitespace at a split point; `\r\n` goes with it);
 *    when that run reaches the end of the text, the text's trailing whitespace is that run;
 *  - a run of whitespace at the very start of the text that is at least `max` long (it would
 *    otherwise become a whitespace-only part, which Telegram rejects).
 * A hard break (3) drops nothing. So `text` equals `parts[0] + s0 + parts[1] + s1 + … + parts[n-1] + sn`
 * where every `s` is either empty or whitespace only, and `sn` is non-empty only if `text` ended in
 * whitespace that was part of a split point.
 *
 * Breakable whitespace: space, tab, `\n`, `\r`, `\v`, `\f`, U+0085, U+1680, U+2000–U+2006,
 * U+2008–U+200A, U+2028, U+2029, U+205F, U+3000. Non-breaking spaces (U+00A0, U+2007, U+202F) and
 * U+FEFF are never split at.
 *
 * Parts are never empty. A text of `max` code units or fewer comes back unchanged as one part
 * (an empty text gives no parts).
 */
export function splitText(text: string, max = 4096): string[] {
  if (!Number.isInteger(max) || max < 2) {
    throw new RangeError(`splitText: max must be an integer of at least 2, got ${max}`);
  }
  if (text.length === 0) return [];
  if (text.length <= max) return [text];

  const parts: string[] = [];
  let pos = 0;
  while (pos < text.length) {
    if (text.length - pos <= max) {
      parts.push(text.slice(pos));
      break;
    }
    const limit = pos + max; // exclusive end of the longest allowed part
    const wsCut = findWhitespaceBreak(text, pos, limit, max);
    if (wsCut === 'all-whitespace') {
      // Only possible at the start of the text: a whitespace run longer than a whole part.
      pos = skipWhitespace(text, pos);
      continue;
    }
    if (wsCut !== undefined) {
      parts.push(text.slice(pos, wsCut.partEnd));
      pos = wsCut.nextStart;
      continue;
    }
    const cut = hardBreak(text, pos, limit);
    parts.push(text.slice(pos, cut));
    pos = cut;
  }
  return parts;
}

const BREAKABLE = new Set<number>([
  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x85, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2008, 0x2009, 0x200a, 0x2028,
  0x2029, 0x205f, 0x3000,
]);

function isBreakable(text: string, i: number): boolean {
  return BREAKABLE.has(text.charCodeAt(i));
}

function skipWhitespace(text: string, i: number): number {
  while (i < text.length && isBreakable(text, i)) i++;
  return i;
}

/**
 * Finds a whitespace break for the part starting at `pos`: the part would end where the
 * whitespace run containing the break starts, and the next part starts after that run.
 * A break at index `limit` itself (the first character past the longest allowed part) is allowed.
 */
function findWhitespaceBreak(
  text: string,
  pos: number,
  limit: number,
  max: number,
): { partEnd: number; nextStart: number } | 'all-whitespace' | undefined {
  const runStart = (i: number): number => {
    while (i > pos && isBreakable(text, i - 1)) i--;
    return i;
  };

  // 1. The last newline, if it leaves a part of at least half the limit.
  const nl = text.lastIndexOf('\n', limit);
  if (nl > pos) {
    const end = runStart(nl);
    if (end - pos >= Math.ceil(max / 2)) {
      return { partEnd: end, nextStart: skipWhitespace(text, nl) };
    }
  }

  // 2. The last breakable whitespace.
  for (let i = limit; i > pos; i--) {
    if (!isBreakable(text, i)) continue;
    const end = runStart(i);
    if (end > pos) return { partEnd: end, nextStart: skipWhitespace(text, i) };
    // Everything from `pos` up to this break is whitespace. Only the text's leading run can look
    // like this: every later part starts after a skipped run or a hard break, i.e. on a
    // non-whitespace character. A run that fills a whole part is dropped; a shorter one stays
    // with the word after it (hard break).
    return skipWhitespace(text, pos) >= limit ? 'all-whitespace' : undefined;
  }
  return undefined;
}

const segmenter: Intl.Segmenter | undefined =
  typeof Intl !== 'undefined' && typeof Intl.Segmenter === 'function'
    ? new Intl.Segmenter(undefined, { granularity: 'grapheme' })
    : undefined;

/** How far back from the limit to look for a grapheme boundary; longer clusters are cut. */
const GRAPHEME_LOOKBACK = 64;

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

/** The cut for a part with no whitespace to break at: `pos < cut <= limit`. */
function hardBreak(text: string, pos: number, limit: number): number {
  // Never between the two halves of a surrogate pair (max >= 2 keeps cut > pos).
  let cut = limit;
  if (isHighSurrogate(text.charCodeAt(cut - 1)) && isLowSurrogate(text.charCodeAt(cut))) cut--;

  if (segmenter) {
    // Back off to the last grapheme boundary at or before the cut, looking only at a small window
    // around it (cheap), and only when that still leaves a non-empty part.
    const from = Math.max(pos, cut - GRAPHEME_LOOKBACK);
    const to = Math.min(text.length, cut + GRAPHEME_LOOKBACK);
    let best = -1;
    for (const { index } of segmenter.segment(text.slice(from, to))) {
      const at = from + index;
      if (at > cut) break;
      best = at;
    }
    // `best === from` with from > pos means the cluster may start before the window: keep the cut.
    if (best > pos && (best > from || from === pos)) cut = best;
  }
  return cut;
}
