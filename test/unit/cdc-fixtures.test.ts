import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'lossless-json';
import { createDecoder, type DecoderConfig } from '../../src/cdc/index.js';
import type { Registration, RegistrationEvent } from '../../src/log/event.js';
import { envelopeValue, locationRow, sourceBlock, wallclock, float, type Row } from '../fixtures/debezium/handmade/build.js';

const HANDMADE = fileURLToPath(new URL('../fixtures/debezium/handmade/', import.meta.url));

const read = (name: string): Buffer => readFileSync(HANDMADE + name);

/** The typical row of build.ts, canonicalised (lower-case user and domain unless stated). */
function reg(over: Partial<Registration>): Registration {
  return {
    username: 'alice',
    domain: 'example.com',
    contact: 'sip:alice@192.0.2.10:5060;transport=udp',
    received: 'sip:198.51.100.7:40112',
    path: null,
    expires: 1719835200n,
    q: 0.5,
    callid: 'a84b4c76e66710@pc33.example.com',
    cseq: 314159,
    lastModified: 1719831600n,
    flags: 0,
    cflags: 'NAT SIPPING',
    userAgent: 'Linphone/5.2',
    socket: 'udp:192.0.2.1:5060',
    methods: null,
    sipInstance: '<urn:uuid:00000000-0000-1000-8000-000A95A0E128>',
    kvStore: null,
    attr: null,
    ...over,
  };
}

interface Case {
  file: string;
  config: DecoderConfig;
  expected: RegistrationEvent;
}

