/** Reading change events back from Kafka in tests. */
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, type Consumer } from 'kafkajs';

export interface TopicRecord {
  offset: string;
  /** Raw key and value as UTF-8 (value null for a tombstone). */
  key: string | null;
  value: string | null;
}

/**
 * Reads `topic` from the beginning until `count` records arrived (or `timeoutMs` passed, returning
 * what came). Extra records that arrive within `settleMs` after the count is reached are included,
 * so a test can assert that nothing unexpected followed.
 */
export async function readTopic(
  brokers: string[],
  topic: string,
  count: number,
  opts: { timeoutMs?: number; settleMs?: number } = {},
): Promise<TopicRecord[]> {
  const kafka = new Kafka({ clientId: 'ulbridge-test-reader', brokers, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `ulbridge-test-${randomBytes(6).toString('hex')}`, allowAutoTopicCreation: false });
  const out: TopicRecord[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, opts.timeoutMs ?? 30_000);
      let settling = false;
      void consumer.run({
        eachMessage: async ({ message }) => {
          out.push({
            offset: message.offset,
            key: message.key?.toString('utf8') ?? null,
            value: message.value ? message.value.toString('utf8') : null,
          });
          if (out.length >= count && !settling) {
            settling = true;
            clearTimeout(timer);
            setTimeout(resolve, opts.settleMs ?? 1000);
          }
        },
      });
    });
  } finally {
    await consumer.disconnect().catch(() => undefined);
  }
  return out;
}

/**
 * A consumer that holds `groupId` on `topic` with an assignment protocol kafkajs' default does not
 * speak: a stage that joins the group afterwards is refused with INCONSISTENT_GROUP_PROTOCOL,
 * which is not retriable, so it fails for good while its process runs on. Disconnect it after.
 */
export async function squatGroup(kafka: Kafka, groupId: string, topic: string): Promise<Consumer> {
  const squatter = kafka.consumer({
    groupId,
    partitionAssigners: [
      () => ({
        name: 'TestSquatterAssigner',
        version: 1,
        assign: async () => [],
        protocol: () => ({ name: 'TestSquatterAssigner', metadata: Buffer.alloc(0) }),
      }),
    ],
  });
  await squatter.connect();
  await squatter.subscribe({ topics: [topic], fromBeginning: true });
  await squatter.run({ eachMessage: async () => undefined });
  return squatter;
}
