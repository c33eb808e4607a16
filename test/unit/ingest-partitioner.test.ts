import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import type { PartitionMetadata } from 'kafkajs';
import { AOR_HEADER, AorPartitioner, aorPartitionKey, murmur2, partitionFor, toPositive } from '../../src/log/partitioner.js';

const require = createRequire(import.meta.url);
const kafkajsMurmur2 = require('kafkajs/src/producer/partitioners/default/murmur2.js') as (key: Buffer) => number;

/**
 * org.apache.kafka.common.utils.Utils.murmur2 / toPositive(..) % n, computed with kafka-clients
 * 4.3.0 (java, UTF-8 bytes of each string). "21" and "foobar" are also in Kafka's own UtilsTest.
 */
const JAVA: Array<[key: string, murmur2: number, mod12: number, mod3: number]> = [
  ['alice@example.com', -1034185172, 0, 0],
  ['alice', 1951417749, 9, 0],
  ['21', -973932308, 0, 0],
  ['foobar', -790332482, 6, 0],
  ['a-little-bit-long-string', -985981536, 8, 2],
  ['müller@example.com', -653427810, 2, 2],
  ['', 275646681, 9, 0],
  ['bob@example.org', -1316463790, 10, 1],
];

test("murmur2 and the partition equal Kafka's Java client for known keys", () => {
  for (const [key, h, mod12, mod3] of JAVA) {
    const bytes = Buffer.from(key, 'utf8');
    assert.equal(murmur2(bytes), h, key);
    assert.equal(partitionFor(bytes, 12), mod12, key);
    assert.equal(partitionFor(key, 3), mod3, key);
  }
});

test("murmur2 equals kafkajs's Java-compatible implementation on random inputs of every tail length", () => {
  for (let i = 0; i < 2000; i++) {
    const b = randomBytes(i % 67);
    assert.equal(murmur2(b), kafkajsMurmur2(b), b.toString('hex'));
  }
});

test('toPositive masks the sign bit like Kafka (not Math.abs)', () => {
  assert.equal(toPositive(-1), 0x7fffffff);
  assert.equal(toPositive(-2147483648), 0);
  assert.equal(toPositive(5), 5);
});

test('the AOR key is username, or username@domain when there is a domain', () => {
  assert.equal(aorPartitionKey('alice', 'example.com'), 'alice@example.com');
  assert.equal(aorPartitionKey('alice', null), 'alice');
});

const meta = (n: number): PartitionMetadata[] =>
  Array.from({ length: n }, (_, i) => ({ partitionId: i, leader: 1, replicas: [1], isr: [1], partitionErrorCode: 0, offlineReplicas: [] }));

test('the partitioner: explicit partition, then the AOR header, then the key, else 0', () => {
  const p = AorPartitioner();
  const pm = meta(12);
  // Two bindings of one AOR land together, whatever their keys.
  const a = p({
    topic: 't',
    partitionMetadata: pm,
    message: { key: 'legacy:1', value: 'x', headers: { [AOR_HEADER]: 'alice@example.com' } },
  });
  const b = p({
    topic: 't',
    partitionMetadata: pm,
    message: { key: 'legacy:999', value: null, headers: { [AOR_HEADER]: Buffer.from('alice@example.com') } },
  });
  assert.equal(a, 0);
  assert.equal(b, 0);
  assert.equal(
    p({ topic: 't', partitionMetadata: pm, message: { key: 'legacy:2', value: 'x', headers: { [AOR_HEADER]: 'bob@example.org' } } }),
    10,
  );
  assert.equal(p({ topic: 't', partitionMetadata: pm, message: { key: 'legacy:truncate', value: 'x', partition: 7 } }), 7);
  assert.equal(p({ topic: 't', partitionMetadata: pm, message: { key: 'foobar', value: 'x' } }), 6);
  assert.equal(p({ topic: 't', partitionMetadata: pm, message: { key: null, value: 'x' } }), 0);
});

test('same AOR, same partition: deterministic across partitioner instances and calls', () => {
  for (let i = 0; i < 200; i++) {
    const aor = `user${i}@domain${i % 7}.example`;
    const first = AorPartitioner()({
      topic: 't',
      partitionMetadata: meta(16),
      message: { key: `s:${i}`, value: 'v', headers: { [AOR_HEADER]: aor } },
    });
    const second = AorPartitioner()({
      topic: 't',
      partitionMetadata: meta(16),
      message: { key: `s:${i + 1000}`, value: null, headers: { [AOR_HEADER]: aor } },
    });
    assert.equal(first, second, aor);
    assert.equal(first, partitionFor(aor, 16));
  }
});

test('partitionFor rejects a non-positive partition count', () => {
  assert.throws(() => partitionFor('a', 0), /partition count must be a positive integer, got 0/);
});
