import { Partitioners, type Consumer, type EachBatchPayload, type Kafka, type Producer } from 'kafkajs';
import { createDecoder } from '../cdc/decoder.js';
import { DecodeError } from '../cdc/errors.js';
import type { DbConnection } from '../db/connection.js';
import { openDb } from '../db/open.js';
import { deadLetterDocument, deadLetterMessage, type DeadLetterDocument } from '../log/deadLetter.js';
import { failStageOnCrash, joiningGroup, rejoinOnMembershipLoss, stageConsumerConfig } from '../ops/stageConsumer.js';
import { Lifecycle, type LifecycleState } from '../ops/lifecycle.js';
import type { Logger } from '../ops/logger.js';
import type { Metrics } from '../ops/metrics.js';
import type { ReleaseName } from '../opensips/releases.js';
import type { Target } from '../project/target.js';
import { applyReverseBatches, type ReverseResult } from './apply.js';
import { LegacyTable, type LegacyRegistrar } from './legacyTable.js';
import type { ReverseTargetStore, TargetChange } from './target.js';

/**
 * Changes per legacy transaction: a fetched batch is applied in slices of this many messages, each
 * its own legacy transaction, its Kafka offsets committed after it (`npm run bench -- reverse`
 * measures this size).
 */
export const REVERSE_BATCH_CHANGES = 500;

/**
 * Bytes per partition and fetch: ~1,600 Debezium values with schemas, so that a consumer with a
 * backlog gets several full slices per fetch (kafkajs's default of 1 MiB is ~200 values).
 */
const FETCH_BYTES_PER_PARTITION = 8 * 1024 * 1024;

export interface ReverseOptions {
  name: string;
  kafka: Kafka;
  /** Debezium topic of the target table. */
  topic: string;
  /** The projection target whose table is read (its state schema holds bindings, links, own_tx). */
  target: Target;
  /** Sessions on the target database, PostgreSQL or MySQL/MariaDB (src/reverse/target.ts). */
  targetStore: ReverseTargetStore;
  /** The forward source whose rows the legacy table holds (log keys `<sourceName>:<id>`). */
  sourceName: string;
  /** The legacy table and its registrar (reverse[].legacy, compiled: 2.2+ tables need hashSize). */
  legacy: LegacyRegistrar & { db: string; table: string };
  groupId: string;
  /** Kafka group session timeout (config kafka.sessionTimeoutSeconds; default 30). */
  sessionTimeoutSeconds?: number;
  deadLetterTopic: string;
  logger: Logger;
  metrics: Metrics;
  /** own_tx entries older than this are pruned (default 1 day). */
  ownTxRetentionSeconds?: number;
  /** MySQL/MariaDB: how long a change may stay `pending` (own_tx marker without GTID) before the batch fails and is retried. */
  ownWritePendingMs?: number;
}

export interface Reverse {
  start(): Promise<void>;
  /** Valid in any state: finishes the batch in flight, leaves the group, closes the legacy session. */
  stop(): Promise<void>;
  readonly state: LifecycleState;
  readonly failure: string | null;
}

/**
 * Reverse sync: the target table's Debezium topic -> the legacy table, so that a rollback to the
 * legacy registrar loses nothing the new registrar learned (docs/reverse.md). Changes the
 * projection wrote are recognised by their transaction (PostgreSQL xid, MySQL/MariaDB GTID) and
 * never come back.
 */
