import { Agent as HttpAgent, createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import axios from 'axios';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keepAliveAgents } from '../../src/net/keep-alive.js';

let server: Server;
let url: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('{"ok":true}'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** Native keep-alive calls (each is setsockopt system calls) on one pooled socket over `n` more POSTs. */
async function nativeKeepAliveCalls(agent: HttpAgent, n: number): Promise<number> {
  const http = axios.create({ httpAgent: agent });
  await http.post(url, { n: 0 });
  const pooled = Object.values(agent.freeSockets).flat() as Socket[];
  expect(pooled).toHaveLength(1);
  const handle = (pooled[0] as unknown as { _handle: { setKeepAlive(enable: boolean, delay: number): number } })._handle;
  let calls = 0;
  const native = handle.setKeepAlive.bind(handle);
  handle.setKeepAlive = (enable, delay) => {
    calls++;
    return native(enable, delay);
  };
  // One after another, so that each reuses the pooled socket.
  for (let i = 1; i <= n; i++) await http.post(url, { n: i });
  expect(Object.values(agent.freeSockets).flat()).toEqual(pooled);
  agent.destroy();
  return calls;
}

describe('keep-alive agents', () => {
  it('reuse a socket without setting its keep-alive again (axios and the agent agree on the delay)', async () => {
    expect(await nativeKeepAliveCalls(keepAliveAgents().httpAgent, 5)).toBe(0);
  });

  it("a default keep-alive agent would set it twice per request (axios' 60 s, then the agent's 1 s)", async () => {
    expect(await nativeKeepAliveCalls(new HttpAgent({ keepAlive: true }), 5)).toBe(10);
  });
});
