/**
 * pino logs: JSON lines for machines, one short line per event for a person at a terminal
 * (LOG_FORMAT, default: pretty on a terminal, JSON when piped). Every finished line passes through
 * `redact` on its way out, so a secret is caught wherever it sits: a message, a field at any depth,
 * an error's stack, a child logger's bindings, a %o/%j interpolation; the pretty lines are made
 * from those already-redacted lines.
 */
import { createRequire } from 'node:module';
import pino, { type Logger } from 'pino';
import type PinoPretty from 'pino-pretty';
import { redact } from './redact.js';

/** Loaded only for a terminal: JSON processes (production, tests) skip its ~0.1 s of start-up. */
const loadPinoPretty = () => createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;

export type LogFormat = 'json' | 'pretty';

/** The stream with every line redacted before it is written (pino writes one whole line per call). */
function redacting(destination: pino.DestinationStream): pino.DestinationStream {
  return { write: (line: string) => destination.write(redact(line)) };
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
  // An error object (pino's serializer): its message; the stack is in the JSON lines.
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

/**
 * JSON lines to stdout, written off the event loop: a write system call per line cost a message
 * ~10 % of its CPU (three lines each), and lines that come while one is being written go out
 * together. pino flushes what is left synchronously when the process exits. A stdout nobody reads
 * (a stuck log collector) cannot grow the buffer past MAX_UNWRITTEN_LOG: later lines are dropped
 * rather than the bridge running out of memory or stopping to wait.
 */
function jsonDestination(): pino.DestinationStream {
  return pino.destination({ dest: 1, sync: false, maxLength: MAX_UNWRITTEN_LOG });
}

const MAX_UNWRITTEN_LOG = 16 * 1024 * 1024;

/** `format` (LOG_FORMAT) wins; otherwise pretty exactly when stdout is a terminal. */
export function createLogger(
  level: string,
  opts: { pretty?: boolean; format?: LogFormat; destination?: pino.DestinationStream } = {},
): Logger {
  const pretty = opts.pretty ?? (opts.format ? opts.format === 'pretty' : process.stdout.isTTY === true && !opts.destination);
  const options: pino.LoggerOptions = { level, base: { pid: process.pid } };
  if (!pretty) return pino(options, redacting(opts.destination ?? jsonDestination()));
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
  return pino(options, redacting(stream));
}
