/**
 * The HTTP side every test double shares: a real server on 127.0.0.1 at a free port, JSON answers,
 * bounded body reads, and JSON POSTs to the bridge. Each double keeps its own routes and envelopes.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

export type RequestHandler = (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;
export type JsonWriter = (res: http.ServerResponse, status: number, payload: unknown) => void;

/** One HTTP server on 127.0.0.1, on a free port once listen() resolves. */
export class LoopbackServer {
  private readonly server: http.Server;

  /** `crashed` answers a request whose handler threw, in the double's own error envelope. */
  constructor(handle: RequestHandler, crashed: (res: http.ServerResponse, err: unknown) => void) {
    this.server = http.createServer((req, res) => {
      handle(req, res).catch((err: unknown) => {
        // A bug in the double must be visible, not a silent hang.
        if (!res.headersSent) crashed(res, err);
      });
    });
    // Long keep-alive like the real APIs, so clients reusing sockets do not race an idle close.
    this.server.keepAliveTimeout = 60_000;
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
  }

  /** `http://127.0.0.1:<port>` */
  get origin(): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  /** Closes at once, dropping open requests (long polls, hangs) and keep-alive sockets. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }
}

/** A JSON answerer in one double's dialect: the service's content type and JSON encoding. */
export function jsonWriter(contentType: string, encode: (payload: unknown) => string = JSON.stringify): JsonWriter {
  return (res, status, payload) => {
    // A long poll whose client went away, or a reset: nobody is listening any more.
    if (res.writableEnded || res.destroyed) return;
    const body = encode(payload);
    res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
}

/** Reads a body up to `limit` bytes; beyond it, drains the rest so the client can read the answer. */
export function readBody(req: http.IncomingMessage, limit: number): Promise<{ body: Buffer; tooLarge: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('end', () => resolve({ body: size > limit ? Buffer.alloc(0) : Buffer.concat(chunks), tooLarge: size > limit }));
    req.on('error', reject);
  });
}

export interface PostAnswer {
  status: number;
  statusText: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * POSTs `payload` (JSON text) on a fresh connection, so no pooled socket keeps a test's servers
 * open. `headers` go on top of the JSON content type and the length.
 */
export function postJson(
  url: string,
  payload: string,
  headers: Record<string, string>,
  timeoutMs: number,
  timeoutMessage = `timeout after ${timeoutMs} ms`,
): Promise<PostAnswer> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const bytes = Buffer.from(payload);
    const request = (target.protocol === 'https:' ? https : http).request(
      target,
      {
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': bytes.length, ...headers },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            statusText: res.statusMessage ?? '',
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    request.on('timeout', () => request.destroy(new Error(timeoutMessage)));
    request.on('error', reject);
    request.end(bytes);
  });
}
