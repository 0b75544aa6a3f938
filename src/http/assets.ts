/**
 * Static files of a browser page (HTML template, CSS, JS) kept next to the code in an `assets/` folder,
 * read once and served from memory with an ETag. `npm run build` copies the folders into dist/.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyReply, FastifyRequest } from 'fastify';

export interface Asset {
  body: string;
  type: string;
  etag: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
};

/** Reads `names` from the folder `dir` (a file: URL); fails loudly at start when one is missing. */
export function loadAssets(dir: URL, names: string[]): Map<string, Asset> {
  const out = new Map<string, Asset>();
  for (const name of names) {
    let body: string;
    try {
      body = readFileSync(new URL(name, dir), 'utf8');
    } catch {
      throw new Error(`page asset ${new URL(name, dir).pathname} is missing (run "npm run build", which copies assets into dist/)`);
    }
    const ext = name.slice(name.lastIndexOf('.'));
    out.set(name, {
      body,
      type: TYPES[ext] ?? 'application/octet-stream',
      etag: `"${createHash('sha1').update(body).digest('base64url').slice(0, 16)}"`,
    });
  }
  return out;
}

/** Serves a static asset; short cache with revalidation, so a deploy shows within minutes. */
export function sendAsset(req: FastifyRequest, reply: FastifyReply, asset: Asset): FastifyReply {
  reply.header('etag', asset.etag).header('cache-control', 'public, max-age=300').header('x-content-type-options', 'nosniff');
  if (req.headers['if-none-match'] === asset.etag) return reply.code(304).send();
  return reply.type(asset.type).send(asset.body);
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Fills `{{name}}` placeholders of a template with HTML-escaped values. */
export function render(template: string, values: Record<string, string | number>): string {
  return template.replace(/\{\{(\w+)\}\}/g, (m, k: string) => (k in values ? escapeHtml(String(values[k])) : m));
}
