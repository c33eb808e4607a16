import { setTimeout as sleep } from 'node:timers/promises';

/**
 * How a stage (ingest, projection) paces itself behind a Debezium snapshot.
 *
 * A stage that keeps up with a snapshot takes each fetch as soon as Debezium has written a few
 * records: small batches, each paying a batch's fixed costs (a fetch, a produce, a transaction
 * and its round trips) for a few dozen rows. On a machine whose cores Debezium, Kafka and the
 * databases share, that CPU is taken from Debezium, so the snapshot and the bridge both finish
 * later. After such a batch the stage waits SNAPSHOT_LINGER_MS before its next fetch, so the
 * snapshot arrives in fewer, larger batches. Streaming changes never wait: a batch holding any
 * record that is not a snapshot read, or one that filled half the fetch (the stage is behind and
 * has work waiting), is followed by the next fetch at once (only a change that arrives during the
 * wait after the snapshot's last batch waits for the rest of it). Nothing is held back that was
 * fetched; the wait only delays the next fetch. docs/performance.md, "Pacing behind a snapshot".
 */
export const SNAPSHOT_LINGER_MS = 200;

export interface BatchShape {
  /** Records of the batch the stage processed. */
  records: number;
  /** Of those, Debezium snapshot reads. */
  snapshotReads: number;
  /** Bytes of the batch's record values. */
  bytes: number;
}

/** How long to wait before the next fetch after this batch (0: fetch at once). */
export function snapshotLingerMs(batch: BatchShape, fetchBytesPerPartition: number): number {
  const allSnapshot = batch.records > 0 && batch.snapshotReads === batch.records;
  return allSnapshot && batch.bytes < fetchBytesPerPartition / 2 ? SNAPSHOT_LINGER_MS : 0;
}

/** Waits `ms` unless the stage is stopping (its consumer waits for this batch to end). */
export async function linger(ms: number, isRunning: () => boolean): Promise<void> {
  if (ms > 0 && isRunning()) await sleep(ms);
}

/** The bytes of a fetched batch's record values. */
export function valueBytes(messages: readonly { value: Buffer | null }[]): number {
  let n = 0;
  for (const m of messages) n += m.value?.length ?? 0;
  return n;
}
