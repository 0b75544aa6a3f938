/**
 * How long HTTP clients may take, and how the server answers those that take too long or send
 * garbage. A request's headers must arrive within `headersMs` and the whole request (body
 * included) within `requestMs`; a connection with no traffic either way for `idleMs` is closed (a
 * reader that stopped reading a /media file, a client that stopped sending); an idle keep-alive
 * connection is closed after `keepAliveMs` (longer than the usual 60 s of load balancers, so they
 * close first). Answers that take long to *send* (a big file to a slow reader) are not cut as long
 * as they move: they stream with backpressure.
 */
import { STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyHttpOptions } from 'fastify';

export interface HttpTimeouts {
  requestMs: number;
  headersMs: number;
  idleMs: number;
  keepAliveMs: number;
}

export const DEFAULT_HTTP_TIMEOUTS: HttpTimeouts = { requestMs: 60_000, headersMs: 15_000, idleMs: 60_000, keepAliveMs: 72_000 };

/** The fastify (and node:http) options that enforce `t`. */
export function timeoutOptions(t: HttpTimeouts): FastifyHttpOptions<Server> {
  const headersMs = Math.min(t.headersMs, t.requestMs);
  return {
    requestTimeout: t.requestMs,
    connectionTimeout: t.idleMs,
    keepAliveTimeout: t.keepAliveMs,
    // Node checks request deadlines every 30 s by default: a slow request could overstay by that much.
    http: { headersTimeout: headersMs, connectionsCheckingInterval: 1000 },
    clientErrorHandler: clientErrorHandler(`headers within ${headersMs / 1000} s, the whole request within ${t.requestMs / 1000} s`),
  };
}

/** Malformed or too slow requests, answered in the server's JSON error shape before the socket closes. */
function clientErrorHandler(deadlines: string) {
  return (err: NodeJS.ErrnoException, socket: Duplex): void => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const [status, error, message] =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'request_timeout', `the request took too long to arrive (${deadlines})`]
        : err.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'headers_too_large', 'the request headers are too large']
          : [400, 'bad_request', 'malformed HTTP request'];
    const body = JSON.stringify({ error, message });
    if (socket.writable) {
      const head = `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}`;
      socket.write(`${head}\r\n\r\n${body}`);
    }
    socket.destroy();
  };
}
