import { Partitioners, type Consumer, type EachBatchPayload, type Kafka, type Producer } from 'kafkajs';
import { deadLetterDocument, deadLetterMessage } from '../log/deadLetter.js';
import { failStageOnCrash, joiningGroup, rejoinOnMembershipLoss, stageConsumerConfig } from '../ops/stageConsumer.js';
import { Lifecycle, type LifecycleState } from '../ops/lifecycle.js';
import type { Logger } from '../ops/logger.js';
import type { Metrics } from '../ops/metrics.js';
import { linger, snapshotLingerMs, valueBytes } from '../ops/snapshotLinger.js';
import type { BatchResult, DeadLetter } from './batch.js';
import { OffsetReports } from './offsetReports.js';
import type { Target } from './target.js';
import type { TargetStore } from './targetStore.js';

export interface ProjectionOptions {
  kafka: Kafka;
  /** The target's database (PostgreSQL or MySQL/MariaDB, see targetStore.ts); its owner closes it. */
  store: TargetStore;
  target: Target;
  logTopic: string;
  /** Partitions of the log topic (config log.partitions). */
  logPartitions: number;
  deadLetterTopic: string;
  groupId: string;
  /** Kafka group session timeout (config kafka.sessionTimeoutSeconds; default 30). */
  sessionTimeoutSeconds?: number;
  logger: Logger;
  metrics: Metrics;
  /** Partitions applied at once, each in its own transaction (default 4; order within one is kept). */
  concurrency?: number;
  /** Upper bound of one fetch per partition (default 512 KiB): bounds batch size and memory. */
  maxBytesPerPartition?: number;
  /** Unix seconds "now" used to decide expiry; injectable for tests. */
  now?: () => number;
  /** Called after each batch's COMMIT with what it wrote (the cluster push, src/push). */
  afterCommit?: (result: BatchResult) => void;
}

export interface Projection {
  start(): Promise<void>;
  /** Valid in any state: finishes the batch in flight (committed), then leaves the group. */
  stop(): Promise<void>;
  readonly state: LifecycleState;
  /** Why the projection gave up for good, else null. */
  readonly failure: string | null;
}

/**
 * Fetches in a row that came back from above the stored offset after a seek to it. One or two
 * are expected (a fetch already in flight when the seek was made); many mean the log no longer
 * holds the stored offset (retention or DeleteRecords removed it), so the target cannot be
 * brought up to date from this log.
 */
const MAX_REFETCHES = 20;

/** How often the group's committed offsets (informational, for lag tools) are sent to Kafka. */
const OFFSET_REPORT_INTERVAL_MS = 1000;

/**
 * Registration log -> one target table. The offsets stored in the target database are the only
 * authority on what was applied: they commit in the transaction that writes the rows.
 * - On joining the group, each assigned partition is positioned at its stored offset (the start
 *   of the log when there is none) synchronously, before the first fetch.
 * - Every apply checks, under the offsets-row lock, that the batch was fetched from at or below
 *   the stored offset. A batch from above it (a stale cached position, a target restored from an
 *   older dump, a rebuilt target) is not applied: the consumer seeks back to the stored offset.
 * Kafka's committed offsets are informational (kept for lag tools, at most a second behind:
 * offsetReports.ts) and never read.
 */
