/**
 * Redis' MONITOR on a raw socket: every command Redis runs, as it runs them, in order. (ioredis'
 * monitor() can take the first monitor lines for command replies on a busy server and throw.)
 */
import net from 'node:net';
import { testRedisUrl } from './redis.js';

export interface RedisMonitor {
  /** Resolves once Redis ran a command naming `key` (so every command before it was reported). */
  seen(key: string): Promise<void>;
  close(): void;
}

/** Calls `onCommand` with each command's lower-cased name and its arguments. */
export async function monitorRedis(onCommand: (command: string, args: string[]) => void): Promise<RedisMonitor> {
  const url = new URL(testRedisUrl());
  const socket = net.connect(Number(url.port || 6379), url.hostname);
  const waiters: Array<{ key: string; resolve: () => void }> = [];
  let pending = '';
  let ready: () => void;
  const started = new Promise<void>((resolve) => (ready = resolve));
  socket.setEncoding('latin1');
  socket.on('data', (text: string) => {
    const lines = (pending + text).split('\r\n');
    pending = lines.pop()!;
    for (const line of lines) {
      if (line === '+OK') ready();
      if (!line.startsWith('+') || line === '+OK') continue;
      const words = [...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!.replace(/\\(["\\])/g, '$1'));
      if (words.length === 0) continue;
      const [command, ...args] = words;
      onCommand(command!.toLowerCase(), args);
      for (const w of waiters.filter((x) => args.includes(x.key))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  });
  if (url.password) socket.write(`AUTH ${decodeURIComponent(url.password)}\r\n`);
  socket.write('MONITOR\r\n');
  await started;
  return {
    seen: (key) => new Promise((resolve) => waiters.push({ key, resolve })),
    close: () => socket.destroy(),
  };
}
