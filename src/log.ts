/**
 * pino JSON logs; pretty when attached to a terminal. Every finished line passes through `redact`
 * on its way to the output, so a secret is caught wherever it sits: a message, a field at any
 * depth, an error's stack, a child logger's bindings, a %o/%j interpolation.
 */
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';
import { redact } from './redact.js';

/** The stream with every line redacted before it is written (pino writes one whole line per call). */
function redacting(destination: pino.DestinationStream): pino.DestinationStream {
  return { write: (line: string) => destination.write(redact(line)) };
}

export function createLogger(level: string, opts: { pretty?: boolean; destination?: pino.DestinationStream } = {}): Logger {
  const isPretty = opts.pretty ?? (process.stdout.isTTY === true && !opts.destination);
  const options: pino.LoggerOptions = { level, base: { pid: process.pid } };
  // Pretty output is for a person at a terminal: formatted in this thread, so it is redacted like the rest.
  const destination = isPretty
    ? pretty({ translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid', sync: true })
    : (opts.destination ?? pino.destination({ dest: 1, sync: true }));
  return pino(options, redacting(destination));
}
