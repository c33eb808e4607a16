/**
 * The GTIDs of the last change events in a Debezium topic (value.source.gtid): which MySQL/MariaDB
 * transactions the connector has written to Kafka, whatever its committed offset says.
 */
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';

export async function recentSourceGtids(brokers: string[], topic: string, perPartition = 500, timeoutMs = 10_000): Promise<Set<string>> {
  const kafka = new Kafka({
    clientId: 'ulbridge-status-capture',
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3000,
    requestTimeout: 10_000,
    retry: { retries: 2 },
  });
  const gtids = new Set<string>();
  const admin = kafka.admin();
  await admin.connect();
  let marks: Array<{ partition: number; low: string; high: string }>;
  try {
    marks = await admin.fetchTopicOffsets(topic);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  const wanted = new Map(marks.filter((m) => BigInt(m.high) > BigInt(m.low)).map((m) => [m.partition, m]));
  if (wanted.size === 0) return gtids;
  const consumer = kafka.consumer({ groupId: `ulbridge-status-${randomBytes(6).toString('hex')}`, allowAutoTopicCreation: false });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      const left = new Set(wanted.keys());
      void consumer
        .run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            const m = wanted.get(partition);
            if (!m || !left.has(partition)) return;
            if (message.value) {
              try {
                const doc = JSON.parse(message.value.toString('utf8')) as {
                  payload?: { source?: { gtid?: unknown } };
                  source?: { gtid?: unknown };
                };
                const g = (doc.payload ?? doc).source?.gtid;
                if (typeof g === 'string' && g) gtids.add(g);
              } catch {
                // Not a change event: nothing to learn from it.
              }
            }
            if (BigInt(message.offset) >= BigInt(m.high) - 1n) {
              left.delete(partition);
              if (left.size === 0) {
                clearTimeout(timer);
                resolve();
              }
            }
          },
        })
        .catch(() => resolve());
      for (const m of wanted.values()) {
        const from = BigInt(m.high) - BigInt(perPartition);
        consumer.seek({ topic, partition: m.partition, offset: String(from > BigInt(m.low) ? from : BigInt(m.low)) });
      }
    });
  } finally {
    await consumer.disconnect().catch(() => undefined);
  }
  return gtids;
}
