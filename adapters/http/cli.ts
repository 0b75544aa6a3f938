/**
 * `blinger-bridge http secret` makes a new channel secret; `blinger-bridge http sign` prints the
 * signature headers for a body, to try the route with curl.
 */
import { readFileSync } from 'node:fs';
import type { AdapterCli, CliContext } from '../../src/adapter.js';
import { CliError, newWebhookSecret, UsageError, webhookHeaders } from '../../src/toolkit/index.js';
import { HttpChannelAdapter } from './adapter.js';

export const HTTP_HELP = `Usage: blinger-bridge http <secret|sign> [options]

  secret                        print a new channel secret (whsec_…) for BRIDGE_CONFIG and your app
  sign [--channel <id>] [--id <webhook-id>] <file|->
                                print the three Standard Webhooks headers for the JSON body in
                                <file> (or stdin), signed with the channel's secret, for curl:
                                  curl -H @<(blinger-bridge http sign body.json) \\
                                       -H 'content-type: application/json' --data @body.json \\
                                       PUBLIC_URL/http/<channel>/messages

Options:
  --channel <id>   the HTTP channel whose secret signs (default: the only one configured)
  --id <id>        the webhook-id (default: a new random one)`;

async function httpCommand(argv: string[], cli: CliContext): Promise<number> {
  const [action, ...rest] = argv;
  if (action === undefined || action === '--help' || action === '-h' || action === 'help') {
    (action === undefined ? cli.err : cli.out)(HTTP_HELP);
    return action === undefined ? 2 : 0;
  }
  if (action === 'secret') {
    if (!cli.parse('http secret', HTTP_HELP, rest, {})) return 0;
    cli.out(newWebhookSecret());
    return 0;
  }
  if (action !== 'sign') throw new UsageError(`http: unknown command "${action}"; expected secret or sign`);
  const args = cli.parse('http sign', HTTP_HELP, rest, { channel: { type: 'string' }, id: { type: 'string' } }, true);
  if (!args) return 0;
  const [file, ...extra] = args.positionals;
  if (file === undefined || extra.length > 0) throw new UsageError('http sign: give one body file, or - for stdin');
  const only = args.values.channel;
  const channels = cli.channels().filter((c) => typeof only !== 'string' || c.id === only);
  if (channels.length !== 1) {
    throw new CliError(
      channels.length === 0
        ? 'http sign: no such HTTP channel is configured'
        : 'http sign: several HTTP channels are configured; choose one with --channel',
    );
  }
  const adapter = channels[0]!.adapter;
  if (!(adapter instanceof HttpChannelAdapter)) throw new CliError(`http sign: ${channels[0]!.error ?? 'not an HTTP channel'}`);
  const body = readFileSync(file === '-' ? 0 : file);
  const id =
    typeof args.values.id === 'string' ? args.values.id : `msg_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`;
  for (const [name, value] of Object.entries(webhookHeaders(adapter.settings.secret, id, body))) cli.out(`${name}: ${value}`);
  return 0;
}

export const httpCli: AdapterCli = {
  summary: ['secret|sign                      the HTTP channel: a new secret, signature headers for curl'],
  help: HTTP_HELP,
  run: httpCommand,
};
