/**
 * The sandbox's strict reading of what the bridge sends to a Custom App's incoming URL
 * (docs/architecture.md, "The Custom App API"). It never hides a problem: every broken rule is a *violation* (the stand-in
 * answers 4xx, as a strict Blinger would, and the bridge dead-letters the message), every
 * allowed-but-doubtful detail is a *warning* (answered 200, shown in amber).
 */
export const CUSTOM_APP_FIELDS = [
  'token',
  'custom_channel_id',
  'client_id',
  'client_name',
  'client_phone',
  'info',
  'type',
  'data',
  'echo',
  'echo_outgoing',
] as const;
const KNOWN = new Set<string>(CUSTOM_APP_FIELDS);
const TYPES = new Set(['text', 'image', 'file']);

export interface IncomingRequest {
  authorization?: string;
  contentType?: string;
  raw: string;
}

export interface IncomingCheck {
  /** What the stand-in answers: 200, or the status of the first kind of violation. */
  status: number;
  violations: string[];
  warnings: string[];
  /** The body as received, with the token replaced by a marker; the raw text when not JSON. */
  shown: Record<string, unknown> | string;
  /** The conversation, when the body names one. */
  clientId?: string;
  /** The parsed body, when it is a JSON object. */
  body?: Record<string, unknown>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** Local addresses are fine for the sandbox, where an http link is expected. */
function isLocalHost(host: string): boolean {
  return (
    /^(localhost|127\.\d+\.\d+\.\d+|\[::1\]|10\.\d+\.\d+\.\d+|192\.168\.\d+\.\d+|172\.(1[6-9]|2\d|3[01])\.\d+\.\d+)$/i.test(host) ||
    host.endsWith('.local')
  );
}

export function checkIncoming(req: IncomingRequest, expected: { token: string; channelId: string }): IncomingCheck {
  const violations: string[] = [];
  const warnings: string[] = [];
  const statuses: number[] = [];
  const violate = (status: number, text: string) => {
    statuses.push(status);
    violations.push(text);
  };

  const ct = (req.contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (ct !== 'application/json') violate(415, `Content-Type: expected application/json, got ${ct ? `"${ct}"` : 'none'}`);

  const auth = req.authorization;
  if (!auth) violate(401, 'Authorization header: missing (expected "Bearer <app token>")');
  else if (!auth.startsWith('Bearer ')) violate(401, 'Authorization header: expected "Bearer <app token>"');
  else if (!constantTimeEqual(auth.slice(7).trim(), expected.token))
    violate(401, 'Authorization header: the bearer token is not the app token');

  let parsed: unknown;
  try {
    parsed = JSON.parse(req.raw);
  } catch {
    violate(400, 'body: not valid JSON');
    return finish(req.raw.length > 2000 ? `${req.raw.slice(0, 2000)}…` : req.raw);
  }
  if (!isObject(parsed)) {
    violate(400, 'body: expected a JSON object');
    return finish(req.raw.slice(0, 2000));
  }
  const b = parsed;

  for (const k of Object.keys(b)) if (!KNOWN.has(k)) violate(400, `${k}: not a field of the Custom App API`);

  // token: required, in the body too, and the same as the header's.
  if (b.token === undefined) violate(400, 'token: required (the app token, also in the body)');
  else if (typeof b.token !== 'string') violate(400, 'token: expected a string');
  else if (!constantTimeEqual(b.token, expected.token)) violate(401, 'token: not the app token');

  if (b.custom_channel_id === undefined) violate(400, 'custom_channel_id: required (the Custom App ID)');
  else if (typeof b.custom_channel_id !== 'string') violate(400, `custom_channel_id: expected a string, got ${typeof b.custom_channel_id}`);
  else if (b.custom_channel_id !== expected.channelId)
    violate(400, `custom_channel_id: "${b.custom_channel_id}" is not this app's ID ("${expected.channelId}")`);

  let clientId: string | undefined;
  if (b.client_id === undefined) violate(400, 'client_id: required');
  else if (typeof b.client_id !== 'string') violate(400, `client_id: expected a string, got ${typeof b.client_id}`);
  else if (b.client_id.trim() === '') violate(400, 'client_id: must not be empty');
  else if (b.client_id.length > 256) violate(400, 'client_id: longer than 256 characters');
  else clientId = b.client_id;

  for (const k of ['client_name', 'client_phone'] as const) {
    const v = b[k];
    if (v === undefined) continue;
    if (typeof v !== 'string') violate(400, `${k}: expected a string, got ${v === null ? 'null' : typeof v}`);
    else if (v.trim() === '') warnings.push(`${k}: sent empty; leave the field out instead`);
  }
  if (typeof b.client_phone === 'string' && b.client_phone.trim() && !/^\+?[0-9][0-9 ().-]{2,30}$/.test(b.client_phone.trim())) {
    warnings.push(`client_phone: "${b.client_phone}" does not look like a phone number`);
  }

  if (b.info !== undefined) {
    if (!isObject(b.info))
      violate(400, `info: expected a JSON object, got ${Array.isArray(b.info) ? 'an array' : b.info === null ? 'null' : typeof b.info}`);
    else if (Object.keys(b.info).length === 0) warnings.push('info: sent empty; leave the field out instead');
    else if (JSON.stringify(b.info).length > 16_384) warnings.push('info: larger than 16 KiB');
  }

  if (b.type === undefined) violate(400, 'type: required (text, image or file)');
  else if (typeof b.type !== 'string' || !TYPES.has(b.type))
    violate(400, `type: must be text, image or file, got ${JSON.stringify(b.type)}`);

  if (b.data === undefined) violate(400, 'data: required');
  else if (typeof b.data !== 'string') violate(400, `data: expected a string, got ${typeof b.data}`);
  else if (b.data.trim() === '') violate(400, 'data: must not be empty');
  else if (b.type === 'image' || b.type === 'file') {
    let url: URL | undefined;
    try {
      url = new URL(b.data);
    } catch {
      /* below */
    }
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:'))
      violate(400, `data: for type "${b.type}" expected an https URL of the ${b.type}`);
    // An http link to this machine is what the sandbox makes (PUBLIC_URL is localhost): nothing
    // to warn about that the user could avoid here. Anywhere else Blinger needs https.
    else if (url.protocol === 'http:' && !isLocalHost(url.hostname)) violate(400, `data: expected an https URL, got http://${url.host}/…`);
  }

  for (const k of ['echo', 'echo_outgoing'] as const) {
    if (b[k] !== undefined && typeof b[k] !== 'boolean') violate(400, `${k}: expected true or false, got ${JSON.stringify(b[k])}`);
  }
  if (b.echo_outgoing === true && b.echo !== true) violate(400, 'echo_outgoing: true only makes sense together with echo: true');
  if (b.echo === false || b.echo_outgoing === false) warnings.push('echo/echo_outgoing: sent as false; leave them out instead');

  // Secrets belong in the token field only.
  for (const [k, v] of Object.entries(b)) {
    if (k === 'token' || expected.token.length < 6) continue;
    if (JSON.stringify(v ?? null).includes(expected.token)) violate(400, `${k}: contains the app token — a secret leaking to Blinger`);
  }

  const shown: Record<string, unknown> = { ...b };
  if (typeof b.token === 'string') shown.token = constantTimeEqual(b.token, expected.token) ? '[the app token]' : '[a wrong token]';
  return finish(shown, b, clientId);

  function finish(display: Record<string, unknown> | string, body?: Record<string, unknown>, id?: string): IncomingCheck {
    // The order a server would check in: media type, then credentials, then the body.
    const status = [415, 401, 400].find((s) => statuses.includes(s)) ?? 200;
    // The inbox shows the body, never the token (wherever the bridge may have put it).
    const mask = (text: string) => (expected.token.length >= 6 ? text.split(expected.token).join('[the app token]') : text);
    const masked = typeof display === 'string' ? mask(display) : (JSON.parse(mask(JSON.stringify(display))) as Record<string, unknown>);
    const out: IncomingCheck = { status, violations, warnings, shown: masked };
    if (id !== undefined) out.clientId = id;
    if (body) out.body = body;
    return out;
  }
}
