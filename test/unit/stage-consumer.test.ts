import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConsumerConfig, Kafka } from 'kafkajs';
import { Lifecycle } from '../../src/ops/lifecycle.js';
import { silentLogger } from '../../src/ops/logger.js';
import { Metrics } from '../../src/ops/metrics.js';
import { stageConsumerConfig } from '../../src/ops/stageConsumer.js';
import { createProjection } from '../../src/project/projection.js';
import { compileTarget } from '../../src/project/target.js';
import type { TargetStore } from '../../src/project/targetStore.js';

/**
 * Every stage's consumer (ingest, projection, reverse sync) is configured by stageConsumerConfig:
 * kafka.sessionTimeoutSeconds sets how long a crashed ulbridge keeps its partitions from the one
 * restarted after it. The ingest's use of it is in ingest-lifecycle.test.ts.
 */

const timings = (c: ConsumerConfig) => ({
  sessionTimeout: c.sessionTimeout,
  heartbeatInterval: c.heartbeatInterval,
  rebalanceTimeout: c.rebalanceTimeout,
});

test('the session timeout, heartbeats every third of it (at most 3 s), the rebalance timeout never below it', () => {
  const lifecycle = new Lifecycle('test', () => undefined);
  const config = (sessionTimeoutSeconds?: number) =>
    stageConsumerConfig(lifecycle, {
      groupId: 'g',
      maxBytesPerPartition: 1024,
      ...(sessionTimeoutSeconds ? { sessionTimeoutSeconds } : {}),
    });
  assert.deepEqual(timings(config()), { sessionTimeout: 30_000, heartbeatInterval: 3000, rebalanceTimeout: 60_000 }, "kafkajs's defaults");
  assert.deepEqual(timings(config(6)), { sessionTimeout: 6000, heartbeatInterval: 2000, rebalanceTimeout: 60_000 });
  assert.deepEqual(timings(config(300)), { sessionTimeout: 300_000, heartbeatInterval: 3000, rebalanceTimeout: 300_000 });
  const c = config();
  assert.equal(c.groupId, 'g');
  assert.equal(c.allowAutoTopicCreation, false);
  assert.deepEqual([c.maxBytesPerPartition, c.maxBytes], [1024, 4096]);
});

test("the projection's consumer gets kafka.sessionTimeoutSeconds", async () => {
  let seen: ConsumerConfig | undefined;
  const kafka = {
    producer: () => ({ connect: async () => undefined, disconnect: async () => undefined }),
    consumer: (c: ConsumerConfig) => {
      seen = c;
      return {
        events: { CRASH: 'consumer.crash', GROUP_JOIN: 'consumer.group_join' },
        on: () => undefined,
        connect: async () => {
          throw new Error('no broker in this test');
        },
        disconnect: async () => undefined,
      };
    },
  } as unknown as Kafka;
  const target = compileTarget({
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
  const store = {
    target,
    dialect: 'postgres',
    ensureState: async () => undefined,
    storedOffsets: async () => new Map(),
    close: async () => undefined,
  } as unknown as TargetStore;
  const projection = createProjection({
    kafka,
    store,
    target,
    logTopic: 'ulbridge.log',
    logPartitions: 1,
    deadLetterTopic: 'ulbridge.dlq',
    groupId: 'ulbridge-project-main',
    sessionTimeoutSeconds: 8,
    logger: silentLogger,
    metrics: new Metrics(),
  });
  await assert.rejects(projection.start(), /no broker in this test/);
  assert.deepEqual(timings(seen!), { sessionTimeout: 8000, heartbeatInterval: 2666, rebalanceTimeout: 60_000 });
  assert.equal(seen!.groupId, 'ulbridge-project-main');
});
