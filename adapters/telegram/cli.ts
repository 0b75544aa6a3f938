/**
 * `blinger-bridge telegram webhook set|info|delete`: manage the Bot API webhook of the configured
 * Telegram channels (all of them, or --channel <id>).
 */
import type { Telegram } from 'telegraf';
import type { AdapterCli, CliContext } from '../../src/adapter.js';
import { answerHelp, forEachChannel, UsageError, type ChannelCommand } from '../../src/toolkit/index.js';
import { callWithTimeout } from './api.js';
import { classifyTelegramError } from './errors.js';
import { TelegramAdapter } from './adapter.js';
import { ALLOWED_UPDATES } from './settings.js';

export const TELEGRAM_HELP = `Usage: blinger-bridge telegram webhook <set|info|delete> [--channel <id>] [--drop-pending-updates]

  set      point the bot's webhook at PUBLIC_URL/telegram/<channel>, with the secret token
           the bridge checks (TELEGRAM_WEBHOOK_SECRET, or derived from the bot token)
  info     show the webhook URL, pending updates and Telegram's last delivery error
  delete   remove the webhook (needed for polling; the bridge also does it when it starts polling)

Options:
  --channel <id>            only this channel (default: every Telegram channel)
  --drop-pending-updates    with set or delete: discard the updates Telegram still holds`;

interface WebhookInfo {
  url: string;
  pending_update_count: number;
  last_error_date?: number;
  last_error_message?: string;
  max_connections?: number;
  ip_address?: string;
}

async function telegramCommand(argv: string[], cli: CliContext): Promise<number> {
  const [group, action, ...rest] = argv;
  const help = answerHelp(argv, 'webhook', TELEGRAM_HELP, cli);
  if (help !== undefined) return help;
  if (group !== 'webhook') throw new UsageError(`telegram: unknown command "${group}"; expected "telegram webhook set|info|delete"`);
  if (action !== 'set' && action !== 'info' && action !== 'delete')
    throw new UsageError(`telegram webhook: unknown command "${action}"; expected set, info or delete`);
  const args = cli.parse(`telegram webhook ${action}`, TELEGRAM_HELP, rest, {
    channel: { type: 'string' },
    'drop-pending-updates': { type: 'boolean' },
  });
  if (!args) return 0;
  const drop = args.values['drop-pending-updates'] === true;
  if (drop && action === 'info') throw new UsageError('telegram webhook info: --drop-pending-updates goes with set or delete');

  const command: ChannelCommand<TelegramAdapter> = {
    command: 'telegram webhook',
    messenger: 'Telegram',
    configuredBy: 'TELEGRAM_BOT_TOKEN or BRIDGE_CONFIG',
    only: typeof args.values.channel === 'string' ? args.values.channel : undefined,
    asAdapter: (a) => (a instanceof TelegramAdapter ? a : undefined),
    describeError: (err) => classifyTelegramError(err).message,
  };
  return forEachChannel(cli, command, (id, adapter) => runAction(action, drop, id, adapter, cli));
}

async function runAction(
  action: 'set' | 'info' | 'delete',
  drop: boolean,
  id: string,
  adapter: TelegramAdapter,
  cli: CliContext,
): Promise<void> {
  const t: Telegram = adapter.telegram;
  const timeout = adapter.settings.requestTimeout;
  if (action === 'set') {
    await callWithTimeout(
      t,
      'setWebhook',
      {
        url: adapter.webhookUrl,
        secret_token: adapter.settings.webhookSecret,
        allowed_updates: [...ALLOWED_UPDATES],
        drop_pending_updates: drop,
      } as never,
      timeout,
    );
    cli.out(`✓ ${id}: webhook set to ${adapter.webhookUrl}${drop ? ' (pending updates dropped)' : ''}`);
    if (adapter.settings.mode !== 'webhook')
      cli.out(`  note: this channel is in polling mode; a polling bridge deletes the webhook when it starts (set TELEGRAM_MODE=webhook)`);
    return;
  }
  if (action === 'delete') {
    await callWithTimeout(t, 'deleteWebhook', { drop_pending_updates: drop } as never, timeout);
    cli.out(`✓ ${id}: webhook deleted${drop ? ' (pending updates dropped)' : ''}`);
    return;
  }
  const info = (await callWithTimeout(t, 'getWebhookInfo', {} as never, timeout)) as unknown as WebhookInfo;
  cli.out(`${id}:`);
  cli.out(`  url:              ${info.url || '(none: the bot is polled, or nothing receives its updates)'}`);
  cli.out(`  expected url:     ${adapter.settings.mode === 'webhook' ? adapter.webhookUrl : '(none: polling mode)'}`);
  cli.out(`  pending updates:  ${info.pending_update_count}`);
  cli.out(
    `  last error:       ${info.last_error_message ? `${info.last_error_message} (${new Date((info.last_error_date ?? 0) * 1000).toISOString()})` : 'none'}`,
  );
  if (info.max_connections !== undefined) cli.out(`  max connections:  ${info.max_connections}`);
  if (info.ip_address) cli.out(`  ip address:       ${info.ip_address}`);
}

export const telegramCli: AdapterCli = {
  summary: ['webhook set|info|delete         the Telegram webhook of the configured bots'],
  help: TELEGRAM_HELP,
  run: telegramCommand,
};
