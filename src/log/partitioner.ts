import type { ICustomPartitioner, PartitionerArgs } from 'kafkajs';

/**
 * Registration-log partitioning by AOR. Every message of a binding carries the header
 * `ulbridge-aor` (`username`, or `username@domain` when the binding has a domain, in canonical
 * form), and its partition is Kafka's default for that header's bytes:
 * toPositive(murmur2(bytes)) % partitions. Keys stay per binding (compaction), so all bindings of
 * one AOR — and a delete with its tombstone — share a partition and keep their order.
 */

export const AOR_HEADER = 'ulbridge-aor';

/** The AOR partition key of a binding. */
export function aorPartitionKey(username: string, domain: string | null): string {
  return domain === null ? username : `${username}@${domain}`;
}

/**
 * Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2, seed 0x9747b28c), as a signed
 * 32-bit integer.
 */
export function murmur2(data: Uint8Array): number {
  const m = 0x5bd1e995;
  const length = data.length;
  let h = 0x9747b28c ^ length;
  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k = data[i4]! | (data[i4 + 1]! << 8) | (data[i4 + 2]! << 16) | (data[i4 + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m);
    h ^= k;
  }
  const tail = length & ~3;
  const rest = length % 4;
  if (rest === 3) h ^= data[tail + 2]! << 16;
  if (rest >= 2) h ^= data[tail + 1]! << 8;
  if (rest >= 1) {
    h ^= data[tail]!;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/** Kafka's Utils.toPositive. */
export function toPositive(n: number): number {
  return n & 0x7fffffff;
}

/** The partition Kafka's default partitioner picks for these key bytes. */
export function partitionFor(key: Uint8Array | string, partitions: number): number {
  if (!Number.isInteger(partitions) || partitions < 1)
    throw new RangeError(`partition count must be a positive integer, got ${partitions}`);
  const bytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
  return toPositive(murmur2(bytes)) % partitions;
}

function headerBytes(v: Buffer | string | (Buffer | string)[] | undefined): Buffer | undefined {
  if (v === undefined) return undefined;
  const one = Array.isArray(v) ? v[0] : v;
  if (one === undefined) return undefined;
  return typeof one === 'string' ? Buffer.from(one, 'utf8') : one;
}

/**
 * kafkajs partitioner: an explicit `partition` wins (TRUNCATE fan-out); then the `ulbridge-aor`
 * header; then the key, as Kafka's default partitioner does (dead-letter records); a message with
 * none of them goes to partition 0.
 */
export const AorPartitioner: ICustomPartitioner = () => (args: PartitionerArgs) => {
  const { partitionMetadata, message } = args;
  if (message.partition !== undefined && message.partition !== null) return message.partition;
  const count = partitionMetadata.length;
  const aor = headerBytes(message.headers?.[AOR_HEADER]);
  if (aor !== undefined) return partitionFor(aor, count);
  if (message.key !== undefined && message.key !== null) {
    return partitionFor(typeof message.key === 'string' ? Buffer.from(message.key, 'utf8') : message.key, count);
  }
  return 0;
};
