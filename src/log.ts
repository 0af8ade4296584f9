/**
 * A small structured logger: one JSON object a line on stderr. Secrets never go in `fields`.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export interface Logger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export function createLogger(level: Level = 'info', write: (line: string) => void = (line) => process.stderr.write(line + '\n')): Logger {
  const at = (name: Exclude<Level, 'silent'>) => (fields: object, message: string) => {
    if (ORDER[name] < ORDER[level]) return;
    write(JSON.stringify({ level: name, time: new Date().toISOString(), msg: message, ...fields }));
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
