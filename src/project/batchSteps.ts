import { decodeEvent } from '../log/codec.js';
import type { RegistrationEvent } from '../log/event.js';
import type { BatchInput, BatchResult, LogMessage } from './batch.js';
import type { Planner } from './planner.js';

/** A log record of a segment; event null = a tombstone (the binding is gone). */
export interface SegmentItem {
  offset: string;
  binding: string;
  event: RegistrationEvent | null;
  /** The record's bytes, for a dead letter. */
  value: Buffer | null;
}

/** What a batch does, in log order: plan-and-write a segment of bindings' events, or a TRUNCATE. */
export type BatchStep = { kind: 'segment'; items: SegmentItem[] } | { kind: 'truncate'; event: RegistrationEvent };

export function emptyBatchResult(): BatchResult {
  return {
    processed: 0,
    applied: 0,
    stale: 0,
    alreadyApplied: 0,
    tombstones: 0,
    kept: 0,
    snapshotReads: 0,
    deadLetters: [],
    sourceTimesMs: [],
    changes: [],
    nextOffset: null,
    resumeAt: null,
  };
}

/**
 * The position rule of every apply, checked under the offsets-row lock: the stored next offset is
 * the only authority. A batch fetched from above it would skip the events in between (a consumer
 * that resumed from Kafka's group offsets after the target was rebuilt or restored), so it is a
 * `gap` and is not applied. Otherwise `next` is the new stored offset: the end of the batch as the
 * consumer saw it, or null when the batch lies wholly below the stored offset.
 */
export function batchPosition(
  opts: Pick<BatchInput, 'messages' | 'fetchedOffset' | 'endOffset'>,
  stored: bigint,
): { gap: boolean; next: bigint | null } {
  const first = opts.messages[0];
  const last = opts.messages.at(-1);
  const from = opts.fetchedOffset !== undefined ? BigInt(opts.fetchedOffset) : first ? BigInt(first.offset) : stored;
  if (from > stored) return { gap: true, next: null };
  const end = opts.endOffset !== undefined ? BigInt(opts.endOffset) : last ? BigInt(last.offset) + 1n : stored;
  return { gap: false, next: end > stored ? end : null };
}

/**
 * Splits a fetched batch of one log partition into the steps both writers (PostgreSQL, MySQL) run
 * inside their transaction: messages below the stored next offset are counted as already applied,
 * undecodable ones become dead letters, and a TRUNCATE ends the segment before it. Counts go into
 * `result`; returns the steps.
 */
export function splitBatch(messages: readonly LogMessage[], stored: bigint, result: BatchResult): { steps: BatchStep[] } {
  const steps: BatchStep[] = [];
  let segment: SegmentItem[] = [];
  for (const m of messages) {
    if (BigInt(m.offset) < stored) {
      result.alreadyApplied++;
      continue;
    }
    result.processed++;
    if (m.value === null) {
      // Normally a no-op right after its DELETE; but once compaction removed the DELETE, the
      // tombstone is the only record left of it, so it deletes a binding still present.
      result.tombstones++;
      if (m.key !== null) segment.push({ offset: m.offset, binding: m.key.toString('utf8'), event: null, value: null });
      continue;
    }
    let event: RegistrationEvent;
    try {
      event = decodeEvent(m.value);
    } catch (e) {
      result.deadLetters.push({
        reason: 'UNDECODABLE_LOG_EVENT',
        message: (e as Error).message,
        offset: m.offset,
        key: m.key,
        value: m.value,
      });
      continue;
    }
    if (event.source.snapshot) result.snapshotReads++;
    if (event.op === 'TRUNCATE') {
      if (segment.length > 0) steps.push({ kind: 'segment', items: segment });
      segment = [];
      steps.push({ kind: 'truncate', event });
      continue;
    }
    segment.push({
      offset: m.offset,
      binding: m.key?.toString('utf8') ?? `${event.source.name}:${event.source.rowKey}`,
      event,
      value: m.value,
    });
  }
  if (segment.length > 0) steps.push({ kind: 'segment', items: segment });
  return { steps };
}

/**
 * Runs a segment's events through the planner in log order (both writers): tombstones, adoption of
 * a linked registrar row (shared targets), applies; source times of applied events and a dead
 * letter, at the event's own offset, for each event whose AOR OpenSIPS could not load.
 */
export function planSegment(
  planner: Planner,
  segment: readonly SegmentItem[],
  partition: number,
  result: BatchResult,
  links?: Map<string, bigint>,
): void {
  for (const d of segment) {
    if (d.event === null) {
      planner.tombstone(d.binding);
      continue;
    }
    const link = links?.get(d.binding);
    if (link !== undefined) {
      planner.adopt(d.binding, link, d.event, partition);
      links!.delete(d.binding);
    }
    const unloadable = planner.plan.unloadable.length;
    const applied = planner.apply(d.event, partition, d.binding);
    if (applied && d.event.source.tsMs > 0n) result.sourceTimesMs.push(Number(d.event.source.tsMs));
    for (const u of planner.plan.unloadable.slice(unloadable)) {
      result.deadLetters.push({
        reason: 'UNLOADABLE_AOR',
        message: `binding ${u.binding}: ${u.reason}; OpenSIPS would skip this row, so it is not written`,
        offset: d.offset,
        key: Buffer.from(u.binding),
        value: d.value,
      });
    }
  }
}
