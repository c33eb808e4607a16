import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDecoder, releaseFamily } from '../../src/cdc/index.js';
import type { RegistrationEvent, SourceDb } from '../../src/log/event.js';
import { UlbridgeError } from '../../src/ops/errors.js';
import { change, keyValue, type Db, type Op, type Release } from '../fixtures/debezium/handmade/build.js';

const RELEASES: Release[] = ['2.1', '2.2', '2.3', '2.4', '3.x', '4.0'];
const DBS: Db[] = ['postgresql', 'mysql', 'mariadb'];
const OPS: Op[] = ['r', 'c', 'u', 'd', 't'];

const unixFamily = (r: Release) => r === '2.4' || r === '3.x' || r === '4.0';

/**
 * The event build.ts's typical row must decode to, computed from the row's documented values and
 * not from the decoder: source zone Europe/Berlin (CEST, UTC+2 in July), case_sensitive=0.
 */
function expected(release: Release, db: Db, op: Op): RegistrationEvent {
  const pg = db === 'postgresql';
  const connector: SourceDb = pg ? 'POSTGRESQL' : 'MYSQL';
  const snapshot = op === 'r';
  const rowKey = op === 't' ? 0n : release === '2.1' ? 42n : 4611686018427387903n;
  const position = pg
    ? { major: 24023128n, minor: snapshot ? 0n : 1n, seq: 0n } // (lsn, 0 snapshot / 1 streaming, 0)
    : { major: 3n, minor: 4696n, seq: snapshot ? 0n : 1n }; // (mysql-bin.000003, pos, row 0 + 1)
  const source = {
    name: 'legacy',
    release,
    connector,
    table: pg ? 'public.location' : 'opensips.location',
    rowKey,
    position,
    snapshot,
    tsMs: 1719835200000n,
  };
  if (op === 't') return { op: 'TRUNCATE', source, registration: null };
  return {
    op: op === 'd' ? 'DELETE' : 'UPSERT',
    source,
    registration: {
      username: 'alice', // 'Alice' lower-cased: case_sensitive=0
      domain: 'example.com',
      contact: 'sip:alice@192.0.2.10:5060;transport=udp',
      received: 'sip:198.51.100.7:40112',
      path: null,
      // 2.4+: INTEGER 1719835200 as is; older: DATETIME 2024-07-01 12:00:00 CEST = 10:00Z.
      expires: unixFamily(release) ? 1719835200n : 1719828000n,
      q: 0.5,
      callid: 'a84b4c76e66710@pc33.example.com',
      cseq: 314159,
      lastModified: 1719824400n, // 2024-07-01 11:00:00 CEST = 09:00Z
      flags: 0,
      cflags: 'NAT SIPPING',
      userAgent: 'Linphone/5.2',
      socket: 'udp:192.0.2.1:5060',
      methods: null,
      sipInstance: '<urn:uuid:00000000-0000-1000-8000-000A95A0E128>',
      kvStore: unixFamily(release) ? '{"region":"eu"}' : null,
      attr: null,
    },
  };
}

for (const release of RELEASES) {
  for (const db of DBS) {
    for (const schemas of [true, false]) {
      test(`${release} ${db} ${schemas ? 'with' : 'without'} schemas: ops r, c, u, d, t decode exactly`, () => {
        const decoder = createDecoder({ name: 'legacy', release, timeZone: 'Europe/Berlin', caseSensitive: false });
        for (const op of OPS) {
          const value = Buffer.from(change({ release, db, op, schemas }));
          assert.deepEqual(decoder.decode(value), { kind: 'event', event: expected(release, db, op) }, `op ${op}`);
        }
      });
    }
  }
}