const cases: Case[] = [
  {
    file: 'pg-2.1-read-schema.json',
    config: { name: 'legacy', release: '2.1', timeZone: 'Europe/Berlin', caseSensitive: false },
    expected: {
      op: 'UPSERT',
      source: {
        name: 'legacy',
        release: '2.1',
        connector: 'POSTGRESQL',
        table: 'public.location',
        rowKey: 7n,
        position: { major: 23983784n, minor: 0n, seq: 0n },
        snapshot: true,
        tsMs: 1711850000000n,
      },
      // Bob%2Bwork -> Bob+work -> bob+work; 1970-01-01 01:00:00 is localtime(0) in Berlin: permanent;
      // 2024-03-31 02:30 Berlin does not exist and is read as 03:30 CEST (glibc mktime: 1711848600).
      registration: reg({ username: 'bob+work', domain: 'sip.example.org', expires: 0n, q: -1, lastModified: 1711848600n }),
    },
  },
  {
    file: 'pg-2.2-create-schemaless.json',
    config: { name: 'legacy', release: '2.2', timeZone: 'UTC', caseSensitive: true },
    expected: {
      op: 'UPSERT',
      source: {
        name: 'legacy',
        release: '2.2',
        connector: 'POSTGRESQL',
        table: 'public.location',
        rowKey: 4611686018427387903n,
        position: { major: 9007199254740993n, minor: 1n, seq: 0n },
        snapshot: false,
        tsMs: 1719835200000n,
      },
      registration: reg({ username: 'Alice' }),
    },
  },
  {
    file: 'pg-4.0-delete-schema.json',
    config: { name: 'legacy', release: '4.0', timeZone: 'America/New_York', caseSensitive: false },
    expected: {
      op: 'DELETE',
      source: {
        name: 'legacy',
        release: '4.0',
        connector: 'POSTGRESQL',
        table: 'public.location',
        rowKey: 1234567890123456789n,
        position: { major: 40000000000n, minor: 1n, seq: 0n },
        snapshot: false,
        tsMs: 1730000000000n,
      },
      // last_modified 2024-07-01 11:00 EDT = 15:00Z
      registration: reg({ domain: null, expires: 0n, lastModified: 1719846000n }),
    },
  },
  {
    file: 'pg-2.2-truncate-schemaless.json',
    config: { name: 'legacy', release: '2.2', timeZone: 'UTC', caseSensitive: false },
    expected: {
      op: 'TRUNCATE',
      source: {
        name: 'legacy',
        release: '2.2',
        connector: 'POSTGRESQL',
        table: 'public.location',
        rowKey: 0n,
        position: { major: 40000000512n, minor: 1n, seq: 0n },
        snapshot: false,
        tsMs: 1730000001000n,
      },
      registration: null,
    },
  },
  {
    file: 'mysql-2.1-update-schemaless.json',
    config: { name: 'legacy', release: '2.1', timeZone: 'Europe/Berlin', caseSensitive: false },
    expected: {
      op: 'UPSERT',
      source: {
        name: 'legacy',
        release: '2.1',
        connector: 'MYSQL',
        table: 'opensips.location',
        rowKey: 4294967295n,
        position: { major: 12n, minor: 154n, seq: 3n },
        snapshot: false,
        tsMs: 1729990000000n,
      },
      // expires 2024-10-27 02:30 Berlin exists twice: the later (CET) instant, 01:30Z.
      // last_modified 2024-10-27 01:30 CEST = 2024-10-26 23:30Z.
      registration: reg({ cseq: 11, expires: 1729992600n, lastModified: 1729985400n }),
    },
  },
  {
    file: 'mysql-2.3-delete-schema.json',
    config: { name: 'legacy', release: '2.3', timeZone: 'UTC', caseSensitive: false },
    expected: {
      op: 'DELETE',
      source: {
        name: 'legacy',
        release: '2.3',
        connector: 'MYSQL',
        table: 'opensips.location',
        rowKey: 3221241728n,
        position: { major: 4n, minor: 9876543n, seq: 1n },
        snapshot: false,
        tsMs: 1719835300000n,
      },
      registration: reg({ username: 'carol', domain: null }),
    },
  },
  {
    file: 'mariadb-3.x-create-schemaless.json',
    config: { name: 'legacy', release: '3.x', timeZone: 'UTC', caseSensitive: false },
    expected: {
      op: 'UPSERT',
      source: {
        name: 'legacy',
        release: '3.x',
        connector: 'MYSQL',
        table: 'opensips.location',
        rowKey: 70368744177664n,
        position: { major: 1n, minor: 3301n, seq: 1n },
        snapshot: false,
        tsMs: 1719835400000n,
      },
      registration: reg({ username: 'dave', expires: 4294967295n, kvStore: '{"region":"eu"}' }),
    },
  },
  {
    file: 'mysql-2.4-read-schema.json',
    config: { name: 'legacy', release: '2.4', timeZone: 'UTC', caseSensitive: false },
    expected: {
      op: 'UPSERT',
      source: {
        name: 'legacy',
        release: '2.4',
        connector: 'MYSQL',
        table: 'opensips.location',
        rowKey: 1n,
        position: { major: 3n, minor: 157n, seq: 0n },
        snapshot: true,
        tsMs: 1719835000000n,
      },
      registration: reg({ kvStore: '{"region":"eu"}' }),
    },
  },
];

test('every handmade envelope is covered by an expected event', () => {
  const files = readdirSync(HANDMADE)
    .filter((f) => f.endsWith('.json'))
    .sort();
  assert.deepEqual(files, cases.map((c) => c.file).sort());
});

for (const c of cases) {
  test(`handmade ${c.file} decodes to the exact event`, () => {
    const decoded = createDecoder(c.config).decode(read(c.file));
    assert.deepEqual(decoded, { kind: 'event', event: c.expected });
  });
}

