import type { Kafka, Producer, ProducerBatch, TopicMessages } from 'kafkajs';
import { AorPartitioner } from './partitioner.js';

/**
 * The producer that writes the registration log and the dead-letter topic: idempotent (the broker
 * drops retried duplicates within a producer session), one request in flight so retries cannot
 * reorder a partition, all in-sync replicas acknowledge (acks = -1), AOR partitioning, and no
 * automatic topic creation (ensureTopics does that with the right settings).
 */
export function createLogProducer(kafka: Kafka): Producer {
  return kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: AorPartitioner,
  });
}

export const LOG_ACKS = -1;

/** Sends records for several topics in one acknowledged request set. */
export async function sendAcknowledged(producer: Producer, topicMessages: TopicMessages[]): Promise<void> {
  const batch: ProducerBatch = { topicMessages: topicMessages.filter((t) => t.messages.length > 0), acks: LOG_ACKS };
  if (batch.topicMessages!.length === 0) return;
  await producer.sendBatch(batch);
}
