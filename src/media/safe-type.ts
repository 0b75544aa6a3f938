/**
 * Files that end-users upload are served back from the bridge's own origin (the web chat's
 * /media links, the sandbox's agent files). A type a browser would run there — HTML, SVG, XML,
 * JavaScript — would let an upload script the bridge's pages, so only types that are safe to
 * show inline keep their Content-Type; everything else is served as a download.
 */
import { truncate, wellFormed } from '../text.js';

const INLINE_SAFE = /^(image\/(png|jpeg|gif|webp|avif|bmp)|audio\/[\w.+-]+|video\/[\w.+-]+|application\/pdf|text\/plain)$/;

/** Images a browser shows in an <img>: what the web chat sends as `image`, the rest as `file`. */
const IMAGE = /^image\/(png|jpeg|gif|webp|avif|bmp)$/;

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
