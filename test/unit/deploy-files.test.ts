/**
 * Dockerfile and docker-compose.yml, checked without a Docker engine: the compose file is parsed
 * and its services checked against what the bridge needs; the Dockerfile is read stage by stage
 * (multi-stage, non-root, the same install and build commands as CI, everything the build needs
 * copied in) and its HEALTHCHECK command is run for real against an HTTP server; the heap cap the
 * image sets is the one Compose, README and .env.example name.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseDuration } from '../../src/config/duration.js';

const read = (f: string) => readFileSync(new URL(`../../${f}`, import.meta.url), 'utf8');
const run = promisify(execFile);

interface Service {
  image?: string;
  logging?: { driver?: string; options?: Record<string, string> };
  build?: string | { context: string };
  command?: string[] | string;
  environment?: Record<string, string> | string[];
  env_file?: string | string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  deploy?: { replicas?: number };
  stop_grace_period?: string;
  volumes?: string[];
  healthcheck?: { test: string[] };
}

const compose = parse(read('docker-compose.yml')) as { services: Record<string, Service>; volumes?: Record<string, unknown> };

/** Dockerfile instructions (continuation lines joined), grouped by stage. */
function dockerStages(text: string): { from: string; lines: string[] }[] {
  const joined = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages: { from: string; lines: string[] }[] = [];
  for (const line of joined) {
    if (/^FROM\s/i.test(line)) stages.push({ from: line, lines: [] });
    else stages.at(-1)?.lines.push(line);
  }
  return stages;
}

const stages = dockerStages(read('Dockerfile'));
const build = stages[0]!;
const runtime = stages.at(-1)!;
const instr = (stage: { lines: string[] }, name: string) =>
  stage.lines.filter((l) => l.toUpperCase().startsWith(`${name} `)).map((l) => l.slice(name.length + 1).trim());

describe('docker-compose.yml', () => {
  const { redis, ingress, worker } = compose.services;
  const env = (s: Service) =>
    Array.isArray(s.environment) ? Object.fromEntries(s.environment.map((e) => e.split('='))) : (s.environment ?? {});

  it('runs Redis with AOF persistence, a memory cap with noeviction, on a volume, with a health check', () => {
    expect(redis?.image).toMatch(/^redis:7/);
    const cmd = redis!.command as string[];
    expect(cmd[0]).toBe('redis-server');
    const option = (name: string) => (cmd.includes(name) ? cmd[cmd.indexOf(name) + 1] : undefined);
    expect(option('--appendonly')).toBe('yes');
    expect(option('--appendfsync')).toBe('everysec');
    expect(option('--maxmemory-policy')).toBe('noeviction');
    // A cap Redis understands, which the operator can change: ${REDIS_MAXMEMORY:-<default>}.
    const maxmemory = /^\$\{REDIS_MAXMEMORY:-(\d+)(mb|gb)\}$/i.exec(option('--maxmemory') ?? '');
    expect(maxmemory, `--maxmemory ${option('--maxmemory')}`).not.toBeNull();
    expect(Number(maxmemory![1]) * (maxmemory![2]!.toLowerCase() === 'gb' ? 1024 : 1)).toBeGreaterThanOrEqual(64);
    expect(redis!.volumes?.some((v) => v.endsWith(':/data'))).toBe(true);
    expect(Object.keys(compose.volumes ?? {})).toContain(redis!.volumes![0]!.split(':')[0]);
    expect(redis!.healthcheck?.test).toEqual(['CMD', 'redis-cli', 'ping']);
  });

  it('runs the bridge as one ingress (published port) and two workers, built from this Dockerfile, on that Redis', () => {
    expect(ingress?.command).toEqual(['start', '--role', 'ingress']);
    expect(worker?.command).toEqual(['start', '--role', 'worker']);
    expect(ingress!.deploy?.replicas ?? 1).toBe(1);
    expect(worker!.deploy?.replicas).toBe(2);
    // Loopback only by default: a reverse proxy on the host publishes it (the comment says how else).
    expect(ingress!.ports).toEqual(['127.0.0.1:3000:3000']);
    expect(read('docker-compose.yml')).toMatch(/reverse proxy[\s\S]*"3000:3000"/);
    // Replicas must not publish a fixed host port (they would clash).
    expect(worker!.ports).toBeUndefined();
    for (const s of [ingress!, worker!]) {
      expect(s.build === '.' || (typeof s.build === 'object' && s.build.context === '.')).toBe(true);
      expect(env(s).REDIS_URL).toBe('redis://redis:6379');
      expect(s.depends_on?.redis?.condition).toBe('service_healthy');
      expect(s.env_file).toBe('.env');
      // Longer than the 30 s the bridge takes to finish in-flight deliveries after SIGTERM.
      expect(parseDuration(s.stop_grace_period ?? '10s')).toBeGreaterThan(30_000);
    }
    // No other bridge services (e.g. a forgotten "all" role that would double the workers).
    expect(Object.keys(compose.services).sort()).toEqual(['ingress', 'redis', 'worker']);
  });

  it("rotates every container's log (json-file with a size and a count)", () => {
    for (const [name, s] of Object.entries(compose.services)) {
      expect(s.logging?.driver, name).toBe('json-file');
      expect(s.logging?.options?.['max-size'], name).toMatch(/^\d+[kmg]$/);
      expect(Number(s.logging?.options?.['max-file']), name).toBeGreaterThanOrEqual(2);
    }
  });
});

