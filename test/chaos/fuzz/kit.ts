/**
 * What the fuzz test (test/chaos/fuzz.test.ts) is made of: a seeded source of hostile values and
 * bodies, and the shape of a route. Each webhook route of the bridge is one module in this folder
 * (routes.ts lists them), so a new adapter adds its route as a file.
 */
import type { ChannelConfig } from '../../../src/config/schema.js';
import { mulberry32 as prng } from '../../helpers/random.js';
import type { World } from '../support/harness.js';

export interface FuzzRequest {
  /** POST unless said. */
  method?: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  /** The route's own body limit, when above the server's 1 MiB (a refusal by closing is fine past it). */
  maxBody?: number;
}

export interface FuzzRoute {
  /** The route's name in the figures line. */
  name: string;
  /** Channels of its own the route needs (added to the bridge's config); doubles it starts go in w.cleanups. */
  channels?(w: World): ChannelConfig[] | Promise<ChannelConfig[]>;
  /** One random request: mostly mangled valid ones, with odd headers and bodies. */
  request(w: World): FuzzRequest;
  /** After the fuzzing: checks that the route's conversations still deliver real messages. */
  afterwards?(w: World, bridgeUrl: string): Promise<void>;
  /** Secrets of its channels that must never reach the bridge's log. */
  secrets?(): string[];
}

/** A content type, mostly right. */
export function contentType(): string | undefined {
  return chance(0.6)
    ? 'application/json'
    : pick([
        'application/json; charset=utf-8',
        'APPLICATION/JSON',
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=xyz',
        'application/vnd.api+json',
        'application/json; charset=utf-16',
        'application/ json',
        undefined,
        '*/*',
      ]);
}

/** Headers every route may get: an encoding, a forwarded-for, the content type. */
export function commonHeaders(): Record<string, string> {
  const headers: Record<string, string> = {};
  const type = contentType();
  if (type) headers['content-type'] = type;
  if (chance(0.05)) headers['content-encoding'] = pick(['gzip', 'br', 'identity', 'bogus']);
  if (chance(0.05)) headers['x-forwarded-for'] = pick(['1.2.3.4', 'garbage', '::1, 10.0.0.1']);
  return headers;
}

/** Mostly the channel, sometimes a path segment that is not one. */
export function channelSegment(id: string): string {
  return chance(0.9) ? id : pick(['nope', '%00', 'x'.repeat(3000), '..%2F..%2Fetc', 'chaos%20', '']);
}

/** Reproducible: the same requests every run; CHAOS_SEED=<n> explores others. */
export const SEED = Number(process.env.CHAOS_SEED ?? 20240611);
const rnd = prng(SEED);
export const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)]!;
export const chance = (p: number) => rnd() < p;
export const int = (max: number) => Math.floor(rnd() * max);

/** The chats the garbage goes to; real messages follow to the same chats afterwards. */
export const FUZZ_CHATS = [2000, 2001, 2002, 2003, 2004];
export const FUZZ_CLIENTS = ['3000', '3001', '3002', '3003', '3004'];
/**
 * Where file URLs in the garbage point: a local server that answers 404, so a reply that is valid
 * enough to be queued fails permanently at once. (An unreachable URL would be retried for
 * RETRY_MAX_AGE, holding its conversation — by design — and tests never leave 127.0.0.1.)
 */
export let LOCAL_FILE = 'http://127.0.0.1:9/none';

export function setLocalFile(url: string): void {
  LOCAL_FILE = url;
}

function deep(levels: number, leaf: unknown): unknown {
  let v = leaf;
  for (let i = 0; i < levels; i++) v = chance(0.5) ? [v] : { a: v };
  return v;
}

