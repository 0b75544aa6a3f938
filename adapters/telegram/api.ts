/**
 * The Bot API client: telegraf's Telegram with a keep-alive agent that matches the API root's
 * protocol (a local Bot API server or a test double may be plain http) and a timeout on every call.
 */
import { Telegram } from 'telegraf';
import { keepAliveAgentFor } from '../../src/toolkit/index.js';

export function createTelegram(token: string, apiRoot: string): Telegram {
  return new Telegram(token, { apiRoot, agent: keepAliveAgentFor(apiRoot, { maxSockets: 64 }) });
}

type Method = Parameters<Telegram['callApi']>[0];

/** callApi with a deadline; telegraf's types name a polyfilled AbortSignal, the global one works. */
export function callWithTimeout<M extends Method>(
  telegram: Telegram,
  method: M,
  payload: Parameters<Telegram['callApi']>[1],
  timeoutMs: number,
  signal?: AbortSignal,
): ReturnType<Telegram['callApi']> {
  const deadline = AbortSignal.timeout(timeoutMs);
  const combined = signal ? AbortSignal.any([signal, deadline]) : deadline;
  return telegram.callApi(method, payload as never, { signal: combined as never }) as ReturnType<Telegram['callApi']>;
}
