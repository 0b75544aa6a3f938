import { describe, expect, it } from 'vitest';
import { redact, registerSecret } from '../../src/redact.js';

describe('redact', () => {
  it('removes registered secrets wherever they appear', () => {
    registerSecret('blinger-secret-xyz');
    expect(redact('Authorization: Bearer blinger-secret-xyz failed')).toBe('Authorization: Bearer [REDACTED] failed');
  });

  it('catches unregistered bot tokens, also inside Bot API URLs', () => {
    const token = '987654321:AAFakeTokenFakeTokenFakeTokenFake12';
    expect(redact(`GET https://api.telegram.org/bot${token}/getMe`)).toBe('GET https://api.telegram.org/bot[REDACTED]/getMe');
    expect(redact(`file/bot${token}/photos/a.jpg`)).not.toContain(token.split(':')[1]);
  });

  it('leaves ordinary text alone', () => {
    expect(redact('update 123456 at 12:30 delivered')).toBe('update 123456 at 12:30 delivered');
  });
});