export function randomString(): string {
  return pick([
    () => '',
    () => ' ',
    () => 'x'.repeat(int(5000)),
    () => 'é😀\u202e\u0000\uffff\ud800', // accents, emoji, RTL override, NUL, a lone surrogate
    () => '<script>alert(1)</script>',
    () => '${PATH} %s %n {{7*7}}',
    () => '__proto__',
    () => 'constructor',
    () => `${LOCAL_FILE}/a.png`,
    () => `${LOCAL_FILE}?q=${'x'.repeat(3000)}`,
    () => 'javascript:alert(1)',
    () => 'a'.repeat(70_000),
    () => String(rnd()),
  ])();
}

/** Any JSON value, from plain to hostile. */
export function randomValue(depth = 0): unknown {
  const kinds: (() => unknown)[] = [
    () => null,
    () => chance(0.5),
    () => int(1e6) - 5e5,
    () => rnd() * 1e308,
    () => 2 ** 60,
    () => -1,
    () => 1.5,
    randomString,
    () => [],
    () => ({}),
  ];
  if (depth < 3) {
    kinds.push(() => Array.from({ length: int(4) }, () => randomValue(depth + 1)));
    kinds.push(() =>
      Object.fromEntries(
        Array.from({ length: int(4) }, () => [
          pick(['a', 'text', 'id', '__proto__', 'constructor', 'chat', 'type']),
          randomValue(depth + 1),
        ]),
      ),
    );
  }
  if (chance(0.03)) kinds.push(() => deep(2000, 'deep'));
  return pick(kinds)();
}

/** Sets, removes or replaces a random field somewhere in an object tree (mutates it). */
export function mangle(o: Record<string, unknown>, times: number): void {
  for (let i = 0; i < times; i++) {
    const path: Record<string, unknown>[] = [o];
    let cur: Record<string, unknown> = o;
    while (chance(0.6)) {
      const keys = Object.keys(cur).filter((k) => typeof cur[k] === 'object' && cur[k] !== null && !Array.isArray(cur[k]));
      if (keys.length === 0) break;
      cur = cur[pick(keys)] as Record<string, unknown>;
      path.push(cur);
    }
    const keys = Object.keys(cur);
    const key =
      keys.length && chance(0.8)
        ? pick(keys)
        : pick([
            'photo',
            'document',
            'caption',
            'entities',
            'reply_to_message',
            'contact',
            'location',
            'poll',
            'sticker',
            'extra',
            'echo',
            'info',
          ]);
    if (chance(0.2)) delete cur[key];
    else cur[key] = randomValue();
  }
}

export function randomBody(valid: () => Record<string, unknown>): Buffer {
  return pick<() => Buffer>([
    // A valid body with fields mangled (the most informative: it passes the outer checks).
    () => {
      const o = valid();
      mangle(o, 1 + int(4));
      return Buffer.from(JSON.stringify(o));
    },
    () => {
      const o = valid();
      mangle(o, 1 + int(4));
      return Buffer.from(JSON.stringify(o));
    },
    () => Buffer.from(JSON.stringify(randomValue())),
    () => Buffer.from(JSON.stringify(valid()).slice(0, int(60))), // truncated
    () => Buffer.from(`${JSON.stringify(valid())}garbage`),
    () => Buffer.from(pick(['', 'null', 'true', '0', '"x"', '[]', '{}', "{'a':1}", '{"a":NaN}', '\ufeff{}', '{"a":1,}', '{"a":1}{"b":2}'])),
    () => Buffer.from(Array.from({ length: int(3000) }, () => int(256))), // binary, invalid UTF-8
    () => Buffer.from(`${'['.repeat(50_000)}${JSON.stringify(valid())}${']'.repeat(50_000)}`), // deep nesting
    () => Buffer.from(JSON.stringify(valid()).replace(/"fuzz"|"http:[^"]*"/, `${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}`)), // a deep field
    () => Buffer.from(`{${'"k":'.repeat(1)}"${'x'.repeat(1024 * 1024 + int(1000))}"}`), // over 1 MiB
    () => Buffer.from(JSON.stringify({ ...valid(), __proto__: { polluted: true }, constructor: { prototype: { polluted: true } } })),
  ])();
}
