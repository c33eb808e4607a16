import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeEvent, encodeEvent } from '../../src/log/codec.js';
import type { RegistrationEvent } from '../../src/log/event.js';

// The projection decodes longs with its own zigzag varint reader (src/log/codec.ts): every
// encoded width (1..10 bytes), both signs and both ends of the 64-bit range must come back exact.
const edges: bigint[] = [
  0n,
  1n,
  -1n,
  63n,
  -64n,
  64n,
  -65n,
  8191n,
  8192n,
  (1n << 48n) - 1n,
  1n << 48n,
  -(1n << 48n),
  -(1n << 48n) - 1n,
  (1n << 53n) + 1n,
  -(1n << 53n) - 1n,
  (1n << 62n) + 12345n,
  (1n << 63n) - 1n,
  -(1n << 63n),
];
for (let k = 0n; k < 64n; k += 7n) edges.push((1n << k) - 1n, 1n << k, -(1n << k), -(1n << k) - 1n);

function eventWith(v: bigint): RegistrationEvent {
  return {
    op: 'UPSERT',
    source: {
      name: 's',
      release: '2.1',
      connector: 'POSTGRESQL',
      table: 't',
      rowKey: v,
      position: { major: v, minor: -v === v ? v : BigInt.asIntN(64, -v), seq: 7n },
      snapshot: false,
      tsMs: v,
    },
    registration: {
      username: 'u',
      domain: null,
      contact: 'sip:u@h',
      received: null,
      path: null,
      expires: v,
      q: 1,
      callid: 'c',
      cseq: 1,
      lastModified: v,
      flags: 0,
      cflags: null,
      userAgent: '',
      socket: null,
      methods: null,
      sipInstance: null,
      kvStore: null,
      attr: null,
    },
  };
}

test('64-bit longs decode exactly at every varint width and at the range ends', () => {
  for (const v of edges.filter((x) => x >= -(1n << 63n) && x < 1n << 63n)) {
    const e = eventWith(v);
    assert.deepEqual(structuredClone(decodeEvent(encodeEvent(e))), e, `value ${v}`);
  }
});

test('a truncated long is still rejected', () => {
  const buf = encodeEvent(eventWith((1n << 62n) + 5n));
  assert.throws(() => decodeEvent(buf.subarray(0, 16)));
});
