/**
 * Your own chat-bot in the middle: the bridge with a middleware that answers some messages
 * itself and passes the rest on (to the channel's built-in bot flow, if configured, then to the
 * agents in Blinger). Everything the bot says reaches Blinger as an echo, so agents see it all.
 *
 *   node --import tsx examples/echo-bot.ts
 *
 * Configuration comes from the environment exactly as for `npm start` (README "Configuration",
 * .env.example, or BRIDGE_CONFIG). With nothing configured it runs in sandbox mode: open the
 * visitor's chat it prints and write "/echo hello", "/order 42" or anything else.
 *
 * In your own project: `import { createBridge, loadConfig, type Middleware } from 'blinger-bridge'`.
 */
import { ConfigError, createBridge, loadConfig, type Middleware } from '../src/index.js';

const echoBot: Middleware = async (ctx, next) => {
  const text = ctx.text?.trim() ?? '';

  // Answer: the user gets the reply; Blinger gets the user's message (echo) and the reply (echo, outgoing).
  if (text.startsWith('/echo ')) return ctx.reply(text.slice('/echo '.length));

  // Answer with buttons; a press comes back with the button's data (and reaches Blinger as "[button] <label>").
  const order = /^\/order\s+(\d{1,10})$/.exec(text);
  if (order) {
    return ctx.reply(`Order ${order[1]} left our warehouse yesterday.`, {
      buttons: [
        { label: 'Where is it now?', data: `track:${order[1]}` },
        { label: 'Talk to an operator', data: 'operator' },
      ],
    });
  }
  if (ctx.event.button?.data.startsWith('track:')) return ctx.reply('It is with the courier and arrives tomorrow.');
  // Hand over: the message goes to the agents, and so does everything until the chat is idle.
  if (ctx.event.button?.data === 'operator') return ctx.handover({ message: 'An operator will answer you here shortly.' });

  // Drop: nothing reaches Blinger (a health check from your monitoring, say).
  if (text === '/ping-bridge') return ctx.drop();

  // Everything else: add a fact for the agents and let the rest of the chain decide.
  for (const m of ctx.messages) m.info = { ...m.info, handled_by: 'echo-bot example' };
  await next();
};

async function main(): Promise<void> {
  const config = loadConfig();
  const bridge = createBridge({ config, middleware: [echoBot] });
  const stop = () =>
    void bridge.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const address = await bridge.start();
  console.log(`echo-bot bridge listening on ${address}`);
  if (bridge.sandbox) console.log(`sandbox mode: visitor's chat ${bridge.sandbox.chatUrl}, agents' inbox ${bridge.sandbox.inboxUrl}`);
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(2);
  }
  console.error(err);
  process.exit(1);
});
