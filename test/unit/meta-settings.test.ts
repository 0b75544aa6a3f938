/** WhatsApp from the environment (one channel), and the three Graph types' settings as BRIDGE_CONFIG writes them. */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { configProblems } from '../helpers/config.js';
import { whatsappSettingsSchema } from '../../adapters/whatsapp/settings.js';
import { instagramSettingsSchema, messengerSettingsSchema } from '../../adapters/messenger/settings.js';

const env = {
  BLINGER_URL: 'https://blinger.example/custom-app/incoming',
  BLINGER_TOKEN: 'blinger-token-1',
  BLINGER_CHANNEL_ID: 'wa',
  MEDIA_SECRET: 'a-long-random-media-secret',
  WHATSAPP_PHONE_NUMBER_ID: '106540352242922',
  WHATSAPP_ACCESS_TOKEN: 'EAAJBsystemUserToken0123456789abcdef',
  WHATSAPP_APP_SECRET: '0123456789abcdef0123456789abcdef',
  WHATSAPP_VERIFY_TOKEN: 'my-verify-token',
};

describe('WhatsApp settings', () => {
  it('one channel from WHATSAPP_* variables, with the documented defaults', () => {
    const c = loadConfig({ ...env, WHATSAPP_TEMPLATE: 'reopen_chat:de' });
    expect(c.channels).toEqual([
      expect.objectContaining({
        id: 'wa',
        adapter: {
          type: 'whatsapp',
          phoneNumberId: '106540352242922',
          accessToken: env.WHATSAPP_ACCESS_TOKEN,
          appSecret: env.WHATSAPP_APP_SECRET,
          verifyToken: 'my-verify-token',
          apiRoot: 'https://graph.facebook.com',
          apiVersion: 'v26.0',
          template: { name: 'reopen_chat', language: 'de' },
          mediaBy: 'upload',
          requestTimeout: 15_000,
        },
      }),
    ]);
  });

  it('names each bad variable, secrets masked', () => {
    const problems = configProblems({
      ...env,
      WHATSAPP_PHONE_NUMBER_ID: '+1 555 0100',
      WHATSAPP_ACCESS_TOKEN: 'short-secret',
      WHATSAPP_TEMPLATE: 'Reopen Chat',
    });
    expect(problems.join('\n')).toMatch(/WHATSAPP_PHONE_NUMBER_ID.*phone number ID/);
    expect(problems.join('\n')).toMatch(/WHATSAPP_ACCESS_TOKEN.*access token/);
    expect(problems.join('\n')).toMatch(/WHATSAPP_TEMPLATE.*template name/);
    expect(problems.join('\n')).not.toContain('short-secret');
  });

  it('takes a YAML number as the id, a template object, and trims apiRoot', () => {
    const s = whatsappSettingsSchema.parse({
      type: 'whatsapp',
      phoneNumberId: 106540352242922,
      accessToken: env.WHATSAPP_ACCESS_TOKEN,
      appSecret: env.WHATSAPP_APP_SECRET,
      verifyToken: 'v',
      apiRoot: 'http://127.0.0.1:9000/',
      template: { name: 'reopen_chat' },
    });
    expect(s).toMatchObject({
      phoneNumberId: '106540352242922',
      apiRoot: 'http://127.0.0.1:9000',
      template: { name: 'reopen_chat', language: 'en_US' },
    });
    expect(whatsappSettingsSchema.safeParse({ ...s, phoneNumberId: 2 ** 60 }).success).toBe(false);
  });
});

describe('Messenger and Instagram settings', () => {
  const common = { accessToken: 'EAAJBpageToken0123456789abcdef', appSecret: 'app-secret-0123', verifyToken: 'v' };
  it('Messenger talks to graph.facebook.com, Instagram to graph.instagram.com; humanAgent is off by default', () => {
    expect(messengerSettingsSchema.parse({ type: 'messenger', pageId: '682498302938465', ...common })).toMatchObject({
      apiRoot: 'https://graph.facebook.com',
      humanAgent: false,
      getStartedPayload: 'GET_STARTED',
    });
    const ig = instagramSettingsSchema.parse({ type: 'instagram', pageId: '17841405822304914', ...common });
    expect(ig).toMatchObject({ apiRoot: 'https://graph.instagram.com', humanAgent: false });
    expect(ig.accountId).toBeUndefined();
  });
});
