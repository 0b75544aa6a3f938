/**
 * Vitest global setup: every test talks to a real Redis. REDIS_URL wins; else 127.0.0.1:6379 if
 * it answers; else a throwaway redis-server on a free port, stopped after the run.
 */
import type { ChildProcess } from 'node:child_process';
import { freePort, spawnRedis } from '../helpers/net.js';
import { connect } from 'node:net';
import type { TestProject } from 'vitest/node';

function ping(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(500, () => done(false));
    s.on('error', () => done(false));
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

let child: ChildProcess | undefined;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let url = process.env.REDIS_URL;
  if (!url && (await ping(6379))) url = 'redis://127.0.0.1:6379';
  if (!url) {
    const port = await freePort();
    child = await spawnRedis(port);
    url = `redis://127.0.0.1:${port}`;
  }
  project.provide('redisUrl', url);
  return async () => {
    child?.kill('SIGTERM');
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}
