import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDecoder, type Decoder } from '../../src/cdc/index.js';
import { encodeEvent } from '../../src/log/codec.js';
import { translate } from '../../src/ingest/translate.js';
import type { RawRecord } from '../../src/log/deadLetter.js';
import { change, keyValue } from '../fixtures/debezium/handmade/build.js';

const decoder = createDecoder({ name: 'legacy', release: '2.2', timeZone: 'UTC', caseSensitive: false });
const TOPIC = 'legacy_pg.public.location';
const raw = (offset: number, key: string | Buffer | null, value: string | Buffer | null): RawRecord => ({
  topic: TOPIC,
  partition: 2,
  offset: String(offset),
  key: key === null ? null : Buffer.isBuffer(key) ? key : Buffer.from(key),
  value: value === null ? null : Buffer.isBuffer(value) ? value : Buffer.from(value),
});

test('a mixed batch: upsert, delete + tombstone, Debezium tombstone skipped, dead letters, truncate fan-out', () => {
  const k = keyValue('2.2', 'postgresql', 7n, false);
  const create = change({ release: '2.2', db: 'postgresql', op: 'c', schemas: false, key: 7n, source: { lsn: 10n } });
  const del = change({ release: '2.2', db: 'postgresql', op: 'd', schemas: false, key: 7n, source: { lsn: 11n } });
  const trunc = change({ release: '2.2', db: 'postgresql', op: 't', schemas: false, source: { lsn: 12n, tsMs: 1719835300000n } });
  const t = translate(decoder, 2, [
    raw(100, k, create),
    raw(101, k, del),
    raw(102, k, null), // Debezium's own tombstone after the delete
    raw(103, k, '{"op":'),
    raw(104, Buffer.from([0xff, 0xfe]), Buffer.from([0x80, 0x81])),
    raw(105, null, trunc),
  ]);
  const upsert = decoder.decode(Buffer.from(create));
  const deleted = decoder.decode(Buffer.from(del));
  const truncated = decoder.decode(Buffer.from(trunc));
  assert.ok(upsert.kind === 'event' && deleted.kind === 'event' && truncated.kind === 'event');
  const headers = { 'ulbridge-aor': 'alice@example.com' };
  assert.deepEqual(t.log, [
    { key: 'legacy:7', value: encodeEvent(upsert.event), headers },
    { key: 'legacy:7', value: encodeEvent(deleted.event), headers },
    { key: 'legacy:7', value: null, headers },
    { key: 'legacy:truncate', value: encodeEvent(truncated.event), partition: 0 },
    { key: 'legacy:truncate', value: encodeEvent(truncated.event), partition: 1 },
  ]);
  assert.deepEqual(t.outcomes, { upsert: 1, delete: 1, truncate: 1, tombstone: 1, dead_letter: 2 });
  assert.deepEqual([...t.reasons], [['MALFORMED_JSON', 2]]);
  assert.equal(t.snapshotReads, 0);
  assert.equal(t.lastTsMs, 1719835300000n);
  assert.deepEqual(t.deadLetters, [
    {
      key: Buffer.from(k),
      value: JSON.stringify({
        stage: 'ingest',
        pipeline: 'legacy',
        reason: 'MALFORMED_JSON',
        message: "value is not valid JSON: Object value expected after ':' at position 6",
        source: { topic: TOPIC, partition: 2, offset: '103' },
        key: '{"contact_id":7}',
        keyEncoding: 'text',
        value: '{"op":',
        valueEncoding: 'text',
      }),
      headers: { 'ulbridge-stage': 'ingest', 'ulbridge-pipeline': 'legacy', 'ulbridge-reason': 'MALFORMED_JSON' },
    },
    {
      key: Buffer.from([0xff, 0xfe]),
      value: JSON.stringify({
        stage: 'ingest',
        pipeline: 'legacy',
        reason: 'MALFORMED_JSON',
        message: 'value is not valid UTF-8',
        source: { topic: TOPIC, partition: 2, offset: '104' },
        key: '//4=',
        keyEncoding: 'base64',
        value: 'gIE=',
        valueEncoding: 'base64',
      }),
      headers: { 'ulbridge-stage': 'ingest', 'ulbridge-pipeline': 'legacy', 'ulbridge-reason': 'MALFORMED_JSON' },
    },
  ]);
});

test('a dead letter for a null key records null with a null encoding', () => {
  const t = translate(decoder, 1, [raw(5, null, '[]')]);
  assert.deepEqual(JSON.parse(t.deadLetters[0]!.value as string), {
    stage: 'ingest',
    pipeline: 'legacy',
    reason: 'NOT_AN_ENVELOPE',
    message: 'value is an array, not a Debezium change event',
    source: { topic: TOPIC, partition: 2, offset: '5' },
    key: null,
    keyEncoding: null,
    value: '[]',
    valueEncoding: 'text',
  });
  assert.equal(t.deadLetters[0]!.key, null);
});

test('INTERNAL: an unexpected decoder failure becomes a dead letter, not a crash', () => {
  const broken: Decoder = {
    ...decoder,
    decode: () => {
      throw new TypeError('boom');
    },
  };
  const t = translate(broken, 1, [raw(9, 'k', '{}')]);
  assert.deepEqual(t.log, []);
  assert.deepEqual([...t.reasons], [['INTERNAL', 1]]);
  assert.equal(JSON.parse(t.deadLetters[0]!.value as string).message, 'boom');
  // An event the Avro schema refuses is INTERNAL too.
  const invalid: Decoder = {
    ...decoder,
    decode: () => ({
      kind: 'event',
      event: {
        op: 'TRUNCATE',
        source: {
          name: 'legacy',
          release: '2.2',
          connector: 'MYSQL',
          table: 't',
          rowKey: 0n,
          position: { major: 0n, minor: 0n, seq: 0n },
          snapshot: false,
          tsMs: 2n ** 64n,
        },
        registration: null,
      },
    }),
  };
  const t2 = translate(invalid, 1, [raw(10, 'k', '{}')]);
  assert.equal(
    JSON.parse(t2.deadLetters[0]!.value as string).message,
    'the decoded event could not be encoded: registration event is invalid at source.tsMs',
  );
});

test('snapshot reads are counted (a stage paces itself behind a snapshot: src/ops/snapshotLinger.ts)', () => {
  const read = (key: bigint) => change({ release: '2.2', db: 'postgresql', op: 'r', schemas: false, key, source: { lsn: 10n } });
  const update = change({ release: '2.2', db: 'postgresql', op: 'u', schemas: false, key: 9n, source: { lsn: 11n } });
  const t = translate(decoder, 2, [raw(0, null, read(7n)), raw(1, null, read(8n)), raw(2, null, update), raw(3, null, '{')]);
  assert.deepEqual(t.outcomes, { upsert: 3, delete: 0, truncate: 0, tombstone: 0, dead_letter: 1 });
  assert.equal(t.snapshotReads, 2);
});
