/**
 * Secrets must never reach logs, errors, metrics or Blinger. Every secret the process knows is
 * registered here once (config loading does it), and text that may carry one — error messages,
 * upstream answers, URLs — is passed through `redact` before it leaves.
 */
const secrets = new Set<string>();

/**
 * Telegram bot tokens have a recognisable shape; catch them even when not registered. No \b
 * before the digits: in Bot API URLs the token follows "bot" directly (/bot123:ABC…/getMe).
 */
const BOT_TOKEN_RE = /(?<!\d)\d{5,}:[A-Za-z0-9_-]{30,}/g;

export function registerSecret(value: string | undefined): void {
  if (!value || value.length < 6) return;
  secrets.add(value);
  // In a JSON log line the secret appears escaped when it has quotes, backslashes or control characters.
  const escaped = JSON.stringify(value).slice(1, -1);
  if (escaped !== value) secrets.add(escaped);
}

export function redact(text: string): string {
  let out = text;
  for (const s of secrets) {
    if (out.includes(s)) out = out.split(s).join('[REDACTED]');
  }
  // Every log line passes through here: skip the regex for text that cannot hold a token.
  return out.includes(':') ? out.replace(BOT_TOKEN_RE, '[REDACTED]') : out;
}

/** For tests. */
export function knownSecretCount(): number {
  return secrets.size;
}
