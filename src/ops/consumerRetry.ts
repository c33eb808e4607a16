import type { RetryOptions } from 'kafkajs';
import type { Lifecycle } from './lifecycle.js';

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