describe('Dockerfile', () => {
  it('is multi-stage and runs as an unprivileged user the compiled CLI, with a HEALTHCHECK on /healthz', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    // Node.js 24 LTS, built and run on the same version.
    expect(build.from).toMatch(/^FROM node:24-\S+ AS build$/i);
    expect(runtime.from).toBe(build.from.replace(/\s+AS build$/i, ''));
    const user = instr(runtime, 'USER');
    expect(user).toHaveLength(1);
    expect(['root', '0', '0:0']).not.toContain(user[0]);
    expect(instr(runtime, 'HEALTHCHECK')[0]).toMatch(/CMD .*\/healthz/);
    expect(instr(runtime, 'ENTRYPOINT')).toEqual(['["node", "bin/blinger-bridge.js"]']);
    expect(instr(runtime, 'CMD')).toEqual(['["start"]']);
    expect(instr(runtime, 'EXPOSE')).toEqual(['3000']);
    // The runtime stage carries the build's output and production dependencies, nothing else.
    const copies = instr(runtime, 'COPY').join('\n');
    for (const p of ['/app/dist', '/app/node_modules', '/app/bin', '/app/package.json'])
      expect(copies).toContain(`--from=build --chown=${user[0]}:${user[0]} ${p}`);
    const pkg = JSON.parse(read('package.json')) as { bin: Record<string, string> };
    expect(pkg.bin['blinger-bridge']).toBe('bin/blinger-bridge.js');
    expect(read('bin/blinger-bridge.js')).toContain('../dist/src/cli/main.js');
  });

  it('installs and builds with the same commands as CI, and copies in everything the build reads', () => {
    const ciInstall = read('.ci/run')
      .split('\n')
      .find((l) => l.startsWith('npm ci'))!;
    const runs = instr(build, 'RUN');
    expect(runs[0]).toBe(ciInstall);
    expect(runs[1]).toMatch(/^npm run build( |$)/);
    // Lock file and manifest before `npm ci`, so the install layer is cached.
    expect(instr(build, 'COPY')[0]).toBe('package.json package-lock.json ./');

    const copied = instr(build, 'COPY').flatMap((c) => c.split(/\s+/).slice(0, -1));
    const isCopied = (path: string) => copied.some((c) => path === c || path.startsWith(`${c.replace(/\/$/, '')}/`));
    const buildTsconfig = JSON.parse(read('tsconfig.build.json')) as { extends?: string; include: string[] };
    const needed = ['tsconfig.build.json', ...buildTsconfig.include];
    if (buildTsconfig.extends) needed.push(buildTsconfig.extends.replace(/^\.\//, ''));
    // Paths named in the build script, and in the script file it runs (e.g. asset folders it copies into dist/).
    const script = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts.build!;
    const scriptFile = /^node (\S+\.js)$/.exec(script)?.[1];
    const text = scriptFile ? `${script}\n${read(scriptFile)}` : script;
    for (const m of text.matchAll(/'([\w.-]+(?:\/[\w.-]+)+)'|(?<=^|\s)([\w.-]+(?:\/[\w.-]+)+)(?=\s|$)/gm)) {
      const path = m[1] ?? m[2]!;
      if (!path.startsWith('dist/') && !path.startsWith('node:')) needed.push(path);
    }
    expect(needed).toEqual(expect.arrayContaining(['scripts/build.js', 'adapters/webchat/assets', 'src/sandbox/assets']));
    expect(needed.filter((p) => !isCopied(p))).toEqual([]);
    for (const p of buildTsconfig.include) expect(existsSync(new URL(`../../${p}`, import.meta.url))).toBe(true);
  });

  it("HEALTHCHECK's command passes on 200 from /healthz on $PORT and fails otherwise", async () => {
    const cmd = instr(runtime, 'HEALTHCHECK')[0]!.replace(/^.*?CMD\s+/, '');
    let status = 200;
    const paths: string[] = [];
    const server = createServer((req, res) => {
      paths.push(req.url ?? '');
      res.writeHead(status).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const check = () =>
      run('sh', ['-c', cmd], { env: { PATH: process.env.PATH, PORT: String(port) }, timeout: 10_000 }).then(
        () => 0,
        (e: { code?: number }) => e.code ?? -1,
      );
    try {
      expect(await check()).toBe(0);
      status = 503;
      expect(await check()).toBe(1);
      expect(paths).toEqual(['/healthz', '/healthz']);
    } finally {
      server.close();
    }
    // Nothing listening: unhealthy, not a hang.
    expect(await check()).toBe(1);
  });
});

describe('heap cap (NODE_OPTIONS)', () => {
  /** The runtime stage's NODE_OPTIONS, from its ENV lines (KEY=value pairs). */
  const imageNodeOptions = instr(runtime, 'ENV')
    .flatMap((e) => e.split(/\s+/))
    .find((kv) => kv.startsWith('NODE_OPTIONS='))
    ?.slice('NODE_OPTIONS='.length);

  it("the image caps V8's old generation; Compose inherits it; README and .env.example name the same for bare metal", () => {
    expect(imageNodeOptions).toMatch(/^--max-old-space-size=\d+$/);
    // Compose's bridge containers set no NODE_OPTIONS of their own: the image's holds.
    for (const name of ['ingress', 'worker']) {
      const environment = compose.services[name]!.environment ?? {};
      const names = Array.isArray(environment) ? environment.map((e) => e.split('=')[0]) : Object.keys(environment);
      expect(names, name).not.toContain('NODE_OPTIONS');
    }
    const deployment = read('README.md').slice(read('README.md').indexOf('## Deployment'), read('README.md').indexOf('## Operations'));
    expect(deployment).toContain(`NODE_OPTIONS=${imageNodeOptions}`);
    expect(read('.env.example')).toContain(`#NODE_OPTIONS=${imageNodeOptions}`);
  });
});

describe('supported Node.js versions', () => {
  const pkg = JSON.parse(read('package.json')) as { engines: { node: string } };
  const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, { engines?: { node?: string }; dev?: boolean }> };

  it('engines names the lines the dependencies need, and CI runs the suite under Node.js 24 as well', () => {
    // 20.19 and 22.12 load ES modules from require() without a flag, which production dependencies
    // (cookie, content-disposition: "node >=22", ESM only) and the test tooling (vite) rely on.
    expect(pkg.engines.node).toBe('^20.19.0 || >=22.12.0');
    expect(lock.packages['node_modules/vite']?.engines?.node).toBe('^20.19.0 || >=22.12.0');
    const ci = read('.ci/run');
    expect(ci).toMatch(/npm install --prefix "\$node24_prefix" .*node@24/);
    expect(ci).toMatch(/"\$node24_bin\/node" node_modules\/vitest\/vitest\.mjs run\n/);
    // The runtime of the image is the one CI proves.
    expect(runtime.from).toMatch(/^FROM node:24-/);
  });
});
