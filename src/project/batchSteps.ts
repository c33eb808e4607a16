import { decodeEvent } from '../log/codec.js';
import type { RegistrationEvent } from '../log/event.js';
import type { BatchResult, LogMessage } from './applyBatch.js';

/** A log record of a segment; event null = a tombstone (the binding is gone). */
export interface SegmentItem {
  offset: string;
  binding: string;
  event: RegistrationEvent | null;
}

/** What a batch does, in log order: plan-and-write a segment of bindings' events, or a TRUNCATE. */
export type BatchStep = { kind: 'segment'; items: SegmentItem[] } | { kind: 'truncate'; event: RegistrationEvent };

export function emptyBatchResult(): BatchResult {
  return { processed: 0, applied: 0, stale: 0, alreadyApplied: 0, tombstones: 0, kept: 0, deadLetters: [], sourceTimesMs: [], nextOffset: null };
}

/**
 * Splits a fetched batch of one log partition into the steps both writers (PostgreSQL, MySQL) run
 * inside their transaction: messages below the stored next offset are counted as already applied,
 * undecodable ones become dead letters, and a TRUNCATE ends the segment before it. Counts go into
 * `result`; returns the steps and the last offset processed (null when none was).
 */
export function splitBatch(messages: readonly LogMessage[], stored: bigint, result: BatchResult): { steps: BatchStep[]; last: bigint | null } {
  const steps: BatchStep[] = [];
  let segment: SegmentItem[] = [];
  let last: bigint | null = null;
  for (const m of messages) {
    const offset = BigInt(m.offset);
    if (offset < stored) {
      result.alreadyApplied++;
      continue;
    }
    last = offset;
    result.processed++;
    if (m.value === null) {
      // Normally a no-op right after its DELETE; but once compaction removed the DELETE, the
      // tombstone is the only record left of it, so it deletes a binding still present.
      result.tombstones++;
      if (m.key !== null) segment.push({ offset: m.offset, binding: m.key.toString('utf8'), event: null });
      continue;
    }
    let event: RegistrationEvent;
    try {
      event = decodeEvent(m.value);
    } catch (e) {
      result.deadLetters.push({ reason: 'UNDECODABLE_LOG_EVENT', message: (e as Error).message, offset: m.offset, key: m.key, value: m.value });
      continue;
    }
    if (event.op === 'TRUNCATE') {
      if (segment.length > 0) steps.push({ kind: 'segment', items: segment });
      segment = [];
      steps.push({ kind: 'truncate', event });
      continue;
    }
    segment.push({ offset: m.offset, binding: m.key?.toString('utf8') ?? `${event.source.name}:${event.source.rowKey}`, event });
  }
  if (segment.length > 0) steps.push({ kind: 'segment', items: segment });
  return { steps, last };
}
