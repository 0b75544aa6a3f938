/** Which PUBLIC_URLs Blinger cannot reach: unset, this machine, private networks, plain http. */
import { describe, expect, it } from 'vitest';
import { publicUrlProblem } from '../../src/cli/public-url.js';

describe('publicUrlProblem', () => {
  it('accepts a public https address', () => {
    for (const url of [
      'https://bridge.example.com',
      'https://bridge.example.com:8443/base',
      'https://203.0.113.10',
      'https://[2001:db8::1]',
    ])
      expect(publicUrlProblem(url, true), url).toBeUndefined();
  });

  it('names an unset PUBLIC_URL by its default', () => {
    expect(publicUrlProblem('http://localhost:3000', false)).toBe(
      "is not set, so it is http://localhost:3000: Blinger cannot send agents' replies there",
    );
  });

  it('refuses this machine and private networks, over https too', () => {
    for (const url of [
      'https://localhost',
      'https://app.localhost',
      'https://127.0.0.1:3000',
      'https://[::1]:3000',
      'https://10.1.2.3',
      'https://192.168.1.20',
      'https://172.20.0.5',
      'https://0.0.0.0',
    ])
      expect(publicUrlProblem(url, true), url).toMatch(/is an address of this machine or a private network/);
  });

  it('refuses plain http on a public address', () => {
    expect(publicUrlProblem('http://bridge.example.com', true)).toMatch(/^http:\/\/bridge\.example\.com is plain http: /);
  });
});
