import type { Message } from 'kafkajs';
import type { Decoder } from '../cdc/decoder.js';
import { DecodeError, type DecodeReason } from '../cdc/errors.js';
import type { RegistrationEvent } from '../log/event.js';
import { logRecords, type LogRecord } from '../log/messages.js';
import { deadLetterDocument, deadLetterMessage, type DeadLetterDocument, type RawRecord } from '../log/deadLetter.js';

/**
 * CDC records -> registration-log records and dead-letter records, in input order. Pure: no I/O,
 * so the whole mapping is testable without a broker.
 */

export type Outcome = 'upsert' | 'delete' | 'truncate' | 'tombstone' | 'dead_letter';

export interface Translation {
  log: LogRecord[];
  deadLetters: Message[];
  /** The dead-letter documents, in order (for logging). */
  failures: DeadLetterDocument[];
  outcomes: Record<Outcome, number>;
  reasons: Map<DecodeReason, number>;
  /** Source time of the last event decoded, or null. */
  lastTsMs: bigint | null;
  /** Events that are Debezium snapshot reads. */
  snapshotReads: number;
}

const OUTCOME: Record<RegistrationEvent['op'], Outcome> = { UPSERT: 'upsert', DELETE: 'delete', TRUNCATE: 'truncate' };

export function translate(decoder: Decoder, partitions: number, records: readonly RawRecord[]): Translation {
  const out: Translation = {
    log: [],
    deadLetters: [],
    failures: [],
    outcomes: { upsert: 0, delete: 0, truncate: 0, tombstone: 0, dead_letter: 0 },
    reasons: new Map(),
    lastTsMs: null,
    snapshotReads: 0,
  };
  const name = decoder.config.name;
  for (const raw of records) {
    try {
      const decoded = decoder.decode(raw.value);
      if (decoded.kind === 'tombstone') {
        out.outcomes.tombstone++;
        continue;
      }
      const recs = toRecords(decoded.event, partitions);
      out.log.push(...recs);
      out.outcomes[OUTCOME[decoded.event.op]]++;
      out.lastTsMs = decoded.event.source.tsMs;
      if (decoded.event.source.snapshot) out.snapshotReads++;
    } catch (e) {
      const err = e instanceof DecodeError ? e : new DecodeError('INTERNAL', e instanceof Error ? e.message : String(e), { cause: e });
      const doc = deadLetterDocument('ingest', name, err.reason, err.message, raw);
      out.deadLetters.push(deadLetterMessage(doc, raw.key));
      out.failures.push(doc);
      out.outcomes.dead_letter++;
      out.reasons.set(err.reason, (out.reasons.get(err.reason) ?? 0) + 1);
    }
  }
  return out;
}

function toRecords(event: RegistrationEvent, partitions: number): LogRecord[] {
  try {
    return logRecords(event, partitions);
  } catch (e) {
    throw new DecodeError('INTERNAL', `the decoded event could not be encoded: ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
    });
  }
}
