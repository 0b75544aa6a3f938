/**
 * What the adapters' commands (`blinger-bridge <type> <group> <action>`, e.g. `max webhook set`)
 * have in common: the help, and running an action for each configured channel of their type.
 */
import type { Adapter, CliContext } from '../adapter.js';
import { CliError } from './errors.js';

/**
 * Prints the help when it was asked for (exit status 0) or the command is incomplete (2, on
 * stderr), and returns that status; undefined to go on.
 */
export function answerHelp(argv: string[], group: string, help: string, cli: CliContext): number | undefined {
  const [first, action] = argv;
  const asked = first === '--help' || first === '-h' || first === 'help' || (first === group && (action === '--help' || action === '-h'));
  const incomplete = first === undefined || (first === group && action === undefined);
  if (!asked && !incomplete) return undefined;
  (asked ? cli.out : cli.err)(help);
  return asked ? 0 : 2;
}

export interface ChannelCommand<A> {
  /** Names the command in messages, e.g. "max webhook". */
  command: string;
  /** The messenger's name, e.g. "MAX". */
  messenger: string;
  /** What configures such a channel, e.g. "MAX_BOT_TOKEN or BRIDGE_CONFIG". */
  configuredBy: string;
  /** The channel `--channel` names; all of the type when undefined. */
  only: string | undefined;
  /** The adapter as this command's kind, or undefined when it is another. */
  asAdapter(adapter: Adapter | undefined): A | undefined;
  /** The one line an error thrown by the action becomes. */
  describeError(err: unknown): string;
}

/**
 * Runs `action` for each channel the command is for; a channel whose adapter could not be built,
 * or whose action threw or returned false, gets a ✗ line and makes the exit status 1.
 */
export async function forEachChannel<A>(
  cli: CliContext,
  cmd: ChannelCommand<A>,
  action: (channelId: string, adapter: A) => Promise<boolean | void>,
): Promise<number> {
  const channels = cli.channels().filter((c) => !cmd.only || c.id === cmd.only);
  if (channels.length === 0) {
    throw new CliError(
      cmd.only
        ? `${cmd.command}: no ${cmd.messenger} channel "${cmd.only}" is configured`
        : `${cmd.command}: no ${cmd.messenger} channel is configured (set ${cmd.configuredBy})`,
    );
  }
  let failed = false;
  for (const ch of channels) {
    const adapter = cmd.asAdapter(ch.adapter);
    if (!adapter) {
      cli.err(`✗ ${ch.id}: ${ch.error ?? `not a ${cmd.messenger} adapter`}`);
      failed = true;
      continue;
    }
    try {
      if ((await action(ch.id, adapter)) === false) failed = true;
    } catch (err) {
      cli.err(`✗ ${ch.id}: ${cmd.describeError(err)}`);
      failed = true;
    }
  }
  return failed ? 1 : 0;
}
