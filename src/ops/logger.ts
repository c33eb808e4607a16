import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs on stderr (stdout stays for command output). Written synchronously: the CLI
 * writes its one error line to stderr synchronously too, and an asynchronous destination (pino's
 * default, a write on libuv's thread pool) let a log line from the drain before it land after it.
 * ulbridge logs per stage event, never per change, so the synchronous writes cost nothing measurable.
 */
export function createLogger(
  level: string = process.env.ULBRIDGE_LOG_LEVEL ?? 'info',
  destination: DestinationStream = pino.destination({ dest: 2, sync: true }),
): Logger {
  return pino({ level, base: { app: 'ulbridge' }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}

/**
 * Writes a line that another thread's logger serialized (the ingest thread's: src/ingest/thread.ts)
 * to wherever `logger` writes, as it is: stderr for `ulbridge run`, the demo's log file for the demo.
 */
export function writeSerializedLine(logger: Logger, line: string): void {
  (logger as unknown as Record<symbol, DestinationStream | undefined>)[pino.symbols.streamSym]?.write(line);
}

/** A logger that drops everything, for library use and tests. */
export const silentLogger: Logger = pino({ level: 'silent' });
