/** How VK's refusals are classified for the queue (DESIGN.md §4), and what the agent is told. */
import { describe, expect, it } from 'vitest';
import { DeliveryError, DownloadFailed, DownloadRefused } from '../../src/toolkit/index.js';
import { VkApiError, VkTransportError } from '../../adapters/vk/api.js';
import { classifyVkError, describeForAgent, downloadError, FLOOD_CONTROL_WAIT_MS } from '../../adapters/vk/errors.js';

const api = (code: number, msg = 'text') => classifyVkError(new VkApiError('messages.send', code, msg));

describe('VK error classification', () => {
  it('901 and friends: permanent, and the agent is told why', () => {
    for (const [code, kind, said] of [
      [901, 'no_permission', 'has not allowed messages'],
      [902, 'privacy', 'privacy settings'],
      [900, 'blacklisted', 'blacklist'],
      [18, 'user_deleted', 'deleted or banned'],
      [917, 'chat_access', 'no longer has access'],
      [945, 'chat_disabled', 'disabled'],
    ] as const) {
      const e = api(code);
      expect(e.kind, String(code)).toBe('permanent');
      expect(e.code).toBe(kind);
      expect(describeForAgent(e)).toContain(said);
    }
  });

  it('6: the whole community waits a second without spending an attempt; 9 waits longer for this conversation; 29 waits long', () => {
    const six = api(6, 'Too many requests per second');
    expect(six).toMatchObject({ kind: 'rate_limited', retryAfterMs: 1000, scope: 'account' });
    expect(api(9, 'Flood control')).toMatchObject({ kind: 'rate_limited', retryAfterMs: FLOOD_CONTROL_WAIT_MS, scope: 'conversation' });
    expect(api(29).kind).toBe('rate_limited');
    expect(describeForAgent(six)).toBeUndefined();
  });

  it('10, 1, HTTP 5xx, timeouts, network errors and answers that are not VK’s: transient', () => {
    for (const e of [
      api(10, 'Internal server error'),
      api(1),
      classifyVkError(new VkTransportError('VK messages.send: HTTP 502', 'http', 502)),
      classifyVkError(new VkTransportError('VK messages.send: no answer in time', 'timeout')),
      classifyVkError(new VkTransportError('VK messages.send: ECONNRESET', 'network')),
      classifyVkError(new VkTransportError('VK messages.send: the answer is not JSON', 'bad_response')),
      classifyVkError(new Error('something odd')),
    ])
      expect(e.kind, e.message).toBe('transient');
  });

  it('a bad token or missing rights (5, 7, 15, 27, 28) and a wrong API root (HTTP 404) are the operator’s: transient, agent not told', () => {
    for (const code of [5, 7, 15, 27, 28]) {
      const e = api(code, 'User authorization failed: invalid access_token (4).');
      expect(e.kind, String(code)).toBe('transient');
      expect(e.code).toBe('token');
      expect(e.message).toContain('VK_TOKEN');
      expect(describeForAgent(e)).toBeUndefined();
    }
    expect(classifyVkError(new VkTransportError('VK messages.send: HTTP 404', 'http', 404)).kind).toBe('transient');
  });

  it('other refusals of the request itself (100, 911, 914): permanent with VK’s words, agent not told', () => {
    const e = api(911, 'Keyboard format is invalid: buttons is required');
    expect(e).toMatchObject({ kind: 'permanent', code: 'vk_911' });
    expect(e.message).toContain('Keyboard format is invalid');
    expect(describeForAgent(e)).toBeUndefined();
    expect(api(100).kind).toBe('permanent');
    expect(classifyVkError(new VkTransportError('VK upload: HTTP 413', 'http', 413)).kind).toBe('permanent');
  });

  it('a DeliveryError passes through; download refusals are permanent, failed downloads transient unless the server said 4xx', () => {
    const d = DeliveryError.rateLimited('paced', 500);
    expect(classifyVkError(d)).toBe(d);
    expect(downloadError(new DownloadRefused('private address', 'private_address')).kind).toBe('permanent');
    expect(downloadError(new DownloadFailed('HTTP 404', 'http', 404)).kind).toBe('permanent');
    expect(downloadError(new DownloadFailed('HTTP 503', 'http', 503)).kind).toBe('transient');
    expect(downloadError(new DownloadFailed('reset', 'network')).kind).toBe('transient');
  });
});
