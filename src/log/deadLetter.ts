import type { Message } from 'kafkajs';

/**
 * The one dead-letter format of every stage (ingest, project, reverse): a JSON document per
 * record a stage could not use, with its source position and the raw key and value, so nothing is
 * lost and every letter can be traced back and replayed.
 *
 *     {"stage": "ingest", "pipeline": "legacy", "reason": "MISSING_FIELD",
 *      "message": "after.callid is null, ...",
 *      "source": {"topic": "legacy.public.location", "partition": 0, "offset": "1234"},
 *      "key": "{\"id\":42}", "keyEncoding": "text",
 *      "value": "...", "valueEncoding": "text"}
 *
 * - stage: which stage wrote it; pipeline: the sources[], targets[] or reverse[] entry's name.
 * - source: the record the letter is about, in the topic that stage reads (the CDC topic for
 *   ingest, the registration log for project, the target table's CDC topic for reverse); offset
 *   is a decimal string.
 * - key/value: the raw bytes as UTF-8 text, or base64 (encoding "base64") when they are not valid
 *   UTF-8 (the registration log's Avro values always are base64); null (encoding null) when the
 *   record had none.
 * The Kafka record's key is the source record's key; headers `ulbridge-stage`, `ulbridge-pipeline`
 * and `ulbridge-reason` allow filtering without parsing. docs/errors.md lists the reasons.
 */

export type DeadLetterStage = 'ingest' | 'project' | 'reverse';

export const STAGE_HEADER = 'ulbridge-stage';
export const PIPELINE_HEADER = 'ulbridge-pipeline';
export const REASON_HEADER = 'ulbridge-reason';

export type RawEncoding = 'text' | 'base64' | null;

export interface DeadLetterDocument {
  stage: DeadLetterStage;
  pipeline: string;
  reason: string;
  message: string;
  source: { topic: string; partition: number; offset: string };
  key: string | null;
  keyEncoding: RawEncoding;
  value: string | null;
  valueEncoding: RawEncoding;
}

/** A record as a stage read it. */
export interface RawRecord {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
}

// ignoreBOM: a leading BOM is part of the raw bytes, kept verbatim.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function rawText(bytes: Buffer | null): { text: string | null; encoding: RawEncoding } {
  if (bytes === null) return { text: null, encoding: null };
  try {
    return { text: utf8.decode(bytes), encoding: 'text' };
  } catch {
    return { text: bytes.toString('base64'), encoding: 'base64' };
  }
}

export function deadLetterDocument(
  stage: DeadLetterStage,
  pipeline: string,
  reason: string,
  message: string,
  raw: RawRecord,
): DeadLetterDocument {
  if (!/^\d+$/.test(raw.offset)) throw new Error(`dead letter without a source offset (${stage} ${pipeline} ${reason})`);
  const key = rawText(raw.key);
  const value = rawText(raw.value);
  return {
    stage,
    pipeline,
    reason,
    message,
    source: { topic: raw.topic, partition: raw.partition, offset: raw.offset },
    key: key.text,
    keyEncoding: key.encoding,
    value: value.text,
    valueEncoding: value.encoding,
  };
}

/** The Kafka record of a letter. */
export function deadLetterMessage(doc: DeadLetterDocument, rawKey: Buffer | null): Message {
  return {
    key: rawKey,
    value: JSON.stringify(doc),
    headers: { [STAGE_HEADER]: doc.stage, [PIPELINE_HEADER]: doc.pipeline, [REASON_HEADER]: doc.reason },
  };
}
