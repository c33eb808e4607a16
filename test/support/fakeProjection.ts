import type { ConsumerConfig, EachBatchPayload, Kafka } from 'kafkajs';
import { silentLogger } from '../../src/ops/logger.js';
import { Metrics } from '../../src/ops/metrics.js';
import { emptyBatchResult } from '../../src/project/batchSteps.js';
import type { BatchInput, BatchResult } from '../../src/project/batch.js';
import { createProjection, type Projection } from '../../src/project/projection.js';
import { compileTarget } from '../../src/project/target.js';
import type { TargetStore } from '../../src/project/targetStore.js';

/** A 4.0 target with hash_size 9, for unit tests that never reach its database. */
export const unitTarget = compileTarget({
  name: 'main',
  db: 'postgresql://127.0.0.1/target',
  table: 'location',
  release: '4.0',
  hashSize: 9,
  useDomain: false,
  signedness: 'signed',
  timeZone: 'UTC',
  stateSchema: 'ulbridge_main',
});

export interface FakeProjection {
  projection: Projection;
  /** The config the projection gave kafkajs for its consumer (after start()). */
  consumerConfig(): ConsumerConfig;
  /** The batch handler the projection gave its consumer's run() (after start()). */
  eachBatch(): (p: EachBatchPayload) => Promise<void>;
}

/**
 * For unit tests of the projection's own logic: a projection over a fake Kafka (its consumer joins
 * at once and hands over its batch handler) and a fake target store whose applyBatch is `result`.
 */
export function fakeProjection(
  o: { result?: (b: BatchInput) => BatchResult; groupId?: string; sessionTimeoutSeconds?: number } = {},
): FakeProjection {
  let eachBatch: ((p: EachBatchPayload) => Promise<void>) | null = null;
  let consumerConfig: ConsumerConfig | null = null;
  const kafka = {
    producer: () => ({ connect: async () => undefined, disconnect: async () => undefined, send: async () => [] }),
    consumer: (c: ConsumerConfig) => {
      consumerConfig = c;
      return {
        events: { CRASH: 'consumer.crash', GROUP_JOIN: 'consumer.group_join' },
        on: () => undefined,
        connect: async () => undefined,
        subscribe: async () => undefined,
        run: async (r: { eachBatch: (p: EachBatchPayload) => Promise<void> }) => {
          eachBatch = r.eachBatch;
        },
        commitOffsets: async () => undefined,
        disconnect: async () => undefined,
      };
    },
  } as unknown as Kafka;
  const target = unitTarget;
  const store: TargetStore = {
    target,
    dialect: 'postgres',
    ensureState: async () => undefined,
    storedOffsets: async () => new Map(),
    applyBatch: async (b) => (o.result ?? (() => emptyBatchResult()))(b),
    close: async () => undefined,
  };
  const projection = createProjection({
    kafka,
    store,
    target,
    logTopic: 'ulbridge.log',
    logPartitions: 1,
    deadLetterTopic: 'ulbridge.dlq',
    groupId: o.groupId ?? 'g',
    ...(o.sessionTimeoutSeconds === undefined ? {} : { sessionTimeoutSeconds: o.sessionTimeoutSeconds }),
    logger: silentLogger,
    metrics: new Metrics(),
  });
  return {
    projection,
    consumerConfig: () => consumerConfig!,
    eachBatch: () => eachBatch!,
  };
}
