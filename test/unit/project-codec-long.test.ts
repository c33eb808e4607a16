import { test } from 'node:test';
import assert from 'node:assert/strict';
import avro from 'avsc';
import { decodeEvent, encodeEvent, LongAsBigInt, registrationEventSchema, registrationEventType } from '../../src/log/codec.js';
import type { RegistrationEvent } from '../../src/log/event.js';

// Longs are read and written by ulbridge's own zigzag varint code (src/log/codec.ts): every
// encoded width (1..10 bytes), both signs and both ends of the 64-bit range must come back exact,
// and be written byte for byte as avsc's own writer for a bigint long type writes them.
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
/** The edges a long can hold (the loop above also makes 2^63 and -2^63 - 1). */
const longEdges = edges.filter((x) => x >= -(1n << 63n) && x < 1n << 63n);

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
  for (const v of longEdges) {
    const e = eventWith(v);
    assert.deepEqual(structuredClone(decodeEvent(encodeEvent(e))), e, `value ${v}`);
  }
});

test('a truncated long is still rejected', () => {
  const buf = encodeEvent(eventWith((1n << 62n) + 5n));
  assert.throws(() => decodeEvent(buf.subarray(0, 16)));
});

/** avsc's own path for a bigint long (no direct reader or writer): the reference for the bytes. */
const referenceType = avro.Type.forSchema(registrationEventSchema, { registry: { long: LongAsBigInt } });

test("64-bit longs are written byte for byte as avsc's own writer writes them, at every width and across the fast path's limit", () => {
  const around = [1n << 52n, -(1n << 52n)].flatMap((x) => [x - 1n, x, x + 1n]);
  let seed = 0x2545f4914f6cdd1dn;
  const random = Array.from({ length: 200 }, () => {
    seed = BigInt.asUintN(64, seed * 6364136223846793005n + 1442695040888963407n);
    return BigInt.asIntN(64, seed) >> BigInt(Number(seed % 60n));
  });
  for (const v of [...longEdges, ...around, ...random]) {
    const e = eventWith(v);
    assert.deepEqual(encodeEvent(e).subarray(10), referenceType.toBuffer(e), `value ${v}`);
    assert.deepEqual(structuredClone(decodeEvent(encodeEvent(e))), e, `value ${v}`);
  }
});

test('a value that is not a 64-bit long is refused as avsc refuses it', () => {
  const message = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      return String(e);
    }
    return 'no error';
  };
  for (const bad of [1n << 63n, -(1n << 63n) - 1n]) {
    const expected = message(() => referenceType.toBuffer(eventWith(bad)));
    assert.notEqual(expected, 'no error');
    assert.equal(
      message(() => registrationEventType.toBuffer(eventWith(bad))),
      expected,
    );
    assert.throws(() => encodeEvent(eventWith(bad)), /registration event is invalid at source\.rowKey/);
  }
});
