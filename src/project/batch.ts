/** The types of one apply transaction, shared by the applier (apply.ts) and its dialect sessions. */
import type { RowChange } from './rowImage.js';

export interface LogMessage {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
}

export interface DeadLetter {
  reason: string;
  message: string;
  /** The log offset of the record the letter is about. */
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
}

export interface BatchResult {
  /** Messages at or above the stored offset that this call processed. */
  processed: number;
  applied: number;
  stale: number;
  /** Offsets below the stored next offset: already applied by an earlier run. */
  alreadyApplied: number;
  tombstones: number;
  /** Shared targets: changes not written because the target row is as new or newer (the conflict rule). */
  kept: number;
  deadLetters: DeadLetter[];
  /** Processed events that are Debezium snapshot reads (the stage's pacing: src/ops/snapshotLinger.ts). */
  snapshotReads: number;
  /** Source change times (unix ms) of the applied events, for latency metrics. */
  sourceTimesMs: number[];
  /** Targets that push to a registrar cluster: the target rows this batch wrote, in order (else empty). */
  changes: RowChange[];
  nextOffset: string | null;
  /**
   * Set when the batch was fetched from above the stored next offset: nothing was applied, and
   * the consumer must fetch again from this offset (the stored one).
   */
  resumeAt: string | null;
}

/** One fetched batch of one registration-log partition. */
export interface BatchInput {
  topic: string;
  partition: number;
  messages: LogMessage[];
  /**
   * The offset the consumer fetched this batch from (default: the first message's offset). A
   * batch fetched from above the stored next offset is not applied: see BatchResult.resumeAt.
   */
  fetchedOffset?: string;
  /**
   * The position after this batch as the consumer sees it (default: the last message's offset + 1);
   * above the last message when the fetch ended on records the consumer filters (control records).
   */
  endOffset?: string;
  /** Unix seconds "now" (expiry). */
  now: number;
  /** Called inside the transaction, before COMMIT, so a crash can only duplicate dead letters. */
  deadLetter?: (letters: DeadLetter[]) => Promise<void>;
}
