/**
 * Runs the real CLI (`src/cli/main.ts` through tsx) as a child process with exactly the given
 * environment (plus PATH/HOME), the way an operator's shell would. It runs in an empty directory
 * unless a test gives its own: the CLI reads ./.env, and a developer's .env must not leak in.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Absolute, so the CLI runs from any directory. */
export const CLI = ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href, join(ROOT, 'src/cli/main.ts')];
/** Where the CLI runs by default: a directory without a .env. */
export const EMPTY_CWD = join(tmpdir(), 'blinger-bridge-cli-cwd');
mkdirSync(EMPTY_CWD, { recursive: true });

export interface SpawnOptions {
  /** The working directory (default EMPTY_CWD). */
  cwd?: string;
}

export function cliEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_NO_WARNINGS: '1',
    // tsx compiles as in the repository, whatever the working directory.
    TSX_TSCONFIG_PATH: join(ROOT, 'tsconfig.json'),
  };
  for (const [k, v] of Object.entries(env)) if (v !== undefined) base[k] = v;
  return base;
}

export function spawnCli(args: string[], env: Record<string, string | undefined>, opts: SpawnOptions = {}): ChildProcess {
  return spawn(process.execPath, [...CLI, ...args], { env: cliEnv(env), cwd: opts.cwd ?? EMPTY_CWD, stdio: ['ignore', 'pipe', 'pipe'] });
}

export function runCli(
  args: string[],
  env: Record<string, string | undefined>,
  timeoutMs = 20_000,
  opts: SpawnOptions = {},
): Promise<CliResult> {
  const child = spawnCli(args, env, opts);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`blinger-bridge ${args.join(' ')} did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    // 'close' comes after the process exited and its output was read to the end.
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.once('error', reject);
  });
}

export interface BridgeChild {
  child: ChildProcess;
  /** Every log line so far, parsed (non-JSON lines are kept as { raw }). */
  lines: Record<string, unknown>[];
  /** Raw stdout + stderr so far. */
  output(): string;
  /** Resolves with the first log line (already seen or future) that matches. */
  waitForLine(match: (l: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `blinger-bridge start …` as a child process; resolves once it logged "blinger-bridge started". */
export async function startBridgeChild(
  args: string[],
  env: Record<string, string | undefined>,
  opts: SpawnOptions = {},
): Promise<BridgeChild> {
  const child = spawnCli(['start', ...args], env, opts);
  const lines: Record<string, unknown>[] = [];
  let raw = '';
  let partial = '';
  const waiters = new Set<() => void>();
  child.stdout!.on('data', (d: Buffer) => {
    raw += d.toString();
    partial += d.toString();
    const parts = partial.split('\n');
    partial = parts.pop()!;
    for (const p of parts.filter(Boolean)) {
      try {
        lines.push(JSON.parse(p) as Record<string, unknown>);
      } catch {
        lines.push({ raw: p });
      }
    }
    for (const w of waiters) w();
  });
  child.stderr!.on('data', (d: Buffer) => (raw += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  const waitForLine = (match: (l: Record<string, unknown>) => boolean, timeoutMs = 15_000) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const check = () => {
        const found = lines.find(match);
        if (!found) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no matching log line within ${timeoutMs} ms; output:\n${raw.slice(-3000)}`));
      }, timeoutMs);
      waiters.add(check);
      void exited.then(() => {
        if (!waiters.has(check)) return;
        waiters.delete(check);
        clearTimeout(timer);
        reject(new Error(`the bridge exited before a matching log line; output:\n${raw.slice(-3000)}`));
      });
      check();
    });
  const bc: BridgeChild = { child, lines, output: () => raw, waitForLine, exited };
  await waitForLine((l) => l.msg === 'blinger-bridge started', 30_000);
  return bc;
}
