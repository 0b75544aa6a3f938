/**
 * `blinger-bridge max webhook set|info|delete`: the webhook subscriptions (POST/GET/DELETE
 * /subscriptions) of the configured MAX bots (all of them, or --channel <id>).
 */
import type { AdapterCli, CliContext } from '../../src/adapter.js';
import { answerHelp, forEachChannel, UsageError, type ChannelCommand } from '../../src/toolkit/index.js';
import { MaxAdapter } from './adapter.js';
import { classifyMaxError } from './errors.js';

export const MAX_HELP = `Usage: blinger-bridge max webhook <set|info|delete> [--channel <id>]

  set      subscribe the bot's updates to PUBLIC_URL/max/<channel>, with the secret the bridge
           checks in X-Max-Bot-Api-Secret (MAX_WEBHOOK_SECRET, or derived from the bot token).
           MAX wants https on port 443 with a valid certificate.
  info     show the bot's subscriptions and the one this bridge expects
  delete   remove every subscription of the bot (needed for long polling; a polling bridge
           also does it when it starts)

Options:
  --channel <id>   only this channel (default: every MAX channel)

MAX retries a failed delivery for up to 8 hours and then drops the subscription; a bridge in
webhook mode subscribes again when it finds it gone, and "blinger-bridge check" shows the state.`;

async function maxCommand(argv: string[], cli: CliContext): Promise<number> {
  const [group, action, ...rest] = argv;
  const help = answerHelp(argv, 'webhook', MAX_HELP, cli);
  if (help !== undefined) return help;
  if (group !== 'webhook') throw new UsageError(`max: unknown command "${group}"; expected "max webhook set|info|delete"`);
  if (action !== 'set' && action !== 'info' && action !== 'delete')
    throw new UsageError(`max webhook: unknown command "${action}"; expected set, info or delete`);
  const args = cli.parse(`max webhook ${action}`, MAX_HELP, rest, { channel: { type: 'string' } })?.values;
  if (!args) return 0;

  const command: ChannelCommand<MaxAdapter> = {
    command: 'max webhook',
    messenger: 'MAX',
    configuredBy: 'MAX_BOT_TOKEN or BRIDGE_CONFIG',
    only: typeof args.channel === 'string' ? args.channel : undefined,
    asAdapter: (a) => (a instanceof MaxAdapter ? a : undefined),
    describeError: (err) => classifyMaxError(err).message,
  };
  return forEachChannel(cli, command, (id, adapter) => runAction(action, id, adapter, cli));
}

async function runAction(action: 'set' | 'info' | 'delete', id: string, adapter: MaxAdapter, cli: CliContext): Promise<void> {
  if (action === 'set') {
    await adapter.subscribe();
    cli.out(`✓ ${id}: subscribed to ${adapter.webhookUrl}`);
    if (adapter.settings.mode !== 'webhook')
      cli.out('  note: this channel is in polling mode; a polling bridge removes the subscription when it starts (set MAX_MODE=webhook)');
    return;
  }
  const subs = await adapter.api.subscriptions();
  if (action === 'delete') {
    for (const s of subs) await adapter.api.unsubscribe(s.url);
    cli.out(`✓ ${id}: ${subs.length ? `removed ${subs.map((s) => s.url).join(', ')}` : 'no subscription to remove'}`);
    return;
  }
  cli.out(`${id}:`);
  if (subs.length === 0) cli.out('  subscriptions:    (none: the bot is polled, or nothing receives its updates)');
  for (const s of subs) {
    const since = typeof s.time === 'number' ? `, since ${new Date(s.time).toISOString()}` : '';
    cli.out(`  subscription:     ${s.url} (${s.update_types?.length ? s.update_types.join(', ') : 'all updates'}${since})`);
  }
  cli.out(`  expected url:     ${adapter.settings.mode === 'webhook' ? adapter.webhookUrl : '(none: polling mode)'}`);
}

export const maxCli: AdapterCli = {
  summary: ['webhook set|info|delete         the MAX webhook subscriptions of the configured bots'],
  help: MAX_HELP,
  run: maxCommand,
};
