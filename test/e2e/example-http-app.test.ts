/**
 * examples/http-app.ts runs as documented against a real bridge with an HTTP channel: a line typed
 * into it reaches Blinger, and an agent's reply is printed by it after its signature was checked.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { startBlingerDouble, type BlingerDouble } from '../doubles/blinger.js';
import { BLINGER_TOKEN, startChannelBridge, type TestBridge } from '../helpers/bridge.js';
import { freePort } from '../helpers/net.js';

const SECRET = 'whsec_c2VjcmV0LWtleS1vZi10aGUtZXhhbXBsZS1hcHAtMzJi';
const cleanups: Array<() => Promise<unknown> | void> = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Resolves with the first stdout line that matches; the child's output is kept for the error. */
function lineOf(child: ChildProcess, pattern: RegExp, timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => pattern.test(l));
      if (line) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve(line);
      }
    };
    const timer = setTimeout(() => reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms; output: ${out}`)), timeoutMs);
    child.stdout!.on('data', onData);
  });
}

describe('examples/http-app.ts', () => {
  it('sends what is typed to Blinger and prints the agent’s signed reply', async () => {
    const blinger: BlingerDouble = await startBlingerDouble({ token: BLINGER_TOKEN, channelId: 'example-app' });
    cleanups.push(() => blinger.close());
    const appPort = await freePort();
    const tb: TestBridge = await startChannelBridge([
      {
        id: 'example-app',
        blinger: { url: blinger.url, token: BLINGER_TOKEN, timeoutMs: 2000 },
        adapter: { type: 'http', secret: SECRET, deliveryUrl: `http://127.0.0.1:${appPort}/bridge` },
        allowPrivateUrls: false,
      },
    ]);
    cleanups.push(() => tb.stop());
    const child = spawn(process.execPath, ['--import', 'tsx', 'examples/http-app.ts'], {
      env: { ...process.env, BRIDGE_URL: tb.url, CHANNEL_ID: 'example-app', SECRET, PORT: String(appPort), USER_ID: 'reader-1' },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    cleanups.push(() => void child.kill('SIGKILL'));
    await lineOf(child, /http-app listening on/);

    child.stdin!.write('Hello from the example app\n');
    await lineOf(child, /^sent \(msg_/);
    const [received] = await blinger.waitFor(1);
    expect(received).toMatchObject({ client_id: 'reader-1', client_name: 'Demo user', type: 'text', data: 'Hello from the example app' });

    const printed = lineOf(child, /^agent → reader-1:/);
    const res = await blinger.sendReply(tb.url, { client_id: 'reader-1', type: 'text', data: 'Hi, reader!' });
    expect(res.status).toBe(200);
    expect(await printed).toBe('agent → reader-1: Hi, reader!');
  });
});
