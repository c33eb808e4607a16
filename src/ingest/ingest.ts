import type { Admin, EachBatchPayload, Producer } from 'kafkajs';
import { createDecoder, type Decoder } from '../cdc/decoder.js';
import { createLogProducer, sendAcknowledged } from '../log/producer.js';
import { ensureTopics } from '../log/topics.js';
import { UlbridgeError, wrapError } from '../ops/errors.js';
import { failStageOnCrash, joiningGroup, rejoinOnMembershipLoss, stageConsumerConfig } from '../ops/stageConsumer.js';
import { Lifecycle, type LifecycleState } from '../ops/lifecycle.js';
import { linger, snapshotLingerMs, valueBytes } from '../ops/snapshotLinger.js';
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

/** Bytes per partition and fetch: ~1,600 Debezium values with schemas, ~8,000 without. */
export const FETCH_BYTES_PER_PARTITION = 8 * 1024 * 1024;

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
  /** Calls `listener` once, with the failure, when the stage fails (its start threw, or it crashed). */
  onFailure(listener: (message: string) => void): void;
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
    const consumerConfig = stageConsumerConfig(lifecycle, {
      groupId: opts.groupId,
      sessionTimeoutSeconds: opts.sessionTimeoutSeconds,
      // Fetches of many chunks, so that decoding and produce overlap (see handleBatch): kafkajs's
      // default of 1 MiB per partition is ~200 Debezium values with schemas, one chunk.
      maxBytesPerPartition: FETCH_BYTES_PER_PARTITION,
    });
    const consumer = opts.kafka.consumer(consumerConfig);
    // The consumer first on stop (held last): its disconnect waits for the batch in flight.
    lifecycle.hold('consumer', () => consumer.disconnect());
    failStageOnCrash(consumer, lifecycle, logger, 'ingest');
    await consumer.connect();
    lifecycle.checkpoint();
    await consumer.subscribe({ topics: [source.topic], fromBeginning: true });
    await joiningGroup(
      consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: 1,
        eachBatch: rejoinOnMembershipLoss((payload) => handleBatch(opts, decoder, producer, payload)),
      }),
      logger,
      consumerConfig,
    );
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
    onFailure: (listener) => lifecycle.onFailure(listener),
  };

  /**
   * One fetched batch, in chunks of maxRecordsPerSend, pipelined without giving up the order of
   * anything that matters: chunk i+1 is decoded while chunk i's produce is in flight; chunk i+1 is
   * produced only after chunk i was acknowledged (one produce at a time, so the idempotent
   * producer's sequence numbers never race and the log keeps the topic's order); chunk i's offset
   * commit is issued once chunk i is acknowledged and travels beside chunk i+1's produce, and
   * commits are issued in offset order, each only after the previous one completed. The batch
   * returns (and kafkajs fetches the next one) only when every chunk is acknowledged and every
   * commit completed, so a failure anywhere fails the batch and kafkajs retries it from the last
   * resolved offset, which is never past an unacknowledged record.
   */
  async function handleBatch(o: CompiledIngestOptions, d: Decoder, p: Producer, payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat, isRunning, isStale, commitOffsetsIfNecessary } = payload;
    const timer = metrics.batchSeconds.startTimer(labels);
    const partitionLabels = { ...labels, topic: batch.topic, partition: String(batch.partition) };
    const commits = new CommitChain((next) =>
      // The batch's own commit: consumer.commitOffsets() is a silent no-op once stop() has begun,
      // which would lose the commits of the batch being drained.
      commitOffsetsIfNecessary({ topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: next }] }] }),
    );
    let inFlight: { send: Promise<void>; last: string; t: Translation } | null = null;
    let snapshotReads = 0;
    const acknowledged = async (f: { send: Promise<void>; last: string; t: Translation }): Promise<void> => {
      await f.send;
      const next = (BigInt(f.last) + 1n).toString();
      commits.commit(next);
      resolveOffset(f.last);
      record(f.t);
      metrics.lag.set(partitionLabels, Math.max(0, Number(BigInt(batch.highWatermark) - BigInt(next))));
      await heartbeat();
    };
    try {
      for (let i = 0; i < batch.messages.length; i += o.maxRecordsPerSend) {
        if (isStale()) break; // partition revoked in a rebalance: its new owner resumes from the last commit
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
        snapshotReads += t.snapshotReads;
        if (inFlight) {
          const previous = inFlight;
          inFlight = null;
          await acknowledged(previous);
          if (isStale()) break;
        }
        inFlight = {
          send: sendAcknowledged(p, [
            { topic: o.log.topic, messages: t.log },
            { topic: o.log.deadLetterTopic, messages: t.deadLetters },
          ]),
          last: chunk[chunk.length - 1]!.offset,
          t,
        };
      }
      if (inFlight) await acknowledged(inFlight);
      await commits.drain();
    } catch (e) {
      // Nothing of this batch may be left running behind kafkajs's retry: let the commits settle.
      await commits.drain().catch(() => undefined);
      throw e;
    } finally {
      timer();
    }
    const shape = { records: batch.messages.length, snapshotReads, bytes: valueBytes(batch.messages) };
    await linger(snapshotLingerMs(shape, FETCH_BYTES_PER_PARTITION), isRunning);
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

/**
 * Offset commits of one partition, issued in the order given, each after the previous one
 * completed (a commit asked for while another is in flight waits for it). The first failure is
 * kept and thrown by drain(); commits after a failure are not issued.
 */
export class CommitChain {
  private tail: Promise<void> = Promise.resolve();
  private pending = 0;
  private failure: { error: unknown } | null = null;

  constructor(private readonly send: (next: string) => Promise<void>) {}

  commit(next: string): void {
    if (this.failure) return;
    const run = async (): Promise<void> => {
      try {
        if (!this.failure) await this.send(next);
      } catch (error) {
        this.failure ??= { error };
      } finally {
        this.pending--;
      }
    };
    // Issued at once when no commit is pending (the usual case), else after the last one asked for.
    this.tail = this.pending++ === 0 ? run() : this.tail.then(run);
  }

  /** Waits for every commit asked for; throws the first failure. */
  async drain(): Promise<void> {
    await this.tail;
    if (this.failure) throw this.failure.error;
  }
}
