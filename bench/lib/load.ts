/**
 * Load generation over keep-alive HTTP to 127.0.0.1: a closed loop with one sequential sender per
 * conversation (a conversation's next message goes only after the previous one was acknowledged,
 * as a messenger delivers one chat's updates), and an open loop at a fixed offered rate.
 */
import http from 'node:http';

export interface Request {
  /** Absolute http://127.0.0.1 URL. */
  url: string;
  body: Buffer;
  headers: Record<string, string>;
}

export interface Answer {
  status: number;
  body: string;
}

export class LoadClient {
  readonly agent: http.Agent;

  constructor(maxSockets = 256) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  }

  post(req: Request, timeoutMs = 30_000): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const r = http.request(
        req.url,
        {
          method: 'POST',
          agent: this.agent,
          headers: { 'content-type': 'application/json', 'content-length': String(req.body.length), ...req.headers },
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      r.on('timeout', () => r.destroy(new Error(`no answer from ${req.url} within ${timeoutMs} ms`)));
      r.on('error', reject);
      r.end(req.body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

export interface ClosedLoopResult {
  /** performance.now() when the first request went out. */
  startedAt: number;
  /** performance.now() when the last acknowledgement came back. */
  ackedAt: number;
  /** Acknowledgement latencies (ms) of the accepted requests. */
  acks: number[];
  /** Answers other than 2xx that were retried (e.g. 503 while Redis restarts). */
  retried: number;
}

export interface ClosedLoopOptions {
  client: LoadClient;
  /** requests[c] = conversation c's messages, in order. */
  requests: Request[][];
  /** Retry an answer with this status after a pause (a messenger redelivers); others fail the run. */
  retryStatuses?: number[];
  retryDelayMs?: number;
  /** Give up after this long (the run must end by itself). */
  deadlineMs?: number;
  /** Called after each acknowledged request with the conversation and index. */
  onAck?(conversation: number, index: number): void;
  /** Accept network errors as retryable too (the receiving process may be restarting). */
  retryNetworkErrors?: boolean;
}

export async function closedLoop(o: ClosedLoopOptions): Promise<ClosedLoopResult> {
  const retry = new Set(o.retryStatuses ?? []);
  const deadline = performance.now() + (o.deadlineMs ?? 600_000);
  const acks: number[] = [];
  let retried = 0;
  const startedAt = performance.now();
  let ackedAt = startedAt;
  await Promise.all(
    o.requests.map(async (list, c) => {
      for (let i = 0; i < list.length; i++) {
        for (;;) {
          if (performance.now() > deadline) throw new Error(`closed loop: deadline passed (conversation ${c}, message ${i})`);
          const t0 = performance.now();
          let status: number;
          let body = '';
          try {
            ({ status, body } = await o.client.post(list[i]!));
          } catch (err) {
            if (!o.retryNetworkErrors) throw err;
            status = 0;
          }
          const t1 = performance.now();
          if (status >= 200 && status < 300) {
            acks.push(t1 - t0);
            ackedAt = Math.max(ackedAt, t1);
            o.onAck?.(c, i);
            break;
          }
          if (!(retry.has(status) || (status === 0 && o.retryNetworkErrors)))
            throw new Error(`closed loop: ${list[i]!.url} answered ${status}: ${body.slice(0, 200)}`);
          retried++;
          await pause(o.retryDelayMs ?? 50);
        }
      }
    }),
  );
  return { startedAt, ackedAt, acks, retried };
}

export interface OpenLoopResult {
  /** performance.now() when each request was due, by its index in `requests`. */
  dueAt: Float64Array;
  /** Acknowledgement latencies (ms), from when each request was due. */
  acks: number[];
  /** The same by index in `requests` (NaN when not acknowledged). */
  ackOf: Float64Array;
  failures: number;
  startedAt: number;
}

/**
 * Offers `requests` at `rate` per second whatever the answers (an open loop), ticking every
 * millisecond. A conversation's next request waits for the previous one's answer (a messenger
 * keeps one chat in order), so latencies are measured from when a request was due, not from when
 * it went out: a slow answer shows in the figures instead of hiding the load it held back.
 */
export async function openLoop(
  client: LoadClient,
  requests: { conversation: number; request: Request }[],
  rate: number,
): Promise<OpenLoopResult> {
  const dueAt = new Float64Array(requests.length);
  const ackOf = new Float64Array(requests.length).fill(Number.NaN);
  const acks: number[] = [];
  let failures = 0;
  const chains = new Map<number, Promise<void>>();
  const startedAt = performance.now();
  let next = 0;
  while (next < requests.length) {
    const due = Math.min(requests.length, Math.floor(((performance.now() - startedAt) * rate) / 1000) + 1);
    while (next < due) {
      const i = next++;
      const { conversation, request } = requests[i]!;
      const t0 = startedAt + (i * 1000) / rate;
      dueAt[i] = t0;
      const send = () =>
        client.post(request).then(
          (a) => {
            if (a.status >= 200 && a.status < 300) {
              ackOf[i] = performance.now() - t0;
              acks.push(ackOf[i]!);
            } else failures++;
          },
          () => {
            failures++;
          },
        );
      chains.set(conversation, (chains.get(conversation) ?? Promise.resolve()).then(send));
    }
    await pause(1);
  }
  await Promise.all(chains.values());
  return { dueAt, acks, ackOf, failures, startedAt };
}

export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
