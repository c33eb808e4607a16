/** Kafka reads of the soak: a topic to its end, consumer-group lag, dead letters by reason. */
import { randomBytes } from 'node:crypto';
import type { Kafka } from 'kafkajs';

/** Calls `each` for every record of `topic` up to the high watermarks at the time of the call. */
export async function readToEnd(
  kafka: Kafka,
  topic: string,
  each: (partition: number, offset: string, value: Buffer | null) => void,
): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  let ends: Map<number, bigint>;
  try {
    ends = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)]));
  } finally {
    await admin.disconnect();
  }
  const remaining = new Set([...ends].filter(([, h]) => h > 0n).map(([p]) => p));
  if (remaining.size === 0) return 0;
  const consumer = kafka.consumer({
    groupId: `ulbridge-soak-reader-${randomBytes(6).toString('hex')}`,
    allowAutoTopicCreation: false,
    maxBytesPerPartition: 8 * 1024 * 1024,
  });
  let n = 0;
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`reading ${topic} to its end took more than 10 minutes`)), 600_000);
      void consumer
        .run({
          eachMessage: async ({ partition, message }) => {
            const end = ends.get(partition)!;
            if (BigInt(message.offset) < end) {
              each(partition, message.offset, message.value);
              n++;
            }
            if (BigInt(message.offset) >= end - 1n) {
              remaining.delete(partition);
              if (remaining.size === 0) {
                clearTimeout(timer);
                resolve();
              }
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect().catch(() => undefined);
  }
  return n;
}

/** Records of `topic` not yet committed by consumer group `groupId` (sum over partitions). */
export async function groupLag(kafka: Kafka, groupId: string, topic: string): Promise<bigint> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ends = await admin.fetchTopicOffsets(topic);
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    let lag = 0n;
    for (const e of ends) {
      const c = committed?.partitions.find((p) => p.partition === e.partition)?.offset ?? '-1';
      const next = BigInt(c) < 0n ? BigInt(e.low) : BigInt(c);
      lag += BigInt(e.high) - next > 0n ? BigInt(e.high) - next : 0n;
    }
    return lag;
  } finally {
    await admin.disconnect();
  }
}

/** High watermark per partition. */
export async function highWatermarks(kafka: Kafka, topic: string): Promise<Map<number, bigint>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)]));
  } finally {
    await admin.disconnect();
  }
}

export interface LetterTally {
  total: number;
  /** Distinct (stage, source topic, partition, offset): a crash between produce and commit may repeat a letter. */
  distinct: number;
  /** stage -> reason -> distinct letters. */
  byStageReason: Map<string, Map<string, number>>;
  /** Ingest letters of the CDC topic: offset -> reasons seen. */
  ingestByOffset: Map<string, Set<string>>;
  /** Letters that are not JSON or have no reason. */
  malformed: number;
}

interface LetterDoc {
  stage?: string;
  reason?: string;
  source?: { topic?: string; partition?: number; offset?: string | number };
  key?: string | null;
}

/** Reads the whole dead-letter topic: each letter is JSON with a `reason` (docs/ingest.md §7). */
export async function tallyDeadLetters(kafka: Kafka, topic: string, cdcTopic: string): Promise<LetterTally> {
  const t: LetterTally = { total: 0, distinct: 0, byStageReason: new Map(), ingestByOffset: new Map(), malformed: 0 };
  const seen = new Set<string>();
  await readToEnd(kafka, topic, (_p, _o, value) => {
    t.total++;
    let doc: LetterDoc;
    try {
      doc = JSON.parse(value?.toString('utf8') ?? 'null') as LetterDoc;
    } catch {
      t.malformed++;
      return;
    }
    if (!doc || typeof doc.reason !== 'string') {
      t.malformed++;
      return;
    }
    // Ingest letters carry the CDC topic as their source; the stage field is newer than they are.
    const stage = doc.stage ?? (doc.source?.topic === cdcTopic ? 'ingest' : 'project');
    const id = `${stage}|${doc.source?.topic}|${doc.source?.partition}|${doc.source?.offset}|${stage === 'ingest' ? '' : `${doc.reason}|${doc.key ?? ''}`}`;
    if (stage === 'ingest' && doc.source?.topic === cdcTopic) {
      const off = String(doc.source.offset);
      const set = t.ingestByOffset.get(off) ?? new Set<string>();
      set.add(doc.reason);
      t.ingestByOffset.set(off, set);
    }
    if (seen.has(id)) return;
    seen.add(id);
    t.distinct++;
    const m = t.byStageReason.get(stage) ?? new Map<string, number>();
    m.set(doc.reason, (m.get(doc.reason) ?? 0) + 1);
    t.byStageReason.set(stage, m);
  });
  return t;
}
