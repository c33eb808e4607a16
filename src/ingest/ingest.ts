import type { Admin, EachBatchPayload, Producer } from 'kafkajs';
import { createDecoder, type Decoder } from '../cdc/decoder.js';
import { createLogProducer, sendAcknowledged } from '../log/producer.js';
import { ensureTopics } from '../log/topics.js';
import { UlbridgeError, wrapError } from '../ops/errors.js';
import { stageConsumerRetry } from '../ops/consumerRetry.js';
import { Lifecycle, type LifecycleState } from '../ops/lifecycle.js';
import { compileIngestOptions, type CompiledIngestOptions, type IngestOptions } from './config.js';
import type { RawRecord } from '../log/deadLetter.js';
import { translate, type Outcome, type Translation } from './translate.js';

/**
 * The ingest stage: Debezium topic of one legacy table -> registration log.
 *
 * Delivery is at-least-once: a fetched batch is decoded, its log and dead-letter records are
 * produced with an idempotent producer (acks = all), and only after the broker acknowledged them
 * are the consumer offsets committed. A crash between the two re-produces those records on
 * restart; the projection applies an event only when its source position is newer than the one it
 * holds for the binding, so a duplicate changes nothing.
 *
 * Lifecycle (src/ops/lifecycle.ts): stop() is valid in any state; it waits for the batch in flight
 * to be produced and committed, then disconnects.
 */

export type IngestState = LifecycleState;

export interface IngestStatus {
  state: IngestState;
  /** Set when state is 'failed'. */
  error: string | null;
}

export interface Ingest {
  start(): Promise<void>;
  /** Valid in any state: waits for the batch in flight to be produced and committed, then leaves the group. */
  stop(): Promise<void>;
  status(): IngestStatus;
}

export function createIngest(options: IngestOptions): Ingest {
  const opts = compileIngestOptions(options);
  const { source, log, metrics } = opts;
  const logger = opts.logger.child({ stage: 'ingest', pipeline: source.name });
  const decoder = createDecoder({
    name: source.name,
    release: source.release,
    timeZone: source.timeZone,
    caseSensitive: source.caseSensitive,
  });
  const labels = { stage: 'ingest', pipeline: source.name } as const;
  const lifecycle = new Lifecycle(`ingest "${source.name}"`, (what, err) => logger.warn({ err }, `${what} failed to close`));

  async function start(): Promise<void> {
    const admin = opts.kafka.admin();
    await admin.connect();
    try {
      const { created } = await ensureTopics(admin, log);
      if (created.length > 0) logger.info({ created }, 'created registration log topics');
      await waitForTopic(admin, source.topic);
    } finally {
      await admin.disconnect();
    }
    const producer = createLogProducer(opts.kafka);
    lifecycle.hold('log producer', () => producer.disconnect());
    await producer.connect();
    lifecycle.checkpoint();
    const consumer = opts.kafka.consumer({ groupId: opts.groupId, allowAutoTopicCreation: false, retry: stageConsumerRetry(lifecycle) });
    // The consumer first on stop (held last): its disconnect waits for the batch in flight.
    lifecycle.hold('consumer', () => consumer.disconnect());
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      logger.error({ err: payload.error, restart: payload.restart }, 'ingest consumer crashed');
      if (!payload.restart && !lifecycle.stopRequested) lifecycle.fail(payload.error);
    });
    await consumer.connect();
    lifecycle.checkpoint();
    await consumer.subscribe({ topics: [source.topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (payload) => handleBatch(opts, decoder, producer, payload),
    });
    logger.info({ topic: source.topic, log: log.topic, release: source.release }, 'ingest running');
  }

  /**
   * Debezium creates the change topic with the first event it publishes, which can be after the
   * bridge starts: wait for it (saying so once) instead of failing, until stop() is called.
   */
  async function waitForTopic(admin: Admin, topic: string): Promise<void> {
    for (let said = false; ; said = true) {
      if ((await admin.listTopics()).includes(topic)) return;
      if (!said) logger.warn({ topic }, 'waiting for the Debezium change topic to appear (is the connector registered and running?)');
      await lifecycle.sleep(1000);
    }
  }

  return {
    async start() {
      try {
        await lifecycle.start(start);
      } catch (e) {
        throw e instanceof UlbridgeError ? e : wrapError('INGEST_START_FAILED', `ingest "${source.name}" could not start`, e);
      }
    },
    async stop() {
      const was = lifecycle.state;
      await lifecycle.stop();
      if (was === 'running') logger.info('ingest stopped');
    },
    status: () => ({ state: lifecycle.state, error: lifecycle.failure }),
  };

  async function handleBatch(o: CompiledIngestOptions, d: Decoder, p: Producer, payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat, isStale, commitOffsetsIfNecessary } = payload;
    const timer = metrics.batchSeconds.startTimer(labels);
    const partitionLabels = { ...labels, topic: batch.topic, partition: String(batch.partition) };
    try {
      for (let i = 0; i < batch.messages.length; i += o.maxRecordsPerSend) {
        if (isStale()) return; // partition revoked in a rebalance: its new owner resumes from the last commit
        const chunk = batch.messages.slice(i, i + o.maxRecordsPerSend);
        const records: RawRecord[] = chunk.map((m) => ({
          topic: batch.topic,
          partition: batch.partition,
          offset: m.offset,
          key: m.key,
          value: m.value,
        }));
        metrics.eventsIn.inc(labels, records.length);
        const t = translate(d, o.log.partitions, records);
        await sendAcknowledged(p, [
          { topic: o.log.topic, messages: t.log },
          { topic: o.log.deadLetterTopic, messages: t.deadLetters },
        ]);
        const last = chunk[chunk.length - 1]!.offset;
        const next = (BigInt(last) + 1n).toString();
        // The batch's own commit: consumer.commitOffsets() is a silent no-op once stop() has begun,
        // which would lose the commits of the batch being drained.
        await commitOffsetsIfNecessary({ topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: next }] }] });
        resolveOffset(last);
        record(t);
        metrics.lag.set(partitionLabels, Math.max(0, Number(BigInt(batch.highWatermark) - BigInt(next))));
        await heartbeat();
      }
    } finally {
      timer();
    }
  }

  function record(t: Translation): void {
    for (const [outcome, n] of Object.entries(t.outcomes) as [Outcome, number][]) {
      if (n > 0) metrics.eventsOut.inc({ ...labels, outcome }, n);
    }
    for (const [reason, n] of t.reasons) metrics.deadLetters.inc({ pipeline: source.name, reason }, n);
    for (const doc of t.failures) {
      logger.warn(
        { reason: doc.reason, topic: doc.source.topic, partition: doc.source.partition, offset: doc.source.offset },
        `dead letter: ${doc.message}`,
      );
    }
    if (t.lastTsMs !== null) metrics.lastEventAge.set(labels, Number(t.lastTsMs) / 1000);
  }
}
