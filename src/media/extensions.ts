/**
 * File-name extensions of media types. Messengers tell a file's type by its name's extension on
 * upload, and files from messengers often come without a name: both ways need the same table.
 */
const EXTENSIONS: Record<string, string> = {
  'image/jpeg': 'jpg',
  'image/png': 'png',
  'image/gif': 'gif',
  'image/webp': 'webp',
  'image/heic': 'heic',
  'image/bmp': 'bmp',
  'image/svg+xml': 'svg',
  'video/mp4': 'mp4',
  'video/quicktime': 'mov',
  'video/webm': 'webm',
  'video/3gpp': '3gp',
  'audio/mpeg': 'mp3',
  'audio/ogg': 'ogg',
  'audio/mp4': 'm4a',
  'audio/x-m4a': 'm4a',
  'audio/aac': 'aac',
  'audio/amr': 'amr',
  'application/pdf': 'pdf',
  'application/zip': 'zip',
  'application/json': 'json',
  'application/msword': 'doc',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': 'docx',
  'application/vnd.ms-excel': 'xls',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': 'xlsx',
  'application/x-tgsticker': 'tgs',
  'text/plain': 'txt',
  'text/csv': 'csv',
  'text/html': 'html',
};

/**
 * The usual extension of a media type, with its dot ('' when unknown). Parameters are ignored;
 * an unlisted type with a short subtype uses it (audio/flac → .flac).
 */
export function extensionFor(mime: string | undefined): string {
  const type = (mime ?? '').split(';')[0]!.trim().toLowerCase();
  const ext = EXTENSIONS[type] ?? /^[a-z]+\/([a-z0-9]{2,5})$/.exec(type)?.[1];
  return ext ? `.${ext}` : '';
}

/** `name`, with the extension of `mime` added when it has none. */
export function withExtension(name: string, mime: string | undefined): string {
  return /\.[A-Za-z0-9]{1,8}$/.test(name) ? name : name + extensionFor(mime);
}
