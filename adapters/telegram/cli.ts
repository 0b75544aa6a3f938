/**
 * `blinger-bridge telegram webhook set|info|delete`: manage the Bot API webhook of the configured
 * Telegram channels (all of them, or --channel <id>).
 */
import type { Telegram } from 'telegraf';
import type { AdapterCli, CliContext } from '../../src/adapter.js';
import { CliError, UsageError } from '../../src/toolkit/index.js';
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
  if (
    group === undefined ||
    group === '--help' ||
    group === '-h' ||
    group === 'help' ||
    (group === 'webhook' && (action === undefined || action === '--help' || action === '-h'))
  ) {
    const missing = group === undefined || (group === 'webhook' && action === undefined);
    (missing ? cli.err : cli.out)(TELEGRAM_HELP);
    return missing ? 2 : 0;
  }
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

  const only = typeof args.values.channel === 'string' ? args.values.channel : undefined;
  const channels = cli.channels().filter((c) => !only || c.id === only);
  if (channels.length === 0) {
    throw new CliError(
      only
        ? `telegram webhook: no Telegram channel "${only}" is configured`
        : 'telegram webhook: no Telegram channel is configured (set TELEGRAM_BOT_TOKEN or BRIDGE_CONFIG)',
    );
  }
  let failed = false;
  for (const ch of channels) {
    const adapter = ch.adapter;
    if (!(adapter instanceof TelegramAdapter)) {
      cli.err(`✗ ${ch.id}: ${ch.error ?? 'not a Telegram adapter'}`);
      failed = true;
      continue;
    }
    const t: Telegram = adapter.telegram;
    const timeout = adapter.settings.requestTimeout;
    try {
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
        cli.out(`✓ ${ch.id}: webhook set to ${adapter.webhookUrl}${drop ? ' (pending updates dropped)' : ''}`);
        if (adapter.settings.mode !== 'webhook')
          cli.out(
            `  note: this channel is in polling mode; a polling bridge deletes the webhook when it starts (set TELEGRAM_MODE=webhook)`,
          );
      } else if (action === 'delete') {
        await callWithTimeout(t, 'deleteWebhook', { drop_pending_updates: drop } as never, timeout);
        cli.out(`✓ ${ch.id}: webhook deleted${drop ? ' (pending updates dropped)' : ''}`);
      } else {
        const info = (await callWithTimeout(t, 'getWebhookInfo', {} as never, timeout)) as unknown as WebhookInfo;
        cli.out(`${ch.id}:`);
        cli.out(`  url:              ${info.url || '(none: the bot is polled, or nothing receives its updates)'}`);
        cli.out(`  expected url:     ${adapter.settings.mode === 'webhook' ? adapter.webhookUrl : '(none: polling mode)'}`);
        cli.out(`  pending updates:  ${info.pending_update_count}`);
        cli.out(
          `  last error:       ${info.last_error_message ? `${info.last_error_message} (${new Date((info.last_error_date ?? 0) * 1000).toISOString()})` : 'none'}`,
        );
        if (info.max_connections !== undefined) cli.out(`  max connections:  ${info.max_connections}`);
        if (info.ip_address) cli.out(`  ip address:       ${info.ip_address}`);
      }
    } catch (err) {
      cli.err(`✗ ${ch.id}: ${classifyTelegramError(err).message}`);
      failed = true;
    }
  }
  return failed ? 1 : 0;
}

export const telegramCli: AdapterCli = {
  summary: ['webhook set|info|delete         the Telegram webhook of the configured bots'],
  help: TELEGRAM_HELP,
  run: telegramCommand,
};
