/**
 * The plug-in rule (docs/architecture.md): an adapter is one folder that reaches the core only
 * through the adapter contract (src/adapter.ts) and the toolkit (src/toolkit/index.ts), never
 * through core internals or another adapter; it is one line in the registry, documented beside it.
 */
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { builtInAdapters } from '../../src/adapters.js';

const ROOT = resolve(import.meta.dirname, '../..');
const ADAPTERS = join(ROOT, 'adapters');
const ALLOWED_CORE = new Set(['src/adapter.ts', 'src/toolkit/index.ts']);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'assets' ? [] : sourceFiles(path);
    return /\.ts$/.test(name) ? [path] : [];
  });
}

/** Every module specifier of a file: static imports, re-exports and dynamic import(). */
function specifiers(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]/g)) found.push(m[1]!);
  for (const m of text.matchAll(/(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g)) found.push(m[1]!);
  for (const m of text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) found.push(m[1]!);
  return found;
}

/** What an import of `spec` from `file` reaches outside its own adapter folder, if anything forbidden. */
function forbidden(file: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined; // a package from npm or node: built-in
  const target = relative(ROOT, resolve(dirname(file), spec)).replace(/\.js$/, '.ts');
  const own = relative(ROOT, file).split('/').slice(0, 2).join('/');
  if (target.startsWith(`${own}/`)) return undefined;
  return ALLOWED_CORE.has(target) ? undefined : target;
}

describe('adapters are plug-ins', () => {
  const adapterDirs = readdirSync(ADAPTERS).filter((d) => statSync(join(ADAPTERS, d)).isDirectory());

  it('import only the adapter contract, the toolkit and their own folder', () => {
    const offences = adapterDirs
      .flatMap((d) => sourceFiles(join(ADAPTERS, d)))
      .flatMap((file) =>
        specifiers(readFileSync(file, 'utf8')).flatMap((spec) => {
          const bad = forbidden(file, spec);
          return bad ? [`${relative(ROOT, file)} imports ${bad}`] : [];
        }),
      );
    expect(offences).toEqual([]);
  });

  it('the rule itself catches a core import, another adapter and a dynamic import', () => {
    const file = join(ADAPTERS, 'demo', 'index.ts');
    expect(forbidden(file, '../../src/delivery/lane-queue.js')).toBe('src/delivery/lane-queue.ts');
    expect(forbidden(file, '../telegram/api.js')).toBe('adapters/telegram/api.ts');
    expect(forbidden(file, '../../src/toolkit/index.js')).toBeUndefined();
    expect(forbidden(file, './send.js')).toBeUndefined();
    expect(specifiers("const x = await import('../../src/redact.js');")).toEqual(['../../src/redact.js']);
    expect(specifiers("export { a } from '../../src/bridge.js';\nimport type { B } from './b.js';")).toEqual([
      '../../src/bridge.js',
      './b.js',
    ]);
  });

  it('every adapter folder is in the registry under its folder name, and every registered type has a folder', () => {
    expect(builtInAdapters.map((d) => folderOf(d.type)).sort()).toEqual([...adapterDirs, ...Object.values(SHARED_FOLDERS)].sort());
  });

  it('each adapter has its README beside it, linked from the main README', () => {
    const main = readFileSync(join(ROOT, 'README.md'), 'utf8');
    for (const d of adapterDirs) {
      expect(existsSync(join(ADAPTERS, d, 'README.md')), `adapters/${d}/README.md`).toBe(true);
      expect(main, `README.md links adapters/${d}/README.md`).toContain(`adapters/${d}/README.md`);
    }
  });

  it('each adapter runs the shared conformance suite (test/adapters/<type>.test.ts)', () => {
    for (const def of builtInAdapters) {
      const file = join(ROOT, 'test', 'adapters', `${def.type}.test.ts`);
      expect(existsSync(file), `test/adapters/${def.type}.test.ts`).toBe(true);
      expect(readFileSync(file, 'utf8'), def.type).toMatch(/describeConformance\(/);
    }
  });

  it('each definition has a title, and parsing its settings twice gives the same settings', () => {
    for (const def of builtInAdapters) {
      expect(def.title.length, def.type).toBeGreaterThan(3);
      const sample = SAMPLE_SETTINGS[def.type];
      expect(sample, `a sample of ${def.type} settings in this test`).toBeDefined();
      const once = def.settings.parse(sample);
      expect(def.settings.parse(once), def.type).toEqual(once);
    }
  });
});

/**
 * Types that share another type's folder because they are one messenger API with small
 * differences (Instagram Direct and Messenger: Meta's Messenger Platform). Everything else: folder = type.
 */
const SHARED_FOLDERS: Record<string, string> = { instagram: 'messenger' };
const folderOf = (type: string) => SHARED_FOLDERS[type] ?? type;

/** The smallest valid `adapter` section of each type (a new adapter adds one line). */
const META = { accessToken: 'EAAJBtestToken0123456789abcdef', appSecret: 'app-secret-0123456789', verifyToken: 'verify-me' };
const SAMPLE_SETTINGS: Record<string, Record<string, unknown>> = {
  telegram: { type: 'telegram', token: '123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw' },
  webchat: { type: 'webchat', maxUploadBytes: '2MB' },
  http: { type: 'http', secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', deliveryUrl: 'https://app.example/bridge', timeout: '5s' },
  whatsapp: {
    type: 'whatsapp',
    phoneNumberId: 106540352242922,
    template: 'reopen_chat:de',
    apiRoot: 'https://graph.facebook.com/',
    ...META,
  },
  messenger: { type: 'messenger', pageId: '682498302938465', ...META },
  instagram: { type: 'instagram', pageId: '17841405822304914', ...META },
  vk: { type: 'vk', token: 'vk1.a.sample-community-token-0123456789', groupId: '218000001' },
  max: { type: 'max', token: 'f9LHodD0cOJTestTokenForTheMaxDoubleOnly_aaaa', apiRoot: ' https://platform-api2.max.ru/ ' },
};
