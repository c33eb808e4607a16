import type { Message } from 'kafkajs';
import { encodeEvent } from './codec.js';
import { bindingKey, type RegistrationEvent } from './event.js';
import { AOR_HEADER, aorPartitionKey } from './partitioner.js';

/**
 * The registration-log records of one event:
 * - UPSERT: key = bindingKey(source), value = Avro event, header ulbridge-aor;
 * - DELETE: the same, then a tombstone (same key and header, null value) so compaction drops the
 *   binding;
 * - TRUNCATE: one record per log partition (explicit partition), key `<source>:truncate`, so
 *   every partition's consumer sees it in order with the bindings it holds.
 */

export interface LogRecord extends Message {
  key: string;
  value: Buffer | null;
}

export function truncateKey(sourceName: string): string {
  return `${sourceName}:truncate`;
}

export function logRecords(event: RegistrationEvent, partitions: number): LogRecord[] {
  const value = encodeEvent(event);
  if (event.op === 'TRUNCATE') {
    const key = truncateKey(event.source.name);
    return Array.from({ length: partitions }, (_, partition) => ({ key, value, partition }));
  }
  const reg = event.registration;
  if (reg === null) throw new TypeError(`${event.op} event for ${bindingKey(event.source)} has no registration`);
  const key = bindingKey(event.source);
  const headers = { [AOR_HEADER]: aorPartitionKey(reg.username, reg.domain) };
  const record: LogRecord = { key, value, headers };
  return event.op === 'DELETE' ? [record, { key, value: null, headers }] : [record];
}
