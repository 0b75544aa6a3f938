/**
 * Table-driven normalization fixtures, as data: `test/fixtures/<type>/<case>.json` holds the
 * messenger's payload and the common messages it must become, so a new case is a new file.
 *
 *   {
 *     "title": "photo with caption → image, then the caption as text",
 *     "payload": { …the messenger's update/event, exactly as it sends it… },
 *     "expected": {
 *       "messages": [ { "client_id": "…", "type": "image", "data": "media:<ref id>", … } ],
 *       "event": { "text": "…" },          // optional: what the bot flow is told
 *       "skipped": "why"                    // instead of messages: nothing for an agent
 *     }
 *   }
 *
 * Media links are written `media:<ref id>`: the runner's mediaLink returns that, so fixtures do not
 * depend on a host or a signature. `describeFixtures` runs every file of a folder through the
 * adapter's normalizer and compares.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { InboundEvent, InboundMessage, MediaRef } from '../../src/adapter.js';

export interface Fixture<P = unknown> {
  title: string;
  payload: P;
  expected: {
    messages?: InboundMessage[];
    event?: InboundEvent;
    skipped?: string;
    /** What mediaLink was asked for, in order (optional: checked when given). */
    refs?: MediaRef[];
  };
}

/** What a normalizer returns for one payload (adapters adapt theirs to this shape). */
export interface NormalizedCase {
  messages: InboundMessage[];
  event?: InboundEvent;
  skipped?: string;
}

export const fixtureLink = (ref: MediaRef): string => `media:${ref.id}`;

export function loadFixtures<P>(type: string): Array<[string, Fixture<P>]> {
  const dir = new URL(`../fixtures/${type}/`, import.meta.url);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => [f.replace(/\.json$/, ''), JSON.parse(readFileSync(new URL(f, dir), 'utf8')) as Fixture<P>]);
}

/**
 * One test per fixture file. `normalize` gets the payload and a mediaLink that records the refs it
 * was asked for and answers `media:<id>`.
 */
export function describeFixtures<P>(type: string, normalize: (payload: P, mediaLink: (ref: MediaRef) => string) => NormalizedCase): void {
  describe(`${type} fixtures (test/fixtures/${type}/)`, () => {
    const fixtures = loadFixtures<P>(type);
    it('there are fixtures, each with a title and either messages or a reason to skip', () => {
      expect(fixtures.length).toBeGreaterThan(0);
      for (const [name, f] of fixtures) {
        expect(f.title, name).toBeTruthy();
        expect(Boolean(f.expected.messages?.length) !== Boolean(f.expected.skipped), `${name}: messages xor skipped`).toBe(true);
      }
    });
    for (const [name, f] of fixtures) {
      it(`${name}: ${f.title}`, () => {
        const refs: MediaRef[] = [];
        const got = normalize(f.payload, (ref) => {
          refs.push(ref);
          return fixtureLink(ref);
        });
        if (f.expected.skipped) {
          expect(got.messages).toEqual([]);
          expect(got.skipped).toBe(f.expected.skipped);
          return;
        }
        expect(got.messages).toEqual(f.expected.messages);
        if (f.expected.event) expect(got.event).toEqual(f.expected.event);
        if (f.expected.refs) expect(refs).toEqual(f.expected.refs);
      });
    }
  });
}
