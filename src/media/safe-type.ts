/**
 * Files that end-users upload are served back from the bridge's own origin (every /media link,
 * the sandbox's agent files), and an agent's browser opens them with the agent's session there
 * (the /admin dashboard's basic auth included). So one rule decides how any such file is served:
 *
 * - Inline only for types a browser shows without running anything: raster images (not SVG,
 *   which is a script-capable XML document), audio, video, and text/plain (as UTF-8, so no
 *   charset guessing). PDF is a download: PDF viewers run the file's own scripts.
 * - Everything else (HTML, XHTML, SVG, XML, JavaScript, unknown) is `application/octet-stream`
 *   with `Content-Disposition: attachment`: the browser saves it, never renders it here.
 * - Every answer carries `X-Content-Type-Options: nosniff` (the declared type is final) and
 *   `Content-Security-Policy: default-src 'none'; sandbox` (were it rendered anyway, it could
 *   load nothing, run nothing, and would have an opaque origin).
 */
import { truncate, wellFormed } from '../text.js';

const INLINE_SAFE = /^(image\/(png|jpeg|gif|webp|avif|bmp)|audio\/[\w.+-]+|video\/[\w.+-]+|text\/plain)$/;

/** Images a browser shows in an <img>: what the web chat sends as `image`, the rest as `file`. */
const IMAGE = /^image\/(png|jpeg|gif|webp|avif|bmp)$/;

/** Headers every answer of a route that serves uploads carries, errors included. */
export const INERT_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'content-security-policy': "default-src 'none'; sandbox",
};

/** The bare, lower-cased media type of a Content-Type header value ('' when absent). */
export function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

/** The Content-Type to serve an uploaded file with. */
export function servableType(mime: string | undefined): string {
  const t = mediaType(mime);
  return INLINE_SAFE.test(t) ? (t === 'text/plain' ? 'text/plain; charset=utf-8' : t) : 'application/octet-stream';
}

export function isInlineImage(mime: string | undefined): boolean {
  return IMAGE.test(mediaType(mime));
}

/** How to serve an uploaded file: its Content-Type and Content-Disposition, by the rule above. */
export function inertMedia(mime: string | undefined, fileName: string | undefined): { contentType: string; disposition: string } {
  const contentType = servableType(mime);
  const kind = contentType === 'application/octet-stream' ? 'attachment' : 'inline';
  return { contentType, disposition: contentDisposition(kind, cleanFileName(fileName)) };
}

/** RFC 5987 attr-char: what may stay unencoded in `filename*=`. */
const ATTR_CHAR = /^[A-Za-z0-9!#$&+.^_`|~-]$/;

/**
 * A Content-Disposition value (RFC 6266): an ASCII `filename=` for old clients and the exact
 * name as UTF-8 in `filename*=` (RFC 5987). A lone surrogate becomes U+FFFD instead of throwing.
 */
export function contentDisposition(kind: 'inline' | 'attachment', fileName: string): string {
  const ascii = fileName.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  let encoded = '';
  for (const byte of Buffer.from(fileName, 'utf8')) {
    const c = String.fromCharCode(byte);
    encoded += byte < 0x80 && ATTR_CHAR.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return `${kind}; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

/**
 * A file name fit for Content-Disposition and for showing: no path, no control characters,
 * well-formed, ≤ 200 UTF-16 code units cut between two characters (never inside an emoji).
 */
export function cleanFileName(name: string | undefined, fallback = 'file'): string {
  const base = (name ?? '')
    .split(/[\\/]/)
    .pop()!
    // eslint-disable-next-line no-control-regex -- control characters are what this removes
    .replace(/[\u0000-\u001f\u007f]/g, '')
    .trim();
  return truncate(wellFormed(base || fallback), 200);
}
