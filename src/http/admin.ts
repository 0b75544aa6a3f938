/**
 * The queue dashboard at /admin: bull-board over the inbound and outbound lane queues, and the
 * dead letters at /admin/dead-letters, behind HTTP basic auth (ADMIN_USER / ADMIN_PASSWORD). Not
 * registered at all when those are unset, so /admin is then a plain 404.
 *
 * What bull-board lists are lane jobs: one job per conversation with undelivered messages (its id
 * is "<channel>|<client>"), waiting, active (being delivered) or delayed (waiting out a retry),
 * each named after the conversation's next message (lane-board.ts). Everything is served by the
 * bridge itself: the page works offline, and a Content-Security-Policy keeps it that way.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import fastifyBasicAuth from '@fastify/basic-auth';
import { createBullBoard } from '@bull-board/api';
import { FastifyAdapter } from '@bull-board/fastify';
import { DeadLetters } from '../delivery/dead-letters.js';
import type { LaneQueue } from '../delivery/lane-queue.js';
import { registerDeadLetterPage } from './dead-letter-page.js';
import { LaneBoardAdapter } from './lane-board.js';

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

/** Compares digests so neither the length nor the content leaks through timing. */
function same(a: string, b: string): boolean {
  const h = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(h(a), h(b));
}

export function registerAdmin(
  app: FastifyInstance,
  opts: { user: string; password: string; lanes: { inbound: LaneQueue<unknown>; outbound: LaneQueue<unknown> } },
): void {
  void app.register(async (scope) => {
    await scope.register(fastifyBasicAuth, {
      authenticate: { realm: 'blinger-bridge' },
      validate: async (user, password) => {
        // Both comparisons always run: which one failed must not show in the timing either.
        const ok = [same(user, opts.user), same(password, opts.password)].every(Boolean);
        if (!ok) return new Error('wrong user or password');
      },
    });
    scope.addHook('onRequest', scope.basicAuth);
    scope.addHook('onSend', async (_req, reply, payload) => {
      reply.header('content-security-policy', CSP);
      const html = typeof payload === 'string' && String(reply.getHeader('content-type')).startsWith('text/html');
      return html ? payload.replace(GOOGLE_FONTS_LINK, '') : payload;
    });
    registerDeadLetterPage(scope, { path: DEAD_LETTERS_PATH, deadLetters: new DeadLetters(opts.lanes) });

    const serverAdapter = new FastifyAdapter();
    serverAdapter.setBasePath(ADMIN_PATH);
    createBullBoard({
      queues: [
        new LaneBoardAdapter(opts.lanes.inbound, 'end-users → Blinger; each job is a conversation, named after its next message'),
        new LaneBoardAdapter(opts.lanes.outbound, 'agents → end-users; each job is a conversation, named after its next message'),
      ],
      serverAdapter,
      options: {
        uiConfig: {
          boardTitle: 'blinger-bridge',
          miscLinks: [{ text: 'Dead letters', url: DEAD_LETTERS_PATH }],
          theme: { light: SYSTEM_FONTS, dark: SYSTEM_FONTS },
        },
      },
    });
    await scope.register(serverAdapter.registerPlugin(), { prefix: ADMIN_PATH });
  });
}
