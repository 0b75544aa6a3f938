/**
 * Keep-alive agents for the HTTP clients that talk to one API host again and again (Blinger, the
 * messengers' REST APIs).
 *
 * axios sets keep-alive on every request's socket with a 60 s probe delay, and Node's agent sets
 * it again with its own `keepAliveMsecs` (1 s by default) each time the socket goes back to the
 * pool. Two different delays mean four `setsockopt` system calls twice per request (~50 µs of a
 * message's ~1 ms on a busy machine); the same delay on both sides makes Node skip them.
 */
import { Agent as HttpAgent, type AgentOptions } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';

/** axios' own value (lib/adapters/http.js: `socket.setKeepAlive(true, 1000 * 60)`). */
const KEEP_ALIVE_PROBE_MS = 60_000;

export interface KeepAliveAgents {
  httpAgent: HttpAgent;
  httpsAgent: HttpsAgent;
}

type Options = Pick<AgentOptions, 'maxSockets'>;
const agentOptions = (options: Options): AgentOptions => ({ ...options, keepAlive: true, keepAliveMsecs: KEEP_ALIVE_PROBE_MS });

export function keepAliveAgents(options: Options = {}): KeepAliveAgents {
  return { httpAgent: new HttpAgent(agentOptions(options)), httpsAgent: new HttpsAgent(agentOptions(options)) };
}

/** One agent for a client that takes a single one (telegraf): by the API root's protocol. */
export function keepAliveAgentFor(apiRoot: string, options: Options = {}): HttpAgent | HttpsAgent {
  return apiRoot.startsWith('https:') ? new HttpsAgent(agentOptions(options)) : new HttpAgent(agentOptions(options));
}
