/**
 * `blinger-bridge vk callback set|info`: the Callback API server of the configured VK channels'
 * communities (all of them, or --channel <id>). Through VK's API where the token may manage the
 * community; else what to enter in the community settings, exactly.
 */
import type { AdapterCli, CliContext } from '../../src/adapter.js';
import { answerHelp, forEachChannel, UsageError, type ChannelCommand } from '../../src/toolkit/index.js';
import { VkAdapter, eventFlags } from './adapter.js';
import { addServerSchema, callbackServersSchema, confirmationCodeSchema, VkApiError, type CallbackServer } from './api.js';
import { classifyVkError } from './errors.js';
import { VK_EVENTS } from './settings.js';

export const VK_HELP = `Usage: blinger-bridge vk callback <set|info> [--channel <id>]

  set    register PUBLIC_URL/vk/<channel> as the community's Callback API server, with the
         bridge's secret key, API version and events (needs a token with the "manage" right;
         without it, prints what to enter in the community settings)
  info   show the community's Callback API servers, their status and the confirmation string

Options:
  --channel <id>   only this channel (default: every VK channel)`;

/** The server's title in the community settings (VK allows 14 characters). */
export const SERVER_TITLE = 'blinger-bridge';

/** The event types as the community settings name them (Callback API → Event types). */
const EVENT_NAMES: Record<(typeof VK_EVENTS)[number], string> = {
  message_new: 'Incoming message',
  message_edit: 'Message edited',
  message_event: 'Message event (callback button)',
};

async function vkCommand(argv: string[], cli: CliContext): Promise<number> {
  const [group, action, ...rest] = argv;
  const help = answerHelp(argv, 'callback', VK_HELP, cli);
  if (help !== undefined) return help;
  if (group !== 'callback') throw new UsageError(`vk: unknown command "${group}"; expected "vk callback set|info"`);
  if (action !== 'set' && action !== 'info') throw new UsageError(`vk callback: unknown command "${action}"; expected set or info`);
  const args = cli.parse(`vk callback ${action}`, VK_HELP, rest, { channel: { type: 'string' } })?.values;
  if (!args) return 0;
  const command: ChannelCommand<VkAdapter> = {
    command: 'vk callback',
    messenger: 'VK',
    configuredBy: 'VK_TOKEN or BRIDGE_CONFIG',
    only: typeof args.channel === 'string' ? args.channel : undefined,
    asAdapter: (a) => (a instanceof VkAdapter ? a : undefined),
    describeError: (err) => classifyVkError(err).message,
  };
  return forEachChannel(cli, command, (_id, adapter) => (action === 'set' ? setServer(adapter, cli) : showServers(adapter, cli)));
}

async function setServer(a: VkAdapter, cli: CliContext): Promise<boolean> {
  const s = a.settings;
  const group_id = s.groupId;
  try {
    const { items } = await a.api.callAs('groups.getCallbackServers', callbackServersSchema, { group_id });
    const existing = items.find((i) => i.url === a.callbackUrl);
    const common = { group_id, url: a.callbackUrl, title: SERVER_TITLE, secret_key: s.secret };
    let serverId: number;
    if (existing) {
      await a.api.call('groups.editCallbackServer', { ...common, server_id: existing.id });
      serverId = existing.id;
    } else {
      serverId = (await a.api.callAs('groups.addCallbackServer', addServerSchema, common)).server_id;
    }
    await a.api.call('groups.setCallbackSettings', { group_id, server_id: serverId, api_version: s.apiVersion, ...eventFlags() });
    const { code } = await a.api.callAs('groups.getCallbackConfirmationCode', confirmationCodeSchema, { group_id });
    const now = (await a.api.callAs('groups.getCallbackServers', callbackServersSchema, { group_id, server_ids: serverId })).items[0];
    cli.out(
      `✓ ${a.channelId}: Callback API server ${serverId} of community ${group_id} ${existing ? 'updated' : 'added'}: ${a.callbackUrl}`,
    );
    cli.out(`  API version ${s.apiVersion}, events: ${VK_EVENTS.join(', ')}, the bridge's secret key`);
    cli.out(`  status: ${now?.status ?? 'unknown'}${now?.status === 'ok' ? ' (confirmed)' : ''}`);
    cli.out(confirmationLine(a, code));
    if (now?.status !== 'ok') {
      cli.out(
        `  to confirm: start the bridge with the Callback API (${modeHint(a)}), then press "Confirm" in the community → Manage → API usage → Callback API`,
      );
    } else if (s.mode !== 'callback') {
      cli.out(`  note: this channel receives by Long Poll; set ${modeHint(a)} to take events at this address`);
    }
    return true;
  } catch (err) {
    if (!(err instanceof VkApiError)) {
      cli.err(`✗ ${a.channelId}: ${classifyVkError(err).message}`);
      return false;
    }
    cli.err(`✗ ${a.channelId}: VK refused to set the server through the API (${err.message}); enter it in the community settings:`);
    printManual(a, cli);
    return false;
  }
}

