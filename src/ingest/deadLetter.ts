import type { Message } from 'kafkajs';
import type { DecodeReason } from '../cdc/errors.js';

/**
 * Dead-letter records: one JSON document per message ingest could not turn into an event, with
 * the raw key and value so nothing is lost, and the reason in a header for cheap filtering.
 *
 *     {"reason": "MISSING_FIELD", "message": "after.callid is null, ...",
 *      "source": {"topic": "legacy.public.location", "partition": 0, "offset": "1234"},
 *      "sourceName": "legacy",
 *      "key": "{\"contact_id\":42}", "keyEncoding": "text",
 *      "value": "...", "valueEncoding": "text"}
 *
 * key/value are the raw bytes as UTF-8 text, or base64 (encoding "base64") when they are not
 * valid UTF-8; null (encoding null) when the Kafka record had none. offset is a decimal string.
 * Record key = the CDC record's key; headers `ulbridge-reason` and `ulbridge-source`.
 */

export const REASON_HEADER = 'ulbridge-reason';
export const SOURCE_HEADER = 'ulbridge-source';

export type RawEncoding = 'text' | 'base64' | null;

export interface DeadLetterDocument {
  reason: DecodeReason;
  message: string;
  source: { topic: string; partition: number; offset: string };
  sourceName: string;
  key: string | null;
  keyEncoding: RawEncoding;
  value: string | null;
  valueEncoding: RawEncoding;
}

export interface RawRecord {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function rawText(bytes: Buffer | null): { text: string | null; encoding: RawEncoding } {
  if (bytes === null) return { text: null, encoding: null };
  try {
    return { text: utf8.decode(bytes), encoding: 'text' };
  } catch {
    return { text: bytes.toString('base64'), encoding: 'base64' };
  }
}

export function deadLetterDocument(sourceName: string, reason: DecodeReason, message: string, raw: RawRecord): DeadLetterDocument {
  const key = rawText(raw.key);
  const value = rawText(raw.value);
  return {
    reason,
    message,
    source: { topic: raw.topic, partition: raw.partition, offset: raw.offset },
    sourceName,
    key: key.text,
    keyEncoding: key.encoding,
    value: value.text,
    valueEncoding: value.encoding,
  };
}

export function deadLetterMessage(doc: DeadLetterDocument, rawKey: Buffer | null): Message {
  return {
    key: rawKey,
    value: JSON.stringify(doc),
    headers: { [REASON_HEADER]: doc.reason, [SOURCE_HEADER]: doc.sourceName },
  };
}
