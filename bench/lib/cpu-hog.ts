/**
 * `npm run bench -- --cpu-hog`: a process that keeps one core busy for the whole run, to see what
 * the figures (the pacer's above all) become on a machine that is busy with something else.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpuOf, track } from './procs.js';

/**
 * Spins in 100 ms slices and lets the event loop run in between, only so that it notices its stdin
 * closing: when the benchmark dies, even by SIGKILL, the pipe closes and the hog exits with it.
 * The marker comment makes it easy to find: pgrep -f 'bench cpu-hog'.
 */
const HOG = `/* blinger-bridge bench cpu-hog */
process.stdin.on('end', () => process.exit(0)).resume();
const spin = () => { const until = Date.now() + 100; while (Date.now() < until); setImmediate(spin); };
spin();
`;

export interface CpuHog {
  pid: number;
  /** Stops the hog; returns the cores it kept busy on average (CPU time / wall time). */
  stop(): Promise<number>;
}

export function startCpuHog(): CpuHog {
  const startedAt = performance.now();
  // Tracked like every subject: killed on exit, on an error and on SIGINT/SIGTERM (procs.ts).
  const proc = track(spawn(process.execPath, ['-e', HOG], { stdio: ['pipe', 'ignore', 'ignore'] }));
  const pid = proc.pid!;
  return {
    pid,
    async stop() {
      const cores = cpuOf(pid) / (performance.now() - startedAt);
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGKILL');
        await once(proc, 'exit');
      }
      return cores;
    },
  };
}
