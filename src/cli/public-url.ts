/**
 * Can Blinger reach this bridge? It posts agents' replies to PUBLIC_URL/blinger/<Custom App ID>
 * from the internet with the app's token in a header, agents' browsers load media links from it
 * inside Blinger's https page, and Telegram calls webhooks over https only. So a configured channel
 * needs PUBLIC_URL to be a public https address: `start` and `check` warn otherwise, and `check`
 * also tries PUBLIC_URL/healthz from here.
 */
import { isIP } from 'node:net';
import { isBlockedAddress } from '../net/safe-download.js';
import { redact } from '../redact.js';

export const PUBLIC_URL_FIX =
  'set PUBLIC_URL to the https address where Blinger reaches this bridge: your reverse proxy with a certificate, or on a laptop a tunnel (see "Connecting a bot to Blinger" in README.md)';

/** What is wrong with PUBLIC_URL for a configured channel ("PUBLIC_URL <problem>"), or undefined. */
export function publicUrlProblem(publicUrl: string, setInEnvironment: boolean): string | undefined {
  if (!setInEnvironment) return `is not set, so it is ${publicUrl}: Blinger cannot send agents' replies there`;
  const url = new URL(publicUrl);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host.endsWith('.localhost') || (isIP(host) !== 0 && isBlockedAddress(host)))
    return `${publicUrl} is an address of this machine or a private network: Blinger, on the internet, cannot reach it`;
  if (url.protocol !== 'https:')
    return `${publicUrl} is plain http: the Custom App token would cross the internet readable, and Telegram webhooks need https`;
  return undefined;
}

/** GET PUBLIC_URL/healthz from this host: does that address lead to a running bridge? */
export async function probeHealthz(publicUrl: string, timeoutMs = 5000): Promise<{ ok: boolean; detail: string }> {
  const url = `${publicUrl}/healthz`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
    const body = (await res.json().catch(() => undefined)) as { status?: unknown } | undefined;
    if (res.status === 200 && body?.status === 'ok') return { ok: true, detail: `${url} answered 200 from this host` };
    return { ok: false, detail: `${url} answered ${res.status}, not as blinger-bridge's /healthz does` };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const why = e.name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000} s` : (e.cause?.code ?? e.cause?.message ?? e.message);
    return { ok: false, detail: redact(`${url} unreachable from this host: ${why}`) };
  }
}
