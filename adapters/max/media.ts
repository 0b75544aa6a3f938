/**
 * What a MAX file becomes in a signed /media link (MediaRef.id), and back. MAX's attachment URLs
 * may expire or change, so the ref names the kind and the URL (and a video's token, which gets a
 * fresh download URL from GET /videos/{token}); the link is signed, so nobody else can make the
 * bridge fetch an arbitrary URL through it.
 */
export type MediaKind = 'image' | 'video' | 'audio' | 'file' | 'sticker';

export interface MaxMediaRef {
  kind: MediaKind;
  url: string;
  /** Video only: the attachment's token. */
  token?: string;
}

const KINDS: readonly MediaKind[] = ['image', 'video', 'audio', 'file', 'sticker'];

/** `<kind>:<url>`, or `video.<token>:<url>` (tokens are [A-Za-z0-9_-], so the first ':' ends them). */
export function encodeMediaRef(ref: MaxMediaRef): string {
  return ref.kind === 'video' && ref.token ? `video.${ref.token}:${ref.url}` : `${ref.kind}:${ref.url}`;
}

export function decodeMediaRef(id: string): MaxMediaRef | undefined {
  const colon = id.indexOf(':');
  if (colon < 0) return undefined;
  const [kind, token] = id.slice(0, colon).split('.', 2) as [string, string | undefined];
  const url = id.slice(colon + 1);
  if (!KINDS.includes(kind as MediaKind) || !/^https?:\/\//i.test(url)) return undefined;
  return token ? { kind: kind as MediaKind, url, token } : { kind: kind as MediaKind, url };
}
