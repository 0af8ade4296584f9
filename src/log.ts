/**
 * Structured logs: pino, one JSON object a line on stderr, behind the small interface the rest
 * of the code uses. `child` binds fields (a request id, a job) to every line of a request or run.
 *
 * Secrets never go in `fields`; in case one slips in under a well-known name, pino's redaction
 * replaces it (see REDACT) before the line is written.
 */
import { pino, type Logger as PinoLogger } from 'pino';

export type Level = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export interface Logger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
  /** A logger that adds `bindings` to every line, e.g. `{ requestId }`. */
  child(bindings: object): Logger;
}

/** Field names that hold credentials wherever they appear (top level or one object down). */
const SECRET_FIELDS = ['authorization', 'token', 'key', 'apiKey', 'secret', 'webhookSecret', 'password', 'signature', 'cookie'];
export const REDACT = SECRET_FIELDS.flatMap((name) => [name, `*.${name}`]);

function wrap(logger: PinoLogger): Logger {
  return {
    debug: (fields, message) => logger.debug(fields, message),
    info: (fields, message) => logger.info(fields, message),
    warn: (fields, message) => logger.warn(fields, message),
    error: (fields, message) => logger.error(fields, message),
    child: (bindings) => wrap(logger.child(bindings)),
  };
}

/**
 * `write` receives each line without its newline (tests capture lines this way); by default
 * lines go to stderr synchronously, so nothing is lost when the process exits.
 */
export function createLogger(level: Level = 'info', write?: (line: string) => void): Logger {
  const destination = write ? { write: (line: string) => write(line.endsWith('\n') ? line.slice(0, -1) : line) } : pino.destination({ dest: 2, sync: true });
  return wrap(
    pino(
      {
        level,
        base: undefined,
        messageKey: 'msg',
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
        redact: { paths: REDACT, censor: '[redacted]' },
      },
      destination,
    ),
  );
}
