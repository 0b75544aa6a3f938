/**
 * A small multipart/form-data parser for the test doubles.
 *
 * No well-kept parser (busboy, formidable, @fastify/multipart) is installed, and package.json is
 * off limits, so this parses a fully buffered body. It follows RFC 7578 closely enough for what
 * real clients send: telegraf's MultipartStream (headers written as `name:value` without a space,
 * no Content-Type on file parts, no CRLF after the closing delimiter), undici's FormData and
 * curl. It is strict about structure so a malformed request fails loudly instead of being
 * silently misread.
 */

export interface MultipartPart {
  /** The form field name (`name=` in Content-Disposition). */
  name: string;
  /** Present when the part is a file upload (`filename=` / `filename*=`). */
  filename?: string;
  /** The part's own Content-Type header, if it sent one (lower-cased, parameters removed). */
  contentType?: string;
  /** All part headers, names lower-cased. */
  headers: Record<string, string>;
  data: Buffer;
}

export class MultipartError extends Error {
  override name = 'MultipartError';
}

/** The boundary of a `multipart/form-data; boundary=...` content type, or undefined. */
export function parseBoundary(contentType: string | undefined): string | undefined {
  if (!contentType) return undefined;
  const [type, ...params] = splitHeaderParams(contentType);
  if (type?.toLowerCase() !== 'multipart/form-data') return undefined;
  for (const [key, value] of params) {
    // RFC 2046: 1..70 characters.
    if (key === 'boundary' && value.length > 0 && value.length <= 70) return value;
  }
  return undefined;
}

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');

/** Parses a whole multipart/form-data body. Throws MultipartError when it is malformed. */
export function parseMultipart(body: Buffer, boundary: string): MultipartPart[] {
  const delimiter = Buffer.from(`--${boundary}`);
  // Every delimiter after the first is preceded by CRLF (that CRLF belongs to the delimiter).
  const innerDelimiter = Buffer.concat([CRLF, delimiter]);

  // The preamble (usually empty) is ignored; the first delimiter starts the body or a line.
  let pos = body.indexOf(delimiter);
  if (pos < 0 || (pos > 0 && body.indexOf(innerDelimiter) !== pos - 2)) {
    throw new MultipartError('multipart body has no opening boundary');
  }
  pos += delimiter.length;

  const parts: MultipartPart[] = [];
  for (;;) {
    // After a delimiter: `--` closes the body, otherwise (optional whitespace and) CRLF.
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) return parts;
    while (body[pos] === 0x20 || body[pos] === 0x09) pos++;
    if (body[pos] !== 0x0d || body[pos + 1] !== 0x0a) {
      throw new MultipartError('multipart boundary is not followed by CRLF');
    }
    pos += 2;

    const next = body.indexOf(innerDelimiter, pos);
    if (next < 0) throw new MultipartError('multipart body is truncated (no closing boundary)');
    parts.push(parsePart(body.subarray(pos, next)));
    pos = next + innerDelimiter.length;
  }
}

function parsePart(raw: Buffer): MultipartPart {
  // A part with no headers starts directly with the blank line.
  let headerBlock: string;
  let data: Buffer;
  if (raw[0] === 0x0d && raw[1] === 0x0a) {
    headerBlock = '';
    data = raw.subarray(2);
  } else {
    const end = raw.indexOf(HEADER_END);
    if (end < 0) throw new MultipartError('multipart part has no end of headers');
    headerBlock = raw.subarray(0, end).toString('utf8');
    data = raw.subarray(end + HEADER_END.length);
  }

  const headers: Record<string, string> = {};
  for (const line of headerBlock.split('\r\n')) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new MultipartError(`malformed multipart header line: ${line}`);
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }

  const disposition = headers['content-disposition'];
  if (!disposition) throw new MultipartError('multipart part has no Content-Disposition');
  const [kind, ...params] = splitHeaderParams(disposition);
  if (kind?.toLowerCase() !== 'form-data') {
    throw new MultipartError(`multipart part disposition is ${kind ?? ''}, not form-data`);
  }
  const paramMap = new Map(params);
  const name = paramMap.get('name');
  if (name === undefined) throw new MultipartError('multipart part has no name');

  const part: MultipartPart = { name, headers, data };
  const extended = paramMap.get('filename*');
  const filename = extended !== undefined ? decodeExtValue(extended) : paramMap.get('filename');
  if (filename !== undefined) part.filename = filename;
  const contentType = headers['content-type'];
  if (contentType) part.contentType = contentType.split(';')[0]!.trim().toLowerCase();
  return part;
}

/**
 * Splits `value; key=token; key="quoted \"string\""` into the leading value and [key, value]
 * pairs (keys lower-cased). Semicolons inside quotes do not split.
 */
function splitHeaderParams(header: string): [string | undefined, ...Array<[string, string]>] {
  const segments: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < header.length; i++) {
    const ch = header[i]!;
    if (quoted && ch === '\\' && i + 1 < header.length) {
      current += ch + header[++i];
    } else if (ch === '"') {
      quoted = !quoted;
      current += ch;
    } else if (ch === ';' && !quoted) {
      segments.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  segments.push(current);

  const [first, ...rest] = segments;
  const params: Array<[string, string]> = [];
  for (const segment of rest) {
    const eq = segment.indexOf('=');
    if (eq <= 0) continue;
    const key = segment.slice(0, eq).trim().toLowerCase();
    let value = segment.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) {
      value = value.slice(1, -1).replace(/\\(.)/g, '$1');
    }
    params.push([key, value]);
  }
  return [first?.trim(), ...params];
}

/** RFC 5987 `charset'lang'percent-encoded` (clients use it for non-ASCII file names). */
function decodeExtValue(value: string): string {
  const match = /^([^']*)'[^']*'(.*)$/.exec(value);
  if (!match) return value;
  try {
    return decodeURIComponent(match[2]!);
  } catch {
    return match[2]!;
  }
}
