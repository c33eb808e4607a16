import type { Consumer, ConsumerConfig } from 'kafkajs';
import type { Lifecycle } from './lifecycle.js';
import type { Logger } from './logger.js';

/** kafka.sessionTimeoutSeconds's default: kafkajs's own session timeout. */
export const DEFAULT_SESSION_TIMEOUT_SECONDS = 30;

export interface StageConsumerOptions {
  groupId: string;
  /** Upper bound of one fetch per partition; a fetch takes at most four partitions' worth. */
  maxBytesPerPartition: number;
  /** config kafka.sessionTimeoutSeconds (default 30). */
  sessionTimeoutSeconds?: number | undefined;
}

/**
 * The kafkajs consumer config of a stage (ingest, projection, reverse sync).
 *
 * - Group membership: the session timeout is how long the broker keeps a member that went away
 *   without leaving (kill -9, a host crash, a frozen process) before its partitions may go to
 *   another member, so a stage restarted after a crash waits up to that long for its partitions.
 *   Heartbeats every third of it (at most kafkajs's 3 s); the rebalance timeout (how long a
 *   rebalance waits for live members to rejoin) is never below it.
 * - Retries: kafkajs's consumer default (5 retries of a failed batch, then a crash and a restart),
 *   except that a consumer never restarts once its stage's stop() has begun. kafkajs decides a
 *   restart after the crash's own disconnect, so a crash that lands while the stage drains (its
 *   batches failing, e.g. on a closed pool) would otherwise start the consumer again after stop()
 *   returned, and the process would never exit.
 */
export function stageConsumerConfig(lifecycle: Lifecycle, o: StageConsumerOptions): ConsumerConfig {
  const sessionTimeout = (o.sessionTimeoutSeconds ?? DEFAULT_SESSION_TIMEOUT_SECONDS) * 1000;
  return {
    groupId: o.groupId,
    sessionTimeout,
    heartbeatInterval: Math.min(3000, Math.floor(sessionTimeout / 3)),
    rebalanceTimeout: Math.max(60_000, sessionTimeout),
    allowAutoTopicCreation: false,
    maxBytesPerPartition: o.maxBytesPerPartition,
    maxBytes: 4 * o.maxBytesPerPartition,
    retry: { retries: 5, restartOnFailure: async () => !lifecycle.stopRequested },
  };
}

/** A stage still joining its consumer group after this long says why it may be waiting. */
export const SLOW_JOIN_NOTICE_MS = 5000;

/**
 * Awaits `running`, a consumer's run(), which resolves once the group has taken the member in and
 * assigned its partitions. A process restarted right after a crash waits there, silent, until the
 * broker drops the dead process's members (up to the session timeout); past SLOW_JOIN_NOTICE_MS
 * the stage logs once why.
 */
export async function joiningGroup(running: Promise<void>, log: Logger, config: ConsumerConfig): Promise<void> {
  const seconds = (config.sessionTimeout ?? DEFAULT_SESSION_TIMEOUT_SECONDS * 1000) / 1000;
  const notice = setTimeout(() => {
    log.info(
      { groupId: config.groupId },
      `still joining consumer group ${config.groupId} after ${SLOW_JOIN_NOTICE_MS / 1000} s: a ulbridge that stopped without leaving the group (kill -9, a crash) holds its partitions until the broker drops it, up to kafka.sessionTimeoutSeconds (${seconds} s)`,
    );
  }, SLOW_JOIN_NOTICE_MS);
  try {
    await running;
  } finally {
    clearTimeout(notice);
  }
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

/** Kafka's answers that mean "this consumer is not in the group's current generation". */
const MEMBERSHIP_ERRORS: ReadonlySet<string> = new Set([
  'UNKNOWN_MEMBER_ID',
  'ILLEGAL_GENERATION',
  'REBALANCE_IN_PROGRESS',
  'NOT_COORDINATOR_FOR_GROUP',
]);

/** The membership error (a kafkajs protocol error of that type) an error is or wraps, else null. */
export function membershipCause(e: unknown): Error | null {
  let c: unknown = e;
  for (let depth = 0; depth < 5 && c instanceof Error; depth++, c = c.cause) {
    if (MEMBERSHIP_ERRORS.has((c as { type?: unknown }).type as string)) return c;
  }
  return null;
}

/**
 * A stage's batch handler, with a membership error it throws unwrapped. kafkajs rejoins the group
 * when a handler throws such an error as it is, but crashes the consumer for good when it comes
 * wrapped, as kafkajs's own commitOffsets() wraps it (KafkaJSNonRetriableError): after a stall
 * longer than the session timeout (a paused VM, a frozen process) the broker has dropped the
 * member, and the first commit after it would have ended the stage. Rejoining is safe: every stage
 * resumes from a position it stored itself (the target's offsets, the committed CDC offsets).
 */
export function rejoinOnMembershipLoss<P>(handler: (payload: P) => Promise<void>): (payload: P) => Promise<void> {
  return async (payload) => {
    try {
      await handler(payload);
    } catch (e) {
      throw membershipCause(e) ?? e;
    }
  };
}
