/**
 * The queue dashboard at /admin: bull-board over the inbound and outbound lane queues, behind
 * HTTP basic auth (ADMIN_USER / ADMIN_PASSWORD). Not registered at all when those are unset, so
 * /admin is then a plain 404.
 *
 * What it shows are lane jobs: one job per conversation with undelivered messages (its id is
 * "<channel>|<client>"), waiting, active (being delivered) or delayed (waiting out a retry).
 * The messages themselves and the dead letters are in Redis lists; use `blinger-bridge status`
 * and `blinger-bridge dlq` for those.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import fastifyBasicAuth from '@fastify/basic-auth';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';

export const ADMIN_PATH = '/admin';

/** Compares digests so neither the length nor the content leaks through timing. */
function same(a: string, b: string): boolean {
  const h = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(h(a), h(b));
}

export function registerAdmin(app: FastifyInstance, opts: { user: string; password: string; queues: Queue[] }): void {
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

    const serverAdapter = new FastifyAdapter();
    serverAdapter.setBasePath(ADMIN_PATH);
    createBullBoard({
      queues: opts.queues.map((q) => new BullMQAdapter(q, { readOnlyMode: false })),
      serverAdapter,
      options: { uiConfig: { boardTitle: 'blinger-bridge' } },
    });
    await scope.register(serverAdapter.registerPlugin(), { prefix: ADMIN_PATH });
  });
}