test('one decoder reads a topic whose connector switched value schemas off (or on): both forms, in any order, decode alike', () => {
  // `ulbridge connect apply` turns value schemas off on a connector created with them: the CDC
  // topic then holds both forms, and the one decoder of the ingest meets them interleaved.
  for (const db of DBS) {
    const decoder = createDecoder({ name: 'legacy', release: '2.1', timeZone: 'Europe/Berlin', caseSensitive: false });
    for (const schemas of [true, false, true, false]) {
      for (const op of OPS) {
        const value = Buffer.from(change({ release: '2.1', db, op, schemas }));
        assert.deepEqual(decoder.decode(value), { kind: 'event', event: expected('2.1', db, op) }, `${db} op ${op}, schemas ${schemas}`);
      }
    }
  }
});

test('Debezium tombstones are skipped, with and without schemas', () => {
  const decoder = createDecoder({ name: 'legacy', release: '2.2', timeZone: 'UTC', caseSensitive: false });
  assert.deepEqual(decoder.decode(null), { kind: 'tombstone' });
  assert.deepEqual(decoder.decode(Buffer.from('null')), { kind: 'tombstone' });
  assert.deepEqual(decoder.decode(Buffer.from('{"schema":null,"payload":null}')), { kind: 'tombstone' });
});

test('message keys are not needed: the row key comes from the row image', () => {
  // The Debezium key document is what Kafka partitions the CDC topic by; ingest keeps it only for
  // dead letters. It is valid JSON with the same big integer, for the record.
  assert.equal(keyValue('2.2', 'postgresql', 4611686018427387903n, false), '{"contact_id":4611686018427387903}');
});

test('int64 values beyond 2^53 survive: contact_id 4611686018427387903 and a 2^53+1 LSN', () => {
  const decoder = createDecoder({ name: 'legacy', release: '2.2', timeZone: 'UTC', caseSensitive: false });
  const value = change({
    release: '2.2',
    db: 'postgresql',
    op: 'c',
    schemas: false,
    key: 4611686018427387903n,
    source: { lsn: 9007199254740993n },
  });
  assert.ok(value.includes('"contact_id":4611686018427387903'));
  const d = decoder.decode(Buffer.from(value));
  assert.equal(d.kind, 'event');
  if (d.kind !== 'event') return;
  assert.equal(d.event.source.rowKey, 4611686018427387903n);
  assert.equal(d.event.source.position.major, 9007199254740993n);
  // JSON.parse would have rounded both.
  assert.notEqual(BigInt(JSON.parse('4611686018427387903') as number), 4611686018427387903n);
});

test('case_sensitive=1 keeps the user part; the domain is always lower-cased; %-escapes are undone', () => {
  const decoder = createDecoder({ name: 'legacy', release: '3.x', timeZone: 'UTC', caseSensitive: true });
  const value = change({
    release: '3.x',
    db: 'postgresql',
    op: 'c',
    schemas: true,
    row: { username: 'J%C3%BCrgen%20Ab', domain: 'VOIP.Example.NET' },
  });
  const d = decoder.decode(Buffer.from(value));
  assert.equal(d.kind === 'event' && d.event.registration?.username, 'Jürgen Ab');
  assert.equal(d.kind === 'event' && d.event.registration?.domain, 'voip.example.net');
});

test('an empty domain is "no domain" (null); a NULL domain stays null', () => {
  const decoder = createDecoder({ name: 'legacy', release: '2.1', timeZone: 'UTC', caseSensitive: false });
  const d = decoder.decode(Buffer.from(change({ release: '2.1', db: 'mysql', op: 'c', schemas: false, row: { domain: '' } })));
  assert.equal(d.kind === 'event' && d.event.registration?.domain, null);
});

