import type { Consumer, RetryOptions } from 'kafkajs';
import type { Lifecycle } from './lifecycle.js';
import type { Logger } from './logger.js';

/**
 * The kafkajs retry options of a stage's consumer: kafkajs's consumer default (5 retries of a
 * failed batch, then a crash and a restart), except that a consumer never restarts once its
 * stage's stop() has begun. kafkajs decides a restart after the crash's own disconnect, so a
 * crash that lands while the stage drains (its batches failing, e.g. on a closed pool) would
 * otherwise start the consumer again after stop() returned, and the process would never exit.
 */
export function stageConsumerRetry(lifecycle: Lifecycle): RetryOptions {
  return { retries: 5, restartOnFailure: async () => !lifecycle.stopRequested };
}

/**
 * A consumer crash kafkajs will not restart fails the stage for good (/healthz 503, status says
 * why), unless the stage is stopping anyway. Every crash is logged.
 */
export function failStageOnCrash(consumer: Consumer, lifecycle: Lifecycle, log: Logger, what: string): void {
  consumer.on(consumer.events.CRASH, (e) => {
    log.error({ err: e.payload.error, restart: e.payload.restart }, `${what} consumer crashed`);
    if (!e.payload.restart && !lifecycle.stopRequested) lifecycle.fail(e.payload.error);
  });
}