export function createReverse(opts: ReverseOptions): Reverse {
  const log = opts.logger.child({ stage: 'reverse', pipeline: opts.name });
  const labels = { stage: 'reverse', pipeline: opts.name } as const;
  // The target registrar's rows are already in canonical form; decode them as they are.
  const decoder = createDecoder({
    name: opts.name,
    release: opts.target.release as ReleaseName,
    timeZone: opts.target.timeZone,
    caseSensitive: true,
  });
  const lifecycle = new Lifecycle(`reverse sync "${opts.name}"`, (what, err) => log.warn({ err }, `${what} failed to close`));
  let producer: Producer | null = null;
  let legacyDbs: DbConnection[] = [];
  let legacy: LegacyTable | null = null;
  let lastPrune = 0;

  /**
   * The legacy table's session (a connection for the write transactions and one that reads the
   * next slice's rows meanwhile), opened on first use and again after a failed batch.
   */
  async function legacyTable(): Promise<LegacyTable> {
    if (!legacy) {
      const writer = await openDb(opts.legacy.db);
      legacyDbs.push(writer);
      const reader = await openDb(opts.legacy.db);
      legacyDbs.push(reader);
      legacy = new LegacyTable(writer, opts.legacy.table, opts.legacy, reader);
    }
    return legacy;
  }

  async function closeLegacy(): Promise<void> {
    const dbs = legacyDbs;
    legacyDbs = [];
    legacy = null;
    await Promise.all(dbs.map((db) => db.close().catch(() => undefined)));
  }

  async function eachBatch({
    batch,
    heartbeat,
    isRunning,
    isStale,
    commitOffsetsIfNecessary,
    resolveOffset,
  }: EachBatchPayload): Promise<void> {
    if (!isRunning() || isStale() || batch.messages.length === 0) return;
    const timer = opts.metrics.batchSeconds.startTimer(labels);
    // Slices of REVERSE_BATCH_CHANGES messages, each with the offset to commit after it.
    const slices: Array<{ changes: TargetChange[]; last: string }> = [];
    const letters: Array<{ doc: DeadLetterDocument; key: Buffer | null }> = [];
    for (let i = 0; i < batch.messages.length; i += REVERSE_BATCH_CHANGES) {
      const part = batch.messages.slice(i, i + REVERSE_BATCH_CHANGES);
      const changes: TargetChange[] = [];
      for (const m of part) {
        try {
          const { decoded, txId, binlog } = decoder.decodeChange(m.value);
          if (decoded.kind === 'event') changes.push({ event: decoded.event, txId, binlog });
        } catch (e) {
          if (!(e instanceof DecodeError)) throw e;
          letters.push({
            doc: deadLetterDocument('reverse', opts.name, e.reason, e.message, {
              topic: batch.topic,
              partition: batch.partition,
              offset: m.offset,
              key: m.key,
              value: m.value,
            }),
            key: m.key,
          });
        }
      }
      slices.push({ changes, last: part.at(-1)!.offset });
    }
    opts.metrics.eventsIn.inc(labels, batch.messages.length);
    if (letters.length > 0) {
      await producer!.send({ topic: opts.deadLetterTopic, acks: -1, messages: letters.map((l) => deadLetterMessage(l.doc, l.key)) });
      for (const { doc: d } of letters) {
        opts.metrics.deadLetters.inc({ pipeline: opts.name, reason: d.reason });
        log.warn({ reason: d.reason, offset: d.source.offset }, `dead letter: ${d.message}`);
      }
    }
    /** After a slice's legacy commit: its outcomes counted, its offsets committed. */
    const sliceDone = async (index: number, result: ReverseResult): Promise<void> => {
      const outcomes: Array<[string, number]> = [
        ['own_write', result.ownWrites],
        ['inserted', result.inserted],
        ['updated', result.updated],
        ['deleted', result.deleted],
        ['kept_legacy', result.keptLegacy],
        ['ignored', result.ignored],
        ['ambiguous', result.ambiguous ?? 0],
      ];
      if (result.ambiguous) {
        log.warn(
          { ambiguous: result.ambiguous },
          "changes whose transaction may be the projection's own (its GTID was lost in a server crash) were applied under the conflict rule",
        );
      }
      for (const [outcome, n] of outcomes) if (n > 0) opts.metrics.eventsOut.inc({ ...labels, outcome }, n);
      const { changes, last } = slices[index]!;
      const next = (BigInt(last) + 1n).toString();
      // The slice's own commit (consumer.commitOffsets is a no-op once stop() has begun).
      await commitOffsetsIfNecessary({ topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: next }] }] });
      resolveOffset(last);
      opts.metrics.lag.set(
        { ...labels, topic: batch.topic, partition: String(batch.partition) },
        Math.max(0, Number(BigInt(batch.highWatermark) - BigInt(next))),
      );
      const lastTs = changes.at(-1)?.event.source.tsMs;
      if (lastTs !== undefined) opts.metrics.lastEventAge.set(labels, Number(lastTs) / 1000);
      await heartbeat();
    };
    await opts.targetStore.withSession(async (session) => {
      try {
        await applyReverseBatches(
          session,
          await legacyTable(),
          {
            stateSchema: opts.target.stateSchema,
            sourceName: opts.sourceName,
            ...(opts.ownWritePendingMs === undefined ? {} : { pendingTimeoutMs: opts.ownWritePendingMs }),
          },
          slices.map((sl) => sl.changes),
          sliceDone,
        );
      } catch (e) {
        // The batch is redelivered from its first uncommitted slice (kafkajs retries it); a broken
        // legacy session is opened anew.
        log.warn({ err: e }, 'reverse batch failed; it is retried');
        await closeLegacy();
        throw e;
      }
      if (Date.now() - lastPrune > 600_000) {
        lastPrune = Date.now();
        const pruned = await session.pruneOwnTransactions(opts.ownTxRetentionSeconds ?? 86_400);
        if (pruned > 0) log.info({ pruned }, 'pruned old own-transaction ids');
      }
    });
    timer();
    await heartbeat();
  }

  async function start(): Promise<void> {
    await opts.targetStore.ensureState();
    lifecycle.hold('legacy session', () => closeLegacy());
    await legacyTable(); // an unreachable legacy database fails the start, with the database's error
    lifecycle.checkpoint();
    const p = opts.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    lifecycle.hold('dead-letter producer', () => p.disconnect());
    await p.connect();
    producer = p;
    lifecycle.checkpoint();
    await waitForTopic();
    const consumerConfig = stageConsumerConfig(lifecycle, {
      groupId: opts.groupId,
      sessionTimeoutSeconds: opts.sessionTimeoutSeconds,
      maxBytesPerPartition: FETCH_BYTES_PER_PARTITION,
    });
    const consumer: Consumer = opts.kafka.consumer(consumerConfig);
    // Released first: its disconnect finishes the batch in flight and leaves the group.
    lifecycle.hold('consumer', () => consumer.disconnect());
    failStageOnCrash(consumer, lifecycle, log, 'reverse');
    await consumer.connect();
    lifecycle.checkpoint();
    await consumer.subscribe({ topic: opts.topic, fromBeginning: true });
    await joiningGroup(
      consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: 1,
        eachBatch: rejoinOnMembershipLoss(eachBatch),
      }),
      log,
      consumerConfig,
    );
    log.info({ topic: opts.topic, legacyTable: opts.legacy.table }, 'reverse sync started');
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
      if (was === 'running') log.info('reverse sync stopped');
    },
  };

  /** Debezium creates the target's topic with its first event; wait for it (saying so once). */
  async function waitForTopic(): Promise<void> {
    const admin = opts.kafka.admin();
    await admin.connect();
    try {
      for (let said = false; !(await admin.listTopics()).includes(opts.topic); said = true) {
        if (!said) log.warn({ topic: opts.topic }, 'waiting for the Debezium topic of the target table (is its connector registered?)');
        await lifecycle.sleep(1000);
      }
    } finally {
      await admin.disconnect();
    }
  }
}