export function createProjection(opts: ProjectionOptions): Projection {
  const { kafka, store, target, logger, metrics } = opts;
  const log = logger.child({ stage: 'project', target: target.name });
  const labels = { stage: 'project', pipeline: target.name };
  const now = opts.now ?? (() => Math.floor(Date.now() / 1000));
  const lifecycle = new Lifecycle(`projection "${target.name}"`, (what, err) => log.warn({ err }, `${what} failed to close`));
  /** The last stored next offset known per partition: the position a (re)assigned partition resumes at. */
  const positions = new Map<number, string>();
  const refetches = new Map<number, number>();
  const fetchBytesPerPartition = opts.maxBytesPerPartition ?? 512 * 1024;
  let consumer: Consumer | null = null;
  let producer: Producer | null = null;
  let reports: OffsetReports | null = null;

  async function sendDeadLetters(partition: number, letters: DeadLetter[]): Promise<void> {
    const docs = letters.map((l) =>
      deadLetterDocument('project', target.name, l.reason, l.message, {
        topic: opts.logTopic,
        partition,
        offset: l.offset,
        key: l.key,
        value: l.value,
      }),
    );
    await producer!.send({ topic: opts.deadLetterTopic, acks: -1, messages: docs.map((d, i) => deadLetterMessage(d, letters[i]!.key)) });
    for (const l of letters) metrics.deadLetters.inc({ pipeline: target.name, reason: l.reason });
  }

  function fetchAgain(partition: number, from: string, fetchedOffset: string): void {
    const n = (refetches.get(partition) ?? 0) + 1;
    refetches.set(partition, n);
    if (n > MAX_REFETCHES) {
      const message = `partition ${partition} of ${opts.logTopic}: the target stores next offset ${from} but the log keeps serving records from ${fetchedOffset}; offsets ${from}..${BigInt(fetchedOffset) - 1n} are no longer in the log (retention or DeleteRecords), so target "${target.name}" cannot be proven complete: rebuild it from a complete log`;
      log.error({ partition, stored: from, fetchedOffset }, message);
      consumer!.pause([{ topic: opts.logTopic, partitions: [partition] }]);
      lifecycle.fail(new Error(message));
      return;
    }
    log.warn(
      { partition, stored: from, fetchedOffset },
      'batch fetched from above the offset stored in the target: not applied, fetching again from the stored offset',
    );
    positions.set(partition, from);
    consumer!.seek({ topic: opts.logTopic, partition, offset: from });
  }

  async function eachBatch({ batch, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    if (!isRunning() || isStale() || batch.messages.length === 0) return;
    const started = process.hrtime.bigint();
    // kafkajs keeps the offset each batch was fetched from (not in its type declarations).
    const fetchedOffset = String((batch as unknown as { fetchedOffset: string }).fetchedOffset);
    const result = await store.applyBatch({
      topic: batch.topic,
      partition: batch.partition,
      messages: batch.messages.map((m) => ({ offset: m.offset, key: m.key, value: m.value })),
      fetchedOffset,
      endOffset: (BigInt(batch.lastOffset()) + 1n).toString(),
      now: now(),
      deadLetter: (letters) => sendDeadLetters(batch.partition, letters),
    });
    if (result.resumeAt !== null) {
      metrics.eventsOut.inc({ ...labels, outcome: 'refetch' }, batch.messages.length);
      fetchAgain(batch.partition, result.resumeAt, fetchedOffset);
      return;
    }
    refetches.delete(batch.partition);
    opts.afterCommit?.(result);
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
    if (result.nextOffset !== null) {
      positions.set(batch.partition, result.nextOffset);
      metrics.lag.set(
        { ...labels, topic: batch.topic, partition: String(batch.partition) },
        Math.max(0, Number(BigInt(batch.highWatermark) - BigInt(result.nextOffset))),
      );
      await reports!.note(batch.partition, result.nextOffset);
    }
    if (result.deadLetters.length > 0)
      log.warn(
        { partition: batch.partition, deadLetters: result.deadLetters.map((d) => d.reason) },
        'events sent to the dead-letter topic',
      );
    await heartbeat();
    const shape = { records: result.processed, snapshotReads: result.snapshotReads, bytes: valueBytes(batch.messages) };
    await linger(snapshotLingerMs(shape, fetchBytesPerPartition), isRunning);
  }

  async function start(): Promise<void> {
    await store.ensureState();
    lifecycle.checkpoint();
    const partitions = Array.from({ length: opts.logPartitions }, (_, i) => i);
    for (const [partition, offset] of await store.storedOffsets(opts.logTopic, partitions)) positions.set(partition, offset);
    lifecycle.checkpoint();

    // Dead letters only: a duplicate after a crash is harmless, so no idempotent producer.
    const p = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    lifecycle.hold('dead-letter producer', () => p.disconnect());
    await p.connect();
    producer = p;
    lifecycle.checkpoint();

    // Fetch size bounds memory (every fetched message is decoded and planned at once, up to
    // `concurrency` partitions in parallel) and the batch size: 512 KiB is ~1,500 events per
    // transaction, enough to amortise its round trips.
    const consumerConfig = stageConsumerConfig(lifecycle, {
      groupId: opts.groupId,
      sessionTimeoutSeconds: opts.sessionTimeoutSeconds,
      maxBytesPerPartition: fetchBytesPerPartition,
    });
    const c = kafka.consumer(consumerConfig);
    const r = new OffsetReports({
      topic: opts.logTopic,
      commit: (offsets) => c.commitOffsets(offsets),
      intervalMs: OFFSET_REPORT_INTERVAL_MS,
      onError: (err) => log.debug({ err }, 'reporting offsets to Kafka failed (informational; the next report carries them)'),
    });
    // Disconnecting the consumer finishes the batch in flight (committed) and leaves the group.
    lifecycle.hold('consumer', async () => {
      await r.close().catch((err: unknown) => log.debug({ err }, 'last offset report to Kafka failed (informational)'));
      await c.disconnect();
    });
    consumer = c;
    reports = r;
    c.on(c.events.GROUP_JOIN, (e) => {
      const assigned = e.payload.memberAssignment[opts.logTopic] ?? [];
      // Synchronous: kafkajs emits GROUP_JOIN before it fetches for the new assignment, so every
      // first fetch starts at the stored offset (offset 0 when none is stored). A position stale
      // because another instance applied more is only re-read (and skipped under the lock).
      for (const partition of assigned) c.seek({ topic: opts.logTopic, partition, offset: positions.get(partition) ?? '0' });
      r.reset();
      log.info({ partitions: assigned }, 'joined the consumer group; positioned at the offsets stored in the target');
    });
    failStageOnCrash(c, lifecycle, log, 'projection');
    await c.connect();
    lifecycle.checkpoint();
    await c.subscribe({ topic: opts.logTopic, fromBeginning: true });
    await joiningGroup(
      c.run({
        autoCommit: false,
        eachBatchAutoResolve: true,
        partitionsConsumedConcurrently: opts.concurrency ?? 4,
        eachBatch: rejoinOnMembershipLoss(eachBatch),
      }),
      log,
      consumerConfig,
    );
    log.info({ table: target.table, release: target.release, hashSize: target.hashSize }, 'projection started');
  }

  return {
    get state() {
      return lifecycle.state;
    },
    get failure() {
      return lifecycle.failure;
    },
    start: () => lifecycle.start(start),
    async stop() {
      const was = lifecycle.state;
      await lifecycle.stop();
      if (was === 'running') log.info('projection stopped');
    },
  };
}