async function showServers(a: VkAdapter, cli: CliContext): Promise<boolean> {
  const s = a.settings;
  cli.out(`${a.channelId}:`);
  cli.out(`  community:        ${s.groupId}`);
  cli.out(`  mode:             ${s.mode}`);
  cli.out(`  expected address: ${a.callbackUrl}${s.mode === 'callback' ? '' : ' (used only with the Callback API)'}`);
  try {
    const { items } = await a.api.callAs('groups.getCallbackServers', callbackServersSchema, { group_id: s.groupId });
    if (items.length === 0) cli.out('  servers:          none (run "blinger-bridge vk callback set")');
    for (const server of items)
      cli.out(`  server ${server.id}:${' '.repeat(Math.max(1, 9 - String(server.id).length))}${describeServer(a, server)}`);
    const { code } = await a.api.callAs('groups.getCallbackConfirmationCode', confirmationCodeSchema, { group_id: s.groupId });
    cli.out(confirmationLine(a, code));
    return true;
  } catch (err) {
    if (!(err instanceof VkApiError)) {
      cli.err(`✗ ${a.channelId}: ${classifyVkError(err).message}`);
      return false;
    }
    cli.err(`✗ ${a.channelId}: VK refused to show the servers (${err.message}); what the community settings must say:`);
    printManual(a, cli);
    return false;
  }
}

function describeServer(a: VkAdapter, server: CallbackServer): string {
  const ours = server.url === a.callbackUrl;
  const secret =
    server.secret_key === undefined ? '' : server.secret_key === a.settings.secret ? ', secret key matches' : ', secret key differs';
  return `${server.url} — ${server.status}${ours ? ` (this bridge${secret})` : ''}`;
}

function confirmationLine(a: VkAdapter, code: string): string {
  const configured = a.settings.confirmation;
  if (!configured) return `  confirmation:     ${code} (the bridge asks VK for it when VK confirms the address)`;
  if (configured === code) return `  confirmation:     ${code} (= VK_CONFIRMATION)`;
  return `  confirmation:     ${code} — VK_CONFIRMATION is "${configured}": set it to "${code}" (or unset it) and restart the bridge`;
}

function modeHint(a: VkAdapter): string {
  return a.settings.mode === 'callback' ? 'mode: callback, as now' : 'VK_MODE=callback or adapter.mode: callback';
}

/** Exactly what to enter in the community settings by hand. */
function printManual(a: VkAdapter, cli: CliContext): void {
  const s = a.settings;
  cli.out(`${a.channelId}: community ${s.groupId} → Manage → API usage → Callback API`);
  cli.out(`  API version:   ${s.apiVersion}`);
  cli.out(`  Address:       ${a.callbackUrl}`);
  cli.out(`  Secret key:    ${s.secret}`);
  cli.out(`  Event types:   Messages → ${VK_EVENTS.map((t) => EVENT_NAMES[t]).join(', ')}`);
  cli.out('  Then copy the string VK shows as "String to be returned" into VK_CONFIRMATION (adapter.confirmation),');
  cli.out(`  start the bridge with ${modeHint(a)}, and press "Confirm".`);
}

export const vkCli: AdapterCli = {
  summary: ['callback set|info               the Callback API server of the configured VK communities'],
  help: VK_HELP,
  run: vkCommand,
};
