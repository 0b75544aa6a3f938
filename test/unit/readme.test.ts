/**
 * The README as the front door: its contents list and in-page links lead to real headings,
 * PUBLIC_URL is explained before anything uses it, the benchmark details live in bench/README.md,
 * and every variable the configuration reads is in .env.example.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const read = (f: string) => readFileSync(new URL(`../../${f}`, import.meta.url), 'utf8');
const readme = read('README.md');

/** GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens. */
function anchors(markdown: string): Set<string> {
  const prose = markdown.replace(/```[\s\S]*?```/g, '');
  return new Set(
    [...prose.matchAll(/^#{1,6} (.*)$/gm)].map((m) =>
      m[1]!
        .toLowerCase()
        .replace(/[^\w\- ]/g, '')
        .replace(/ /g, '-'),
    ),
  );
}

describe('README.md', () => {
  it('opens with a contents list whose every link, like every other in-page link, leads to a heading', () => {
    const headings = anchors(readme);
    const contents = readme.slice(readme.indexOf('## Contents'), readme.indexOf('## Quick start'));
    const listed = [...contents.matchAll(/\]\(#([^)]+)\)/g)].map((m) => m[1]!);
    // Every section is listed, in order.
    const sections = [...readme.replace(/```[\s\S]*?```/g, '').matchAll(/^## (.*)$/gm)].map((m) => m[1]!.replace(/`/g, ''));
    const listedSections = [...contents.matchAll(/^- \[(.*)\]/gm)].map((m) => m[1]);
    expect(listedSections).toEqual(sections.filter((h) => h !== 'Contents'));
    expect(listed.length).toBeGreaterThan(sections.length);
    for (const m of readme.matchAll(/\]\(#([^)]+)\)/g)) expect(headings, `#${m[1]}`).toContain(m[1]);
    for (const m of read('bench/README.md').matchAll(/\]\(\.\.\/README\.md#([^)]+)\)/g)) expect(headings).toContain(m[1]);
  });

  it('has "Connecting a bot to Blinger" right after the two-command quick start, and defines PUBLIC_URL before any use', () => {
    const order = [...readme.matchAll(/^## (.*)$/gm)].map((m) => m[1]);
    expect(order.slice(order.indexOf('Quick start'), order.indexOf('Quick start') + 2)).toEqual([
      'Quick start',
      'Connecting a bot to Blinger',
    ]);
    const quickStart = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('## Connecting'));
    expect(/```sh\n([\s\S]*?)```/.exec(quickStart)![1]!.trim().split('\n')).toHaveLength(2);
    expect(readme.indexOf('PUBLIC_URL')).toBe(readme.indexOf('**`PUBLIC_URL`** is') + '**`'.length);
    const connecting = readme.slice(readme.indexOf('## Connecting'), readme.indexOf('## Sandbox mode'));
    for (const words of [
      'Add new app',
      'Custom app',
      'Webhook URL',
      'PUBLIC_URL/blinger/<Custom app ID>',
      'https',
      'tunnel',
      'blinger-bridge check',
    ])
      expect(connecting).toContain(words);
  });

  it('keeps a short benchmark table and leaves the method to bench/README.md', () => {
    const bench = readme.slice(readme.indexOf('## Benchmarks'));
    expect(bench).toContain('](bench/README.md)');
    expect(bench).toContain('| | measured | target |');
    expect(bench).not.toContain('What bounds them');
    const details = read('bench/README.md');
    for (const part of ['npm run bench -- --quick', '| scenario | what |', 'What bounds them', 'What the benchmarks changed'])
      expect(details).toContain(part);
  });
});

describe('.env.example', () => {
  it('names every variable the configuration reads', () => {
    const schema = read('src/config/load.ts');
    const variables = [
      ...schema
        .slice(schema.indexOf('const envSchema'), schema.indexOf('});', schema.indexOf('const envSchema')))
        .matchAll(/^ {2}([A-Z_]+):/gm),
    ].map((m) => m[1]!);
    expect(variables).toContain('LOG_FORMAT');
    const example = read('.env.example');
    expect(variables.filter((v) => !new RegExp(`^#?${v}=`, 'm').test(example))).toEqual([]);
  });
});
