/**
 * The message shapes the comparison subjects (ceiling, naive) forward, built the way the bridge
 * builds them, so every subject moves the same bytes: a Telegram update becomes a Custom App body
 * (inbound); a Blinger agent reply becomes a sendMessage call (outbound).
 */
export type Kind = 'inbound' | 'outbound';

export interface Target {
  url: string;
  headers: Record<string, string>;
}

interface TgUpdate {
  update_id: number;
  message: {
    message_id: number;
    text?: string;
    from?: { id: number; first_name?: string; last_name?: string; username?: string; language_code?: string };
    chat: { id: number; type: string; title?: string };
  };
}

export function customAppBody(update: TgUpdate, token: string, channelId: string, botUsername: string): Record<string, unknown> {
  const m = update.message;
  const from = m.from ?? { id: 0 };
  return {
    token,
    custom_channel_id: channelId,
    client_id: String(m.chat.id),
    client_name: [from.first_name, from.last_name].filter(Boolean).join(' '),
    info: {
      username: from.username,
      user_id: from.id,
      language_code: from.language_code,
      chat_type: m.chat.type,
      message_id: m.message_id,
      bot_username: botUsername,
    },
    type: 'text',
    data: m.text ?? '',
  };
}

export function sendMessageBody(reply: { client_id: string; data: string }): Record<string, unknown> {
  return { chat_id: reply.client_id, text: reply.data };
}

/** Turns what a subject received (an update or a reply) into what it forwards. */
export function converter(kind: Kind, env: NodeJS.ProcessEnv): (input: unknown) => Record<string, unknown> {
  if (kind === 'inbound') {
    const token = env.BENCH_BLINGER_TOKEN ?? '';
    const channel = env.BENCH_CHANNEL_ID ?? '';
    return (u) => customAppBody(u as TgUpdate, token, channel, 'bench_bot');
  }
  return (r) => sendMessageBody(r as { client_id: string; data: string });
}

/** A synthetic input of conversation c, message i (for subjects that produce their own load). */
export function syntheticInput(kind: Kind, c: number, i: number, updateId: number): unknown {
  const chat = 1000 + c;
  const text = `c${c}-${i}`;
  if (kind === 'outbound') return { client_id: String(chat), type: 'text', data: text };
  return {
    update_id: updateId,
    message: {
      message_id: i + 1,
      from: { id: chat, is_bot: false, first_name: 'Alice', last_name: 'Smith', username: 'alice_smith', language_code: 'en' },
      chat: { id: chat, first_name: 'Alice', last_name: 'Smith', username: 'alice_smith', type: 'private' },
      date: Math.floor(Date.now() / 1000),
      text,
    },
  };
}

export function readBody(req: import('node:http').IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/**
 * Serves a subject on a free port of 127.0.0.1 and tells the benchmark ("ready <port>" on stdout);
 * SIGTERM closes it after `beforeExit` (default: nothing to close).
 */
export function serveSubject(server: import('node:http').Server, beforeExit: () => Promise<unknown> = async () => undefined): void {
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`ready ${(server.address() as { port: number }).port}\n`);
  });
  process.on('SIGTERM', () => {
    server.close();
    void beforeExit().finally(() => process.exit(0));
  });
}
