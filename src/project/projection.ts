import { Partitioners, type Consumer, type EachBatchPayload, type Kafka, type Producer } from 'kafkajs';
import type { Logger } from '../ops/logger.js';
import type { Metrics } from '../ops/metrics.js';
import type { DeadLetter } from './applyBatch.js';
import type { Target } from './target.js';
import type { TargetStore } from './targetStore.js';

export interface ProjectionOptions {
  kafka: Kafka;
  /** The target's database (PostgreSQL or MySQL/MariaDB, see targetStore.ts); its owner closes it. */
  store: TargetStore;
  target: Target;
  logTopic: string;
  deadLetterTopic: string;
  groupId: string;
  logger: Logger;
  metrics: Metrics;
  /** Partitions applied at once, each in its own transaction (default 4; order within one is kept). */
  concurrency?: number;
  /** Upper bound of one fetch per partition (default 512 KiB): bounds batch size and memory. */
  maxBytesPerPartition?: number;
  /** Unix seconds "now" used to decide expiry; injectable for tests. */
  now?: () => number;
}

export interface Projection {
  start(): Promise<void>;
  /** Finishes the batch in flight (committed), then leaves the group. */
  stop(): Promise<void>;
  readonly running: boolean;
  /** Why the projection gave up for good (its consumer crashed without restart), else null. */
  readonly failure: string | null;
}

/**
 * Registration log -> one target table. Offsets live in the target database and commit with the
 * rows; Kafka's committed offsets are only informational (kept for lag tools).
 */
export function createProjection(opts: ProjectionOptions): Projection {
  const { kafka, store, target, logger, metrics } = opts;
  const log = logger.child({ stage: 'project', target: target.name });
  // Fetch size bounds memory (every fetched message is decoded and planned at once, up to
  // `concurrency` partitions in parallel) and the batch size: 512 KiB is ~1,500 events per
  // transaction, enough to amortise its round trips.
  const consumer: Consumer = kafka.consumer({
    groupId: opts.groupId,
    allowAutoTopicCreation: false,
    maxBytesPerPartition: opts.maxBytesPerPartition ?? 512 * 1024,
    maxBytes: 4 * (opts.maxBytesPerPartition ?? 512 * 1024),
  });
  // Dead letters only: a duplicate after a crash is harmless, so no idempotent producer.
  const producer: Producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  const now = opts.now ?? (() => Math.floor(Date.now() / 1000));
  let running = false;
  let failure: string | null = null;

  async function sendDeadLetters(partition: number, letters: DeadLetter[]): Promise<void> {
    await producer.send({
      topic: opts.deadLetterTopic,
      acks: -1,
      messages: letters.map((l) => ({
        key: l.key,
        value: JSON.stringify({
          stage: 'project',
          target: target.name,
          reason: l.reason,
          message: l.message,
          source: { topic: opts.logTopic, partition, offset: l.offset },
          key: l.key?.toString('utf8') ?? null,
          value: l.value?.toString('base64') ?? null,
        }),
        headers: { 'ulbridge-reason': l.reason },
      })),
    });
    for (const l of letters) metrics.deadLetters.inc({ pipeline: target.name, reason: l.reason });
  }

  async function eachBatch({ batch, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    if (!isRunning() || isStale() || batch.messages.length === 0) return;
    const started = process.hrtime.bigint();
    const result = await store.applyBatch({
      topic: batch.topic,
      partition: batch.partition,
      messages: batch.messages.map((m) => ({ offset: m.offset, key: m.key, value: m.value })),
      now: now(),
      deadLetter: (letters) => sendDeadLetters(batch.partition, letters),
    });
    const labels = { stage: 'project', pipeline: target.name };
    metrics.eventsIn.inc(labels, batch.messages.length);
    metrics.eventsOut.inc({ ...labels, outcome: 'applied' }, result.applied);
    metrics.eventsOut.inc({ ...labels, outcome: 'stale' }, result.stale);
    metrics.eventsOut.inc({ ...labels, outcome: 'tombstone' }, result.tombstones);
    metrics.eventsOut.inc({ ...labels, outcome: 'already_applied' }, result.alreadyApplied);
    metrics.eventsOut.inc({ ...labels, outcome: 'kept_target' }, result.kept);
    const committedAt = Date.now();
    for (const t of result.sourceTimesMs) metrics.applyLatency.observe({ target: target.name }, Math.max(0, committedAt - t) / 1000);
    const lastTs = result.sourceTimesMs.at(-1);
    if (lastTs !== undefined) metrics.lastEventAge.set(labels, lastTs / 1000);
    metrics.batchSeconds.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
    const lastOffset = batch.messages.at(-1)!.offset;
    const next = (BigInt(lastOffset) + 1n).toString();
    metrics.lag.set({ ...labels, topic: batch.topic, partition: String(batch.partition) }, Math.max(0, Number(BigInt(batch.highWatermark) - BigInt(next))));
    if (result.deadLetters.length > 0) log.warn({ partition: batch.partition, deadLetters: result.deadLetters.map((d) => d.reason) }, 'events sent to the dead-letter topic');
    await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next }]);
    await heartbeat();
  }

  return {
    get running() {
      return running;
    },
    get failure() {
      return failure;
    },
    async start() {
      await store.ensureState();
      await producer.connect();
      await consumer.connect();
      consumer.on(consumer.events.GROUP_JOIN, (e) => {
        const partitions = e.payload.memberAssignment[opts.logTopic] ?? [];
        log.info({ partitions }, 'joined the consumer group');
        void store
          .storedOffsets(opts.logTopic, partitions)
          .then((stored) => {
            for (const [partition, offset] of stored) consumer.seek({ topic: opts.logTopic, partition, offset });
          })
          .catch((err: unknown) => log.error({ err }, 'could not read stored offsets; events below them are skipped by the offset check'));
      });
      consumer.on(consumer.events.CRASH, (e) => {
        log.error({ err: e.payload.error, restart: e.payload.restart }, 'projection consumer crashed');
        if (!e.payload.restart) failure = e.payload.error.message;
      });
      await consumer.subscribe({ topic: opts.logTopic, fromBeginning: true });
      await consumer.run({ autoCommit: false, eachBatchAutoResolve: true, partitionsConsumedConcurrently: opts.concurrency ?? 4, eachBatch });
      running = true;
      log.info({ table: target.table, release: target.release, hashSize: target.hashSize }, 'projection started');
    },
    async stop() {
      if (!running) return;
      running = false;
      await consumer.disconnect();
      await producer.disconnect();
      log.info('projection stopped');
    },
  };
}
