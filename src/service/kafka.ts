import { Kafka, logLevel, type LogEntry } from 'kafkajs';
import type { Logger } from '../ops/logger.js';

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/** A kafkajs client whose own logs go through pino (warnings and errors only by default). */
export function createKafka(brokers: string[], clientId: string, logger: Logger): Kafka {
  // Every producer of ours names its partitioner; kafkajs's notice about its v2 default is noise.
  process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';
  const log = logger.child({ component: 'kafkajs' });
  return new Kafka({
    clientId,
    brokers,
    logLevel: logLevel.WARN,
    retry: { initialRetryTime: 300, retries: 10 },
    logCreator:
      () =>
      ({ level, log: entry }: LogEntry) => {
        const { message, ...rest } = entry;
        log[LEVELS[level] ?? 'info'](rest, message);
      },
  });
}
