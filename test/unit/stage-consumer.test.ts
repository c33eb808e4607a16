import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConsumerConfig } from 'kafkajs';
import { Lifecycle } from '../../src/ops/lifecycle.js';
import { createLogger } from '../../src/ops/logger.js';
import { joiningGroup, SLOW_JOIN_NOTICE_MS, stageConsumerConfig } from '../../src/ops/stageConsumer.js';
import { fakeProjection } from '../support/fakeProjection.js';

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
  const f = fakeProjection({ groupId: 'ulbridge-project-main', sessionTimeoutSeconds: 8 });
  await f.projection.start();
  assert.deepEqual(timings(f.consumerConfig()), { sessionTimeout: 8000, heartbeatInterval: 2666, rebalanceTimeout: 60_000 });
  assert.equal(f.consumerConfig().groupId, 'ulbridge-project-main');
  await f.projection.stop();
});

test('a stage still joining its group after 5 s says once why it may wait; a quick join says nothing', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const lines: string[] = [];
  const log = createLogger('info', { write: (line: string) => lines.push(line) });
  const config = stageConsumerConfig(new Lifecycle('test', () => undefined), {
    groupId: 'ulbridge-project-main',
    maxBytesPerPartition: 1024,
    sessionTimeoutSeconds: 10,
  });
  const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
  const joinAfter = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  const quick = joiningGroup(joinAfter(SLOW_JOIN_NOTICE_MS - 1), log, config);
  t.mock.timers.tick(SLOW_JOIN_NOTICE_MS - 1);
  await quick;
  t.mock.timers.tick(60_000);
  await tick();
  assert.deepEqual(lines, [], 'joined in time: no notice, and none later');

  const slow = joiningGroup(joinAfter(30_000), log, config);
  t.mock.timers.tick(SLOW_JOIN_NOTICE_MS);
  await tick();
  t.mock.timers.tick(30_000 - SLOW_JOIN_NOTICE_MS);
  await slow;
  assert.deepEqual(
    lines
      .map((l) => JSON.parse(l) as { level: number; groupId: string; msg: string })
      .map(({ level, groupId, msg }) => ({ level, groupId, msg })),
    [
      {
        level: 30,
        groupId: 'ulbridge-project-main',
        msg: 'still joining consumer group ulbridge-project-main after 5 s: a ulbridge that stopped without leaving the group (kill -9, a crash) holds its partitions until the broker drops it, up to kafka.sessionTimeoutSeconds (10 s)',
      },
    ],
  );

  const failed = joiningGroup(Promise.reject(new Error('broker gone')), log, config);
  await assert.rejects(failed, /broker gone/);
  t.mock.timers.tick(60_000);
  await tick();
  assert.equal(lines.length, 1, 'a failed join leaves no notice behind');
});
