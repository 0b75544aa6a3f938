/**
 * pino logs: JSON lines for machines, one short line per event for a person at a terminal
 * (LOG_FORMAT, default: pretty on a terminal, JSON when piped). Every string that reaches a log
 * line passes through `redact`, so a token inside an upstream error message is caught too, not only
 * known keys; the pretty lines are made from those already-redacted records.
 */
import { createRequire } from 'node:module';
import pino, { type Logger } from 'pino';
import type PinoPretty from 'pino-pretty';
import { redact } from './redact.js';

/** Loaded only for a terminal: JSON processes (production, tests) skip its ~0.1 s of start-up. */
const loadPinoPretty = () => createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;

export type LogFormat = 'json' | 'pretty';

function scrub(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redact(value);
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error)
    return { type: value.name, message: redact(value.message), stack: value.stack ? redact(value.stack) : undefined };
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = scrub(v, depth + 1);
  return out;
}

/** Fields a person at a terminal does not need: ids for machines (the JSON lines keep them). */
const HIDDEN_ON_TERMINAL = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'cid', 'messageId', 'event', 'delayMs']);
/** The fields that matter, first and in this order; any others follow. */
const FIRST_ON_TERMINAL = ['direction', 'channel', 'job', 'attempt', 'nextTry', 'code', 'reason', 'err'];

function terminalValue(key: string, value: unknown): string {
  if (key === 'nextTry' && typeof value === 'string') {
    const at = new Date(value);
    if (!Number.isNaN(at.getTime())) return at.toTimeString().slice(0, 8);
  }
  // An error object (from scrub): its message; the stack is in the JSON lines.
  if (value && typeof value === 'object' && 'message' in value && typeof value.message === 'string') value = value.message;
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value) ?? String(value);
}

/** "message  key=value key=value": one line, the fields that matter first. */
export function terminalLine(log: Record<string, unknown>): string {
  const keys = [...FIRST_ON_TERMINAL.filter((k) => k in log), ...Object.keys(log).filter((k) => !FIRST_ON_TERMINAL.includes(k))];
  const fields = keys
    .filter((k) => !HIDDEN_ON_TERMINAL.has(k) && log[k] !== undefined)
    // The job names the channel already ("<channel>|<client>").
    .filter((k) => !(k === 'channel' && typeof log.job === 'string'))
    .map((k) => `${k}=${terminalValue(k, log[k])}`);
  return [String(log.msg ?? ''), ...fields].join('  ');
}

/** `format` (LOG_FORMAT) wins; otherwise pretty exactly when stdout is a terminal. */
export function createLogger(
  level: string,
  opts: { pretty?: boolean; format?: LogFormat; destination?: pino.DestinationStream } = {},
): Logger {
  const pretty = opts.pretty ?? (opts.format ? opts.format === 'pretty' : process.stdout.isTTY === true && !opts.destination);
  const options: pino.LoggerOptions = {
    level,
    base: { pid: process.pid },
    formatters: { log: (obj) => scrub(obj) as Record<string, unknown> },
    hooks: {
      logMethod(args, method) {
        method.apply(this, args.map((a) => (typeof a === 'string' ? redact(a) : a)) as Parameters<typeof method>);
      },
    },
  };
  if (!pretty) return opts.destination ? pino(options, opts.destination) : pino(options);
  // In this thread and synchronous (a terminal is slow anyway): no line is lost at process.exit.
  const stream = loadPinoPretty()({
    sync: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
    hideObject: true,
    errorLikeObjectKeys: [],
    messageFormat: (log) => terminalLine(log),
    ...(opts.destination ? { destination: opts.destination } : {}),
  });
  return pino(options, stream);
}