test('MySQL BIGINT UNSIGNED with bigint.unsigned.handling.mode=precise (Decimal bytes) is read with schemas', () => {
  const decoder = createDecoder({ name: 'legacy', release: '2.2', timeZone: 'UTC', caseSensitive: false });
  const value = JSON.parse(change({ release: '2.2', db: 'mysql', op: 'c', schemas: true, key: 1n }));
  const keyField = value.schema.fields[1].fields.find((f: { field: string }) => f.field === 'contact_id');
  Object.assign(keyField, {
    type: 'bytes',
    name: 'org.apache.kafka.connect.data.Decimal',
    version: 1,
    parameters: { scale: '0', 'connect.decimal.precision': '20' },
  });
  // 4611686018427387903 = 0x3FFFFFFFFFFFFFFF, big-endian two's complement
  value.payload.after.contact_id = Buffer.from('3fffffffffffffff', 'hex').toString('base64');
  const d = decoder.decode(Buffer.from(JSON.stringify(value)));
  assert.equal(d.kind === 'event' && d.event.source.rowKey, 4611686018427387903n);
});

test('DATETIME columns follow the schema unit: MySQL DATETIME(6) (MicroTimestamp) and ZonedTimestamp', () => {
  const decoder = createDecoder({ name: 'legacy', release: '2.2', timeZone: 'Europe/Berlin', caseSensitive: false });
  const value = JSON.parse(change({ release: '2.2', db: 'mysql', op: 'c', schemas: true }));
  const fields = value.schema.fields[1].fields as { field: string; name?: string; type: string }[];
  fields.find((f) => f.field === 'expires')!.name = 'io.debezium.time.MicroTimestamp';
  value.payload.after.expires = 1719835200123456; // 2024-07-01 12:00:00.123456 wall clock
  Object.assign(
    fields.find((f) => f.field === 'last_modified')!,
    { type: 'string', name: 'io.debezium.time.ZonedTimestamp' },
  );
  value.payload.after.last_modified = '2024-07-01T09:00:00Z'; // an instant: no zone conversion
  const d = decoder.decode(Buffer.from(JSON.stringify(value)));
  assert.equal(d.kind === 'event' && d.event.registration?.expires, 1719828000n);
  assert.equal(d.kind === 'event' && d.event.registration?.lastModified, 1719824400n);
});

test('incremental snapshot reads (op r, snapshot "incremental") are snapshot reads', () => {
  const decoder = createDecoder({ name: 'legacy', release: '2.2', timeZone: 'UTC', caseSensitive: false });
  const d = decoder.decode(
    Buffer.from(change({ release: '2.2', db: 'postgresql', op: 'r', schemas: false, source: { snapshot: 'incremental' } })),
  );
  assert.equal(d.kind === 'event' && d.event.source.snapshot, true);
  assert.deepEqual(d.kind === 'event' && d.event.source.position, { major: 24023128n, minor: 0n, seq: 0n });
});

test('release families', () => {
  assert.equal(releaseFamily('2.1').keyColumn, 'id');
  assert.deepEqual(
    ['2.2', '2.3', '2.4', '3.x', '4.0'].map((r) => releaseFamily(r as Release).family),
    ['2.2-2.3', '2.2-2.3', '2.4+', '2.4+', '2.4+'],
  );
});

test('decoder configuration is validated once', () => {
  assert.throws(
    () => createDecoder({ name: 'legacy', release: '2.2', timeZone: 'Mars/Olympus', caseSensitive: false }),
    (e: unknown) =>
      e instanceof UlbridgeError &&
      e.code === 'CONFIG_INVALID' &&
      e.message === 'source "legacy": time zone "Mars/Olympus" is not an IANA zone name (e.g. UTC, Europe/Berlin)',
  );
  assert.throws(
    () => createDecoder({ name: 'a:b', release: '2.2', timeZone: 'UTC', caseSensitive: false }),
    (e: unknown) =>
      e instanceof UlbridgeError &&
      e.code === 'CONFIG_INVALID' &&
      e.message === `source name "a:b" must be letters, digits, '.', '_' or '-' (it prefixes every log key)`,
  );
  assert.throws(
    () => createDecoder({ name: 'legacy', release: '2.5' as Release, timeZone: 'UTC', caseSensitive: false }),
    (e: unknown) => e instanceof UlbridgeError && e.code === 'UNKNOWN_RELEASE',
  );
});
