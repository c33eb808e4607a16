import type { Admin, ConfigResourceTypes, ITopicConfig } from 'kafkajs';
import { UlbridgeError } from '../ops/errors.js';

/**
 * The topics the registration log needs, created if missing and checked if present:
 * - the log: compacted (`cleanup.policy=compact`), with a fixed partition count — partitions are
 *   chosen by AOR hash, so changing the count would move AORs between partitions;
 * - the dead-letter topic: plain retention (`cleanup.policy=delete`).
 * Idempotent: a second call (or a concurrent one) finds everything in place.
 */

export interface LogTopicsSpec {
  topic: string;
  partitions: number;
  deadLetterTopic: string;
  /** Default 1. */
  deadLetterPartitions?: number;
  /** Default -1: the broker's default.replication.factor. */
  replicationFactor?: number;
}

export interface EnsureTopicsResult {
  created: string[];
}

const TOPIC_RESOURCE = 2 as ConfigResourceTypes; // ConfigResourceTypes.TOPIC (an enum kafkajs does not export at run time)

export async function ensureTopics(admin: Admin, spec: LogTopicsSpec): Promise<EnsureTopicsResult> {
  if (!Number.isInteger(spec.partitions) || spec.partitions < 1) {
    throw new UlbridgeError('CONFIG_INVALID', `log partitions must be a positive integer, got ${spec.partitions}`);
  }
  if (spec.topic === spec.deadLetterTopic) {
    throw new UlbridgeError('CONFIG_INVALID', `the dead-letter topic must differ from the log topic "${spec.topic}"`);
  }
  const replicationFactor = spec.replicationFactor ?? -1;
  const wanted: ITopicConfig[] = [
    { topic: spec.topic, numPartitions: spec.partitions, replicationFactor, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
    {
      topic: spec.deadLetterTopic,
      numPartitions: spec.deadLetterPartitions ?? 1,
      replicationFactor,
      configEntries: [{ name: 'cleanup.policy', value: 'delete' }],
    },
  ];
  const existing = new Set(await admin.listTopics());
  const missing = wanted.filter((t) => !existing.has(t.topic));
  if (missing.length > 0) {
    try {
      await admin.createTopics({ topics: missing, waitForLeaders: true });
    } catch (e) {
      // A concurrent creator may have won; the checks below decide.
      const again = new Set(await admin.listTopics());
      if (missing.some((t) => !again.has(t.topic))) {
        throw new UlbridgeError(
          'TOPIC_CREATE_FAILED',
          `could not create ${missing.map((t) => t.topic).join(', ')}: ${e instanceof Error ? e.message : String(e)}`,
          2,
          { cause: e },
        );
      }
    }
  }
  await checkLogTopic(admin, spec);
  return { created: missing.map((t) => t.topic) };
}

async function checkLogTopic(admin: Admin, spec: LogTopicsSpec): Promise<void> {
  const { topics } = await admin.fetchTopicMetadata({ topics: [spec.topic] });
  const count = topics[0]?.partitions.length ?? 0;
  if (count !== spec.partitions) {
    throw new UlbridgeError(
      'LOG_TOPIC_MISMATCH',
      `log topic "${spec.topic}" has ${count} partitions but ${spec.partitions} are configured: AOR partitioning needs the count the log was written with; configure ${count} or write a new log topic`,
    );
  }
  const described = await admin.describeConfigs({
    resources: [{ type: TOPIC_RESOURCE, name: spec.topic, configNames: ['cleanup.policy'] }],
    includeSynonyms: false,
  });
  const policy = described.resources[0]?.configEntries.find((c) => c.configName === 'cleanup.policy')?.configValue ?? '';
  if (
    !policy
      .split(',')
      .map((p) => p.trim())
      .includes('compact')
  ) {
    throw new UlbridgeError(
      'LOG_TOPIC_MISMATCH',
      `log topic "${spec.topic}" has cleanup.policy=${policy || '(unset)'}; the registration log must be compacted: set cleanup.policy=compact`,
    );
  }
}
