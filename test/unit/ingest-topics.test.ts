import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Admin } from 'kafkajs';
import { ensureTopics } from '../../src/log/topics.js';
import { UlbridgeError } from '../../src/ops/errors.js';

interface FakeTopic {
  partitions: number;
  policy: string;
}

/** Just enough of the kafkajs Admin for ensureTopics, over an in-memory topic table. */
function fakeAdmin(topics: Record<string, FakeTopic>) {
  const created: unknown[] = [];
  const admin = {
    listTopics: async () => Object.keys(topics),
    createTopics: async ({
      topics: list,
    }: {
      topics: { topic: string; numPartitions: number; configEntries: { name: string; value: string }[] }[];
    }) => {
      created.push(...list);
      for (const t of list)
        topics[t.topic] = { partitions: t.numPartitions, policy: t.configEntries.find((c) => c.name === 'cleanup.policy')!.value };
      return true;
    },
    fetchTopicMetadata: async ({ topics: names }: { topics: string[] }) => ({
      topics: names.map((name) => ({ name, partitions: Array.from({ length: topics[name]!.partitions }, (_, i) => ({ partitionId: i })) })),
    }),
    describeConfigs: async ({ resources }: { resources: { name: string }[] }) => ({
      resources: resources.map((r) => ({
        resourceName: r.name,
        configEntries: [{ configName: 'cleanup.policy', configValue: topics[r.name]!.policy }],
      })),
    }),
  };
  return { admin: admin as unknown as Admin, created };
}

const spec = { topic: 'log', partitions: 6, deadLetterTopic: 'dlq' };

test('creates a compacted log and a plain dead-letter topic, then is idempotent', async () => {
  const topics: Record<string, FakeTopic> = {};
  const { admin, created } = fakeAdmin(topics);
  assert.deepEqual(await ensureTopics(admin, spec), { created: ['log', 'dlq'] });
  assert.deepEqual(created, [
    { topic: 'log', numPartitions: 6, replicationFactor: -1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
    { topic: 'dlq', numPartitions: 1, replicationFactor: -1, configEntries: [{ name: 'cleanup.policy', value: 'delete' }] },
  ]);
  assert.deepEqual(await ensureTopics(admin, spec), { created: [] });
  assert.equal(created.length, 2);
});

test('an existing log topic with another partition count or no compaction is refused', async () => {
  const wrongCount = fakeAdmin({ log: { partitions: 3, policy: 'compact' }, dlq: { partitions: 1, policy: 'delete' } });
  await assert.rejects(
    ensureTopics(wrongCount.admin, spec),
    (e: unknown) =>
      e instanceof UlbridgeError &&
      e.code === 'LOG_TOPIC_MISMATCH' &&
      e.message ===
        'log topic "log" has 3 partitions but 6 are configured: AOR partitioning needs the count the log was written with; configure 3 or write a new log topic',
  );
  const notCompacted = fakeAdmin({ log: { partitions: 6, policy: 'delete' }, dlq: { partitions: 1, policy: 'delete' } });
  await assert.rejects(
    ensureTopics(notCompacted.admin, spec),
    (e: unknown) =>
      e instanceof UlbridgeError &&
      e.code === 'LOG_TOPIC_MISMATCH' &&
      e.message === 'log topic "log" has cleanup.policy=delete; the registration log must be compacted: set cleanup.policy=compact',
  );
  const both = fakeAdmin({ log: { partitions: 6, policy: 'compact,delete' }, dlq: { partitions: 1, policy: 'delete' } });
  assert.deepEqual(await ensureTopics(both.admin, spec), { created: [] });
});
