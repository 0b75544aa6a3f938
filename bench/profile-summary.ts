/**
 * Summarizes V8 CPU profiles (node --cpu-prof; `npm run bench -- --profile` writes them to
 * bench/results/profiles/, named by scenario): self time by package and by function, heaviest
 * first, as shares of the CPU time the process used (idle left out).
 *
 *   node --import tsx bench/profile-summary.ts <file.cpuprofile>... [--top 30] [--whole] [--messages N]
 *
 * The bench writes <file>.window.json next to a profile: the measured window, its messages and the
 * CPU time the process used in it. Only that window's samples count then (no start-up, no
 * warm-up), and each share comes with µs of CPU per message: the share of that CPU time. (A
 * profile's own times count the time its thread waited for a core too: on a busy machine they are
 * more than the CPU time.) --whole: the whole profile; --messages: the messages it handled, for
 * µs per message of the sampled time.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '30' }, messages: { type: 'string' }, whole: { type: 'boolean', default: false } },
});
const top = Number(values.top);

/** The measured window the bench noted next to a profile (monotonic µs, as the profile's times). */
interface Window {
  fromUs: number;
  toUs: number;
  messages: number;
  /** CPU time (user + system) the process used in the window, from /proc. */
  cpuMs: number;
}

function windowOf(file: string): Window | undefined {
  if (values.whole || !existsSync(`${file}.window.json`)) return undefined;
  return JSON.parse(readFileSync(`${file}.window.json`, 'utf8')) as Window;
}

/** Where a frame's code lives: an npm package, Node.js itself, V8's own work, or the bridge's folder. */
function packageOf(f: ProfileNode['callFrame']): string {
  if (f.url === '') return `(${f.functionName || 'native'})`;
  const pkg = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(f.url)?.[1];
  if (pkg) return pkg;
  if (f.url.startsWith('node:')) return 'node core';
  // The bridge's own code by folder (dist/src/http → bridge src/http), to see which part costs.
  const folder = /\/dist\/((?:src|adapters)\/[^/]+)/.exec(f.url)?.[1];
  return folder ? `bridge ${folder.replace(/\.js$/, '')}` : 'bridge code';
}

function whereOf(f: ProfileNode['callFrame']): string {
  const file = f.url
    .replace(/^file:\/\//, '')
    .replace(/.*\/node_modules\//, 'npm:')
    .replace(/.*\/(src|adapters|dist)\//, '$1/');
  return `${f.functionName || '(anonymous)'}  ${file}:${f.lineNumber + 1}`;
}

function add<K>(map: Map<K, number>, key: K, us: number): void {
  map.set(key, (map.get(key) ?? 0) + us);
}

/** Self time (µs) by node id, of the samples inside the window (all without one). */
function selfTimes(p: Profile, window: Window | undefined): Map<number, number> {
  const selfById = new Map<number, number>();
  let at = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    const delta = p.timeDeltas[i] ?? 0;
    at += delta;
    if (!window || (at >= window.fromUs && at <= window.toUs)) add(selfById, p.samples[i]!, delta);
  }
  return selfById;
}

function summarize(file: string): void {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const window = windowOf(file);
  const messages = values.messages ? Number(values.messages) : window?.messages;
  // µs per message: of the process's CPU time when the bench measured it, else of the sampled time.
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfById = selfTimes(p, window);
  const byFn = new Map<string, number>();
  const byPkg = new Map<string, number>();
  let idle = 0;
  for (const [id, us] of selfById) {
    const f = byId.get(id)!.callFrame;
    if (f.url === '' && f.functionName === '(idle)') {
      idle += us;
      continue;
    }
    add(byFn, whereOf(f), us);
    add(byPkg, packageOf(f), us);
  }
  const sampled = [...byPkg.values()].reduce((a, b) => a + b, 0);
  // The CPU time the shares divide: the process's own (from /proc) when the bench noted it.
  const cpuUs = window?.cpuMs !== undefined ? window.cpuMs * 1000 : sampled;
  const share = (us: number) => {
    const pct = `${((us / sampled) * 100).toFixed(1).padStart(5)} %`;
    return messages ? `${pct}  ${((us / sampled) * (cpuUs / messages)).toFixed(0).padStart(4)} µs/msg` : pct;
  };
  const wall = ((window ? window.toUs - window.fromUs : p.endTime - p.startTime) / 1e6).toFixed(1);
  const cpu = window?.cpuMs !== undefined ? `; ${(cpuUs / 1e6).toFixed(2)} s of CPU (/proc)` : '';
  const perMessage = messages ? `; ${(cpuUs / messages).toFixed(0)} µs of CPU per message over ${messages.toLocaleString('en-US')}` : '';
  console.log(
    `${file}${window ? ' (measured window)' : ''}: ${wall} s, ${(sampled / 1e6).toFixed(2)} s sampled busy (+ ${(idle / 1e6).toFixed(2)} s idle)${cpu}${perMessage}`,
  );
  console.log('\nby package (self time):');
  for (const [k, us] of [...byPkg].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`  ${share(us)}  ${k}`);
  console.log('\nby function (self time):');
  for (const [k, us] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${share(us)}  ${k}`);
  console.log('');
}

for (const file of positionals) summarize(file);
