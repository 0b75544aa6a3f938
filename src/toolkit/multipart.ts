/**
 * A multipart/form-data body with one file part, streamed: the file goes from its source (a
 * download) to the upload without ever being held in memory whole. For messengers whose upload
 * servers take a plain form post (VK's photo and document uploads).
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';

export interface MultipartFile {
  /** The form field's name, e.g. `photo` or `file`. */
  field: string;
  fileName: string;
  contentType?: string;
  stream: Readable;
  /** The file's size in bytes, when known: the body then has a Content-Length. */
  size?: number;
}

export interface MultipartBody {
  body: Readable;
  /** The Content-Type header, boundary included. */
  contentType: string;
  /** The body's length in bytes, when the file's size is known. */
  length?: number;
}

/** A header value in quotes: quotes and line breaks escaped as browsers do (RFC 7578 §4.2). */
function quoted(value: string): string {
  return `"${value.replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A')}"`;
}

export function multipartBody(file: MultipartFile): MultipartBody {
  const boundary = `----blinger-bridge-${randomBytes(12).toString('hex')}`;
  const type = file.contentType && /^[\w.+-]+\/[\w.+-]+$/.test(file.contentType) ? file.contentType : 'application/octet-stream';
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name=${quoted(file.field)}; filename=${quoted(file.fileName)}\r\n` +
      `Content-Type: ${type}\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  async function* parts(): AsyncGenerator<Buffer> {
    yield head;
    // An error of the source ends the body with that error, so the upload fails instead of hanging.
    for await (const chunk of file.stream) yield Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    yield tail;
  }
  return {
    body: Readable.from(parts(), { objectMode: false }),
    contentType: `multipart/form-data; boundary=${boundary}`,
    ...(file.size !== undefined ? { length: head.length + file.size + tail.length } : {}),
  };
}
