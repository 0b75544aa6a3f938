/**
 * The queue dashboard at /admin: bull-board over the inbound and outbound lane queues, and the
 * dead letters at /admin/dead-letters, behind HTTP basic auth (ADMIN_USER / ADMIN_PASSWORD, at
 * least 12 characters). Not registered at all when those are unset, so /admin is then a plain 404.
 * ADMIN_READ_ONLY=true shows everything without the buttons that change it (bull-board's
 * read-only mode; no retry or purge of dead letters).
 *
 * Wrong credentials are counted per client address, in this process' memory: after
 * MAX_FAILURES within the window, that address gets 429 until the window ends, right password
 * or not. Several processes count separately; behind a reverse proxy the address is the proxy's.
 *
 * What bull-board lists are lane jobs: one job per conversation with undelivered messages (its id
 * is "<channel>|<client>"), waiting, active (being delivered) or delayed (waiting out a retry),
 * each named after the conversation's next message (lane-board.ts). Everything is served by the
 * bridge itself: the page works offline, and a Content-Security-Policy keeps it that way.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import fastifyBasicAuth from '@fastify/basic-auth';
import { createBullBoard } from '@bull-board/api';
import { FastifyAdapter } from '@bull-board/fastify';
import { DeadLetters } from '../delivery/dead-letters.js';
import type { LaneQueue } from '../delivery/lane-queue.js';
import { registerDeadLetterPage } from './dead-letter-page.js';
import { LaneBoardAdapter } from './lane-board.js';
import { sameSecret } from './same-secret.js';

export const ADMIN_PATH = '/admin';
const DEAD_LETTERS_PATH = `${ADMIN_PATH}/dead-letters`;

/** bull-board's page asks Google for its fonts; the system's fonts do, and nothing leaves the bridge. */
const GOOGLE_FONTS_LINK = /<link[^>]+fonts\.(?:googleapis|gstatic)\.com[^>]*>/g;
const SYSTEM_FONTS = { 'font-sans': 'system-ui, sans-serif', 'font-mono': 'ui-monospace, monospace' };
const CSP = [
  "default-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'self'",
].join('; ');

export interface AdminOptions {
  user: string;
  password: string;
  readOnly?: boolean;
  lanes: { inbound: LaneQueue<unknown>; outbound: LaneQueue<unknown> };
}

/** Failed sign-ins per client address, in a fixed window from the first one. */
export class FailureCounter {
  private readonly entries = new Map<string, { count: number; until: number }>();

  constructor(
    readonly maxFailures = 10,
    readonly windowMs = 15 * 60_000,
    private readonly maxAddresses = 10_000,
    private readonly now = () => Date.now(),
  ) {}

  /** Milliseconds this address must still wait, 0 when it may try. */
  lockedFor(address: string): number {
    const e = this.entries.get(address);
    if (!e) return 0;
    const left = e.until - this.now();
    if (left <= 0) this.entries.delete(address);
    return left > 0 && e.count >= this.maxFailures ? left : 0;
  }

  fail(address: string): void {
    const e = this.entries.get(address);
    if (e && e.until > this.now()) {
      e.count++;
      return;
    }
    // Bounded memory: make room by forgetting the oldest address (Map keeps insertion order).
    if (this.entries.size >= this.maxAddresses) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(address, { count: 1, until: this.now() + this.windowMs });
  }

  succeed(address: string): void {
    this.entries.delete(address);
  }
}

function refuse(reply: FastifyReply, status: 401 | 429, message: string): FastifyReply {
  return reply.code(status).send({ error: status === 401 ? 'unauthorized' : 'too_many_requests', message });
}

export function registerAdmin(app: FastifyInstance, opts: AdminOptions, failures = new FailureCounter()): void {
  void app.register(async (scope) => {
    await scope.register(fastifyBasicAuth, {
      authenticate: { realm: 'blinger-bridge' },
      validate: async (user, password, req) => {
        // Both comparisons always run: which one failed must not show in the timing either.
        const ok = [sameSecret(user, opts.user), sameSecret(password, opts.password)].every(Boolean);
        if (!ok) {
          failures.fail(req.ip);
          return new Error('wrong user or password');
        }
        failures.succeed(req.ip);
        return undefined;
      },
    });
    // Answered here rather than thrown: bull-board's own error handler would turn it into an
    // "internal server error" body.
    scope.addHook('onRequest', (req, reply, next) => {
      const wait = failures.lockedFor(req.ip);
      if (wait > 0) {
        const seconds = Math.ceil(wait / 1000);
        refuse(reply.header('retry-after', String(seconds)), 429, `too many wrong passwords from this address; try again in ${seconds} s`);
        return;
      }
      scope.basicAuth(req, reply, (err?: Error) => {
        if (!err) return next();
        refuse(reply, 401, 'unauthorized: sign in with ADMIN_USER and ADMIN_PASSWORD');
      });
    });
    scope.addHook('onSend', async (_req, reply, payload) => {
      reply.header('content-security-policy', CSP);
      const html = typeof payload === 'string' && String(reply.getHeader('content-type')).startsWith('text/html');
      return html ? payload.replace(GOOGLE_FONTS_LINK, '') : payload;
    });
    registerDeadLetterPage(scope, { path: DEAD_LETTERS_PATH, deadLetters: new DeadLetters(opts.lanes), readOnly: opts.readOnly === true });

    const readOnly = opts.readOnly === true;
    const serverAdapter = new FastifyAdapter();
    serverAdapter.setBasePath(ADMIN_PATH);
    createBullBoard({
      queues: [
        new LaneBoardAdapter(opts.lanes.inbound, 'end-users → Blinger; each job is a conversation, named after its next message', readOnly),
        new LaneBoardAdapter(opts.lanes.outbound, 'agents → end-users; each job is a conversation, named after its next message', readOnly),
      ],
      serverAdapter,
      options: {
        uiConfig: {
          boardTitle: readOnly ? 'blinger-bridge (read-only)' : 'blinger-bridge',
          miscLinks: [{ text: 'Dead letters', url: DEAD_LETTERS_PATH }],
          theme: { light: SYSTEM_FONTS, dark: SYSTEM_FONTS },
        },
      },
    });
    await scope.register(serverAdapter.registerPlugin(), { prefix: ADMIN_PATH });
  });
}