/** The builder's document for each file, so matrix tests built from it use the documented shape. */
const rebuilt: Record<string, () => string> = {
  'pg-2.1-read-schema.json': () =>
    envelopeValue({
      release: '2.1',
      db: 'postgresql',
      op: 'r',
      before: null,
      schemas: true,
      tsMs: 1711850000456n,
      after: {
        ...locationRow('2.1', 'postgresql', 7n),
        username: 'Bob%2Bwork',
        domain: 'SIP.Example.org',
        expires: wallclock('postgresql', '1970-01-01 01:00:00'),
        last_modified: wallclock('postgresql', '2024-03-31 02:30:00'),
        q: float('-1.0'),
      },
      source: sourceBlock('postgresql', { tsMs: 1711850000000n, snapshot: 'first', lsn: 23983784n, txId: 745n }),
    }),
  'pg-2.2-create-schemaless.json': () =>
    envelopeValue({
      release: '2.2',
      db: 'postgresql',
      op: 'c',
      before: null,
      after: locationRow('2.2', 'postgresql', 4611686018427387903n),
      source: sourceBlock('postgresql', { tsMs: 1719835200000n, lsn: 9007199254740993n, txId: 9007199254740995n }),
      schemas: false,
    }),
  'pg-4.0-delete-schema.json': () =>
    envelopeValue({
      release: '4.0',
      db: 'postgresql',
      op: 'd',
      after: null,
      schemas: true,
      before: { ...locationRow('4.0', 'postgresql', 1234567890123456789n), domain: null, expires: 0n, kv_store: null },
      source: sourceBlock('postgresql', { tsMs: 1730000000000n, lsn: 40000000000n, txId: 901n }),
    }),
  'pg-2.2-truncate-schemaless.json': () =>
    envelopeValue({
      release: '2.2',
      db: 'postgresql',
      op: 't',
      before: null,
      after: null,
      source: sourceBlock('postgresql', { tsMs: 1730000001000n, lsn: 40000000512n, txId: 902n }),
      schemas: false,
    }),
  'mysql-2.1-update-schemaless.json': () => {
    const before = { ...locationRow('2.1', 'mysql', 4294967295n), cseq: 10n } as Row;
    const after = {
      ...before,
      cseq: 11n,
      expires: wallclock('mysql', '2024-10-27 02:30:00'),
      last_modified: wallclock('mysql', '2024-10-27 01:30:00'),
    } as Row;
    return envelopeValue({
      release: '2.1',
      db: 'mysql',
      op: 'u',
      before,
      after,
      source: sourceBlock('mysql', { tsMs: 1729990000000n, file: 'mysql-bin.000012', pos: 154n, row: 2n }),
      schemas: false,
    });
  },
  'mysql-2.3-delete-schema.json': () =>
    envelopeValue({
      release: '2.3',
      db: 'mysql',
      op: 'd',
      after: null,
      schemas: true,
      before: { ...locationRow('2.3', 'mysql', 3221241728n), username: 'carol', domain: null },
      source: sourceBlock('mysql', {
        tsMs: 1719835300000n,
        file: 'binlog.000004',
        pos: 9876543n,
        row: 0n,
        gtid: '3e11fa47-71ca-11e1-9e33-c80aa9429562:23',
      }),
    }),
  'mariadb-3.x-create-schemaless.json': () =>
    envelopeValue({
      release: '3.x',
      db: 'mariadb',
      op: 'c',
      before: null,
      schemas: false,
      after: { ...locationRow('3.x', 'mariadb', 70368744177664n), username: 'DAVE', expires: 4294967295n },
      source: sourceBlock('mariadb', { tsMs: 1719835400000n, file: 'mariadb-bin.000001', pos: 3301n, row: 0n }),
    }),
  'mysql-2.4-read-schema.json': () =>
    envelopeValue({
      release: '2.4',
      db: 'mysql',
      op: 'r',
      before: null,
      after: locationRow('2.4', 'mysql', 1n),
      source: sourceBlock('mysql', { tsMs: 1719835000000n, snapshot: 'last', file: 'mysql-bin.000003', pos: 157n, row: 0n }),
      schemas: true,
    }),
};

test('the fixture builder reproduces every handmade document', () => {
  for (const c of cases) {
    const build = rebuilt[c.file];
    assert.ok(build, c.file);
    assert.equal(stringify(parse(read(c.file).toString('utf8'))), build(), c.file);
  }
});
