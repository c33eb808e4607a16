import { test } from 'node:test';
import assert from 'node:assert/strict';
import avro from 'avsc';
import { rabinFingerprint } from '../../src/log/fingerprint.js';
import { decodeEvent, encodeEvent, schemaFingerprint } from '../../src/log/codec.js';
import type { RegistrationEvent } from '../../src/log/event.js';

test('CRC-64-AVRO matches the Avro specification test vectors', () => {
  const cases: Array<[string, bigint]> = [
    ['"null"', 7195948357588979594n],
    ['"boolean"', -6970731678124411036n],
    ['"int"', 8247732601305521295n],
    ['"string"', -8142146995180207161n],
    ['{"name":"foo","type":"fixed","size":15}', 1756455273707447556n],
  ];
  for (const [schema, expected] of cases) assert.equal(BigInt.asIntN(64, rabinFingerprint(schema)), expected, schema);
  // avsc renders the parsing canonical form that the fingerprint is taken over.
  assert.equal(
    JSON.stringify(avro.Type.forSchema({ type: 'fixed', name: 'foo', size: 15 }).schema()),
    '{"name":"foo","type":"fixed","size":15}',
  );
});

const event: RegistrationEvent = {
  op: 'UPSERT',
  source: {
    name: 'legacy',
    release: '2.1',
    connector: 'POSTGRESQL',
    table: 'public.location',
    rowKey: 4611686018427387903n,
    position: { major: 9007199254740993n, minor: 1n, seq: 0n },
    snapshot: false,
    tsMs: 1764000000123n,
  },
  registration: {
    username: 'alice',
    domain: 'example.com',
    contact: 'sip:alice@192.0.2.1:5060',
    received: null,
    path: null,
    expires: 1764003600n,
    q: 0.5,
    callid: 'cid-1',
    cseq: 7,
    lastModified: 1764000000n,
    flags: 0,
    cflags: null,
    userAgent: 'ua',
    socket: 'udp:192.0.2.10:5060',
    methods: null,
    sipInstance: null,
    kvStore: '{"a":1}',
    attr: null,
  },
};

test('events round-trip through single-object encoding with exact 64-bit values', () => {
  const buf = encodeEvent(event);
  assert.deepEqual([buf[0], buf[1]], [0xc3, 0x01]);
  assert.ok(buf.subarray(2, 10).equals(schemaFingerprint));
  const back = decodeEvent(buf);
  assert.equal(back.source.rowKey, 4611686018427387903n);
  assert.equal(back.source.position.major, 9007199254740993n);
  assert.deepEqual(
    JSON.parse(JSON.stringify(back, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))),
    JSON.parse(JSON.stringify(event, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))),
  );
});

test('decodeEvent refuses foreign payloads with a reason', () => {
  assert.throws(() => decodeEvent(Buffer.from('{"op":"c"}')), /missing C3 01 header/);
  const other = Buffer.concat([Buffer.from([0xc3, 0x01]), Buffer.alloc(8), Buffer.from([0])]);
  assert.throws(() => decodeEvent(other), /unknown schema fingerprint 0000000000000000/);
  assert.throws(() => encodeEvent({ ...event, registration: { ...event.registration!, cseq: 1.5 } }), /invalid at registration.*cseq/);
});
