/**
 * What the CLI prints comes partly from outside: client ids, texts and failure reasons from Redis,
 * answers of Telegram and Blinger. Printed raw, their control characters would drive the
 * operator's terminal (move the cursor, rewrite lines, set the title, hide text) and bidi controls
 * would reorder what they see. So every line a command prints passes through `escapeControls`,
 * which writes such characters as \uXXXX: readable, and still valid inside JSON strings (JSON
 * itself only escapes C0).
 */
import { format } from 'node:util';

// C0 (tab and newline are kept where a caller allows), DEL, C1, and the bidi embedding, override and isolate controls.
// eslint-disable-next-line no-control-regex -- control characters are what this finds
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
// eslint-disable-next-line no-control-regex -- the same, newline and tab included
const CONTROLS_AND_LINES = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const escape = (c: string) => `\\u${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;

/** `text` with control characters written as \uXXXX; `keepLines` keeps newlines and tabs (whole lines of output). */
export function escapeControls(text: string, opts: { keepLines?: boolean } = {}): string {
  return text.replace(opts.keepLines ? CONTROLS : CONTROLS_AND_LINES, escape);
}

/**
 * Routes console.log/info/warn/error through escapeControls, once, for the whole CLI process:
 * every printer of every command (adapters' commands included) is covered without each one
 * remembering to. The progress bar writes to stderr itself: its carriage returns are ours.
 */
export function guardConsole(c: Console = console): void {
  for (const method of ['log', 'info', 'warn', 'error'] as const) {
    const print = c[method].bind(c);
    c[method] = (...args: unknown[]) =>
      print(escapeControls(args.length === 1 && typeof args[0] === 'string' ? args[0] : format(...args), { keepLines: true }));
  }
}
