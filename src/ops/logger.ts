import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stderr (stdout stays for command output). */
export function createLogger(level: string = process.env.ULBRIDGE_LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { app: 'ulbridge' }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination(2));
}

/** A logger that drops everything, for library use and tests. */
export const silentLogger: Logger = pino({ level: 'silent' });
