import { Kafka, logLevel, type LogEntry } from 'kafkajs';
import type { Logger } from '../ops/logger.js';

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

export interface KafkaLogOptions {
  /**
   * While true, kafkajs's warnings and errors are logged at debug level: during start-up its
   * connection retries would print a burst of raw error lines before the one coded line that says
   * what failed (e.g. KAFKA_UNREACHABLE).
   */
  quiet?: () => boolean;
  /** Client retries of a failed request (default 10). */
  retries?: number;
}

/** A kafkajs client whose own logs go through pino (warnings and errors only by default). */
export function createKafka(brokers: string[], clientId: string, logger: Logger, opts: KafkaLogOptions = {}): Kafka {
  // Every producer of ours names its partitioner; kafkajs's notice about its v2 default is noise.
  process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';
  const log = logger.child({ component: 'kafkajs' });
  return new Kafka({
    clientId,
    brokers,
    logLevel: logLevel.WARN,
    retry: { initialRetryTime: 300, retries: opts.retries ?? 10 },
    logCreator:
      () =>
      ({ level, log: entry }: LogEntry) => {
        const { message, ...rest } = entry;
        log[opts.quiet?.() ? 'debug' : (LEVELS[level] ?? 'info')](rest, message);
      },
  });
}
