/**
 * /admin/dead-letters: the dead-letter lists (newest first, per direction) with retry — one, or all
 * of a direction — and purge by age, what `blinger-bridge dlq` does, for the operator in a browser.
 * Registered inside the dashboard's scope, so behind the same basic auth. One server-rendered page,
 * no script; every action is a form POST answered with a redirect back to the page (303), so a
 * reload never repeats it. Browsers send the basic-auth credentials to any page that posts here,
 * so a change requested from another origin is refused, here and in bull-board's API.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { parseDuration } from '../config/duration.js';
import { DIRECTIONS, type DeadLetters } from '../delivery/dead-letters.js';
import type { DeadLetter, Direction } from '../delivery/lane-store.js';
import { describeMessage } from './lane-board.js';

const SHOWN_PER_DIRECTION = 100;

const DIRECTION_TITLES: Record<Direction, string> = {
  inbound: 'Inbound: end-users → Blinger',
  outbound: 'Outbound: agents → end-users',
};

/** What a redirect after an action says, by code: no free text comes back through the URL. */
const NOTICES: Record<string, (n: number) => string> = {
  retried: (n) => `${n} message${n === 1 ? '' : 's'} put back at the end of ${n === 1 ? 'its conversation' : 'their conversations'}.`,
  gone: () => 'That dead letter is gone (already retried or purged).',
  purged: (n) => `${n} dead letter${n === 1 ? '' : 's'} deleted.`,
  'bad-age': () => 'Purge needs an age such as 12h, 7d or 30d.',
};

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const STYLE = `
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1f2937;background:#f8fafc}
header{display:flex;gap:1rem;align-items:baseline;padding:.8rem 1.5rem;background:#1e293b;color:#fff}
header a{color:#cbd5e1}h1{font-size:1.1rem;margin:0}main{padding:1rem 1.5rem;max-width:1200px}
h2{font-size:1rem;margin:1.5rem 0 .5rem}table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;vertical-align:top;padding:.4rem .6rem;border-bottom:1px solid #e5e7eb}
th{font-weight:600;color:#475569}td.msg{max-width:28rem;overflow-wrap:anywhere}td.reason{max-width:24rem;overflow-wrap:anywhere}
.type{display:inline-block;font-size:.75rem;padding:0 .35rem;border-radius:4px;background:#e2e8f0;margin-right:.3rem}
.notice{padding:.6rem .8rem;background:#ecfdf5;border:1px solid #a7f3d0;border-radius:6px}
.empty{color:#64748b}form.inline{display:inline}button{cursor:pointer}
@media (prefers-color-scheme:dark){body{background:#0f172a;color:#e2e8f0}table{background:#111827}th{color:#94a3b8}
th,td{border-color:#1f2937}.type{background:#334155}.notice{background:#064e3b;border-color:#065f46}}`;

function letterRow(l: DeadLetter<unknown>): string {
  const { type, preview } = describeMessage(l.item.payload);
  const failed = new Date(l.failedAt).toISOString().replace('T', ' ').slice(0, 19);
  return `<tr>
<td><time datetime="${new Date(l.failedAt).toISOString()}">${failed} UTC</time></td>
<td>${esc(`${l.lane.channelId}|${l.lane.clientId}`)}</td>
<td class="msg"><span class="type">${esc(type)}</span>${esc(preview)}</td>
<td>${l.attempts}</td>
<td class="reason">${esc(l.reason)}</td>
<td><form class="inline" method="post" action="dead-letters/retry"><input type="hidden" name="id" value="${esc(l.id)}"><button>Retry</button></form></td>
</tr>`;
}

async function directionSection(dl: DeadLetters, direction: Direction): Promise<string> {
  const [total, letters] = await Promise.all([dl.count(direction), dl.list({ direction, limit: SHOWN_PER_DIRECTION })]);
  const head = `<h2>${DIRECTION_TITLES[direction]}: ${total}</h2>`;
  if (total === 0) return `<section data-direction="${direction}">${head}<p class="empty">No dead letters.</p></section>`;
  const more = total > letters.length ? `<p class="empty">The newest ${letters.length} are shown.</p>` : '';
  return `<section data-direction="${direction}">${head}
<form method="post" action="dead-letters/retry-all"><input type="hidden" name="direction" value="${direction}"><button>Retry all ${total}</button></form>
<table><thead><tr><th>Failed</th><th>Conversation</th><th>Message</th><th>Attempts</th><th>Reason</th><th></th></tr></thead>
<tbody>${letters.map(letterRow).join('')}</tbody></table>${more}</section>`;
}

async function page(dl: DeadLetters, notice: string | undefined): Promise<string> {
  const sections = await Promise.all(DIRECTIONS.map((d) => directionSection(dl, d)));
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>Dead letters · blinger-bridge</title><style>${STYLE}</style></head>
<body><header><h1>Dead letters</h1><a href="../admin">Queues</a></header><main>
${notice ? `<p class="notice" role="status">${esc(notice)}</p>` : ''}
<p>Messages the bridge gave up on, with the reason. Retry puts one back at the end of its conversation, with a fresh retry window.</p>
${sections.join('\n')}
<h2>Purge</h2>
<form method="post" action="dead-letters/purge"><label>Delete the dead letters that failed more than
<input name="olderThan" value="30d" size="6" aria-label="age"> ago</label> <button>Purge</button></form>
</main></body></html>`;
}

/** A form POST from another site carries the operator's credentials too: only same-origin ones count. */
function crossOrigin(req: FastifyRequest): boolean {
  const origin = req.headers.origin;
  if (req.headers['sec-fetch-site'] === 'cross-site') return true;
  if (!origin) return false;
  try {
    return new URL(origin).host !== req.headers.host;
  } catch {
    return true;
  }
}

const back = (reply: FastifyReply, notice: string, n = 0) =>
  reply.code(303).header('location', `../dead-letters?notice=${notice}&n=${n}`).send();

export function registerDeadLetterPage(scope: FastifyInstance, opts: { path: string; deadLetters: DeadLetters }): void {
  const dl = opts.deadLetters;
  scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_req, body, done) =>
    done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );
  scope.get(opts.path, async (req, reply) => {
    const q = req.query as { notice?: string; n?: string };
    const notice = q.notice && Object.hasOwn(NOTICES, q.notice) ? NOTICES[q.notice]!(Number(q.n) || 0) : undefined;
    return reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(await page(dl, notice));
  });
  // Every change the dashboard makes (these forms, bull-board's own API) comes from its own pages.
  scope.addHook('preHandler', async (req, reply) => {
    if (req.method !== 'GET' && req.method !== 'HEAD' && crossOrigin(req))
      return reply.code(403).send({ error: 'forbidden', message: 'changes from another site are refused' });
  });
  const form = (req: FastifyRequest) => (req.body ?? {}) as Record<string, string | undefined>;
  scope.post(`${opts.path}/retry`, async (req, reply) => {
    const id = form(req).id ?? '';
    return (await dl.retry(id)) ? back(reply, 'retried', 1) : back(reply, 'gone');
  });
  scope.post(`${opts.path}/retry-all`, async (req, reply) => {
    const d = form(req).direction;
    const direction = d === 'inbound' || d === 'outbound' ? d : undefined;
    return back(reply, 'retried', (await dl.retryAll({ direction })).retried);
  });
  scope.post(`${opts.path}/purge`, async (req, reply) => {
    const age = parseDuration(form(req).olderThan ?? '');
    if (age === undefined) return back(reply, 'bad-age');
    return back(reply, 'purged', await dl.purge(Date.now() - age));
  });
}
