import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'lossless-json';
import { createDecoder } from '../../src/cdc/index.js';
import type { Registration, RegistrationEvent } from '../../src/log/event.js';
import type { ReleaseName } from '../../src/opensips/releases.js';

/**
 * Envelopes captured from a running Debezium (PostgreSQL and MariaDB connectors, JSON converter
 * with and without schemas) by the stack's capture harness: test/fixtures/debezium/<db>-<release>-
 * <schemas|noschemas>-<op>.json, each {"topic", "key", "value"} with the key and value documents.
 * Every one must decode to the exact event below (source zone UTC, case_sensitive=0).
 *
 * The seed rows: alice (key 1, snapshot read then update), bob (key 2, deleted; REPLICA IDENTITY
 * FULL / full binlog row image), jürgen (key 3, inserted). DATETIMEs are 2024-05-01 wall clocks.
 */

const DIR = fileURLToPath(new URL('../fixtures/debezium/', import.meta.url));
const CAPTURE = /^(postgres|mariadb)-(2\.1|2\.4)-(schemas|noschemas)-(c|d|r|u|tombstone)\.json$/;

interface Facts {
  rowKey: bigint;
  position: [bigint, bigint, bigint];
  tsMs: bigint;
  table: string;
}

const FILES: Record<string, Facts | 'tombstone'> = {
  'mariadb-2.1-noschemas-c.json': { rowKey: 3n, position: [1n, 4631n, 1n], tsMs: 1795966069000n, table: 'cdc_18751_3_ce127b.location' },
  'mariadb-2.1-noschemas-d.json': { rowKey: 2n, position: [1n, 5920n, 1n], tsMs: 1795966069000n, table: 'cdc_18751_3_ce127b.location' },
  'mariadb-2.1-noschemas-r.json': { rowKey: 1n, position: [1n, 4087n, 0n], tsMs: 1795966066000n, table: 'cdc_18751_3_ce127b.location' },
  'mariadb-2.1-noschemas-tombstone.json': 'tombstone',
  'mariadb-2.1-noschemas-u.json': { rowKey: 1n, position: [1n, 5110n, 1n], tsMs: 1795966069000n, table: 'cdc_18751_3_ce127b.location' },
  'mariadb-2.1-schemas-c.json': { rowKey: 3n, position: [1n, 4631n, 1n], tsMs: 1795966069000n, table: 'cdc_18751_3_ce127b.location' },
  'mariadb-2.1-schemas-d.json': { rowKey: 2n, position: [1n, 5920n, 1n], tsMs: 1795966069000n, table: 'cdc_18751_3_ce127b.location' },
  'mariadb-2.1-schemas-r.json': { rowKey: 1n, position: [1n, 4087n, 0n], tsMs: 1795966069000n, table: 'cdc_18751_3_ce127b.location' },
  'mariadb-2.1-schemas-tombstone.json': 'tombstone',
  'mariadb-2.1-schemas-u.json': { rowKey: 1n, position: [1n, 5110n, 1n], tsMs: 1795966069000n, table: 'cdc_18751_3_ce127b.location' },
  'mariadb-2.4-noschemas-c.json': { rowKey: 3n, position: [1n, 10484n, 1n], tsMs: 1795966084000n, table: 'cdc_18751_4_36bc05.location' },
  'mariadb-2.4-noschemas-d.json': { rowKey: 2n, position: [1n, 11825n, 1n], tsMs: 1795966084000n, table: 'cdc_18751_4_36bc05.location' },
  'mariadb-2.4-noschemas-r.json': { rowKey: 1n, position: [1n, 9935n, 0n], tsMs: 1795966081000n, table: 'cdc_18751_4_36bc05.location' },
  'mariadb-2.4-noschemas-tombstone.json': 'tombstone',
  'mariadb-2.4-noschemas-u.json': { rowKey: 1n, position: [1n, 10963n, 1n], tsMs: 1795966084000n, table: 'cdc_18751_4_36bc05.location' },
  'mariadb-2.4-schemas-c.json': { rowKey: 3n, position: [1n, 10484n, 1n], tsMs: 1795966084000n, table: 'cdc_18751_4_36bc05.location' },
  'mariadb-2.4-schemas-d.json': { rowKey: 2n, position: [1n, 11825n, 1n], tsMs: 1795966084000n, table: 'cdc_18751_4_36bc05.location' },
  'mariadb-2.4-schemas-r.json': { rowKey: 1n, position: [1n, 9935n, 0n], tsMs: 1795966084000n, table: 'cdc_18751_4_36bc05.location' },
  'mariadb-2.4-schemas-tombstone.json': 'tombstone',
  'mariadb-2.4-schemas-u.json': { rowKey: 1n, position: [1n, 10963n, 1n], tsMs: 1795966084000n, table: 'cdc_18751_4_36bc05.location' },
  'postgres-2.1-noschemas-c.json': { rowKey: 3n, position: [26567616n, 1n, 0n], tsMs: 1795966033824n, table: 'public.location' },
  'postgres-2.1-noschemas-d.json': { rowKey: 2n, position: [26568720n, 1n, 0n], tsMs: 1795966033962n, table: 'public.location' },
  'postgres-2.1-noschemas-r.json': { rowKey: 1n, position: [26565424n, 0n, 0n], tsMs: 1795966031333n, table: 'public.location' },
  'postgres-2.1-noschemas-tombstone.json': 'tombstone',
  'postgres-2.1-noschemas-u.json': { rowKey: 1n, position: [26568048n, 1n, 0n], tsMs: 1795966033879n, table: 'public.location' },
  'postgres-2.1-schemas-c.json': { rowKey: 3n, position: [26567616n, 1n, 0n], tsMs: 1795966033824n, table: 'public.location' },
  'postgres-2.1-schemas-d.json': { rowKey: 2n, position: [26568720n, 1n, 0n], tsMs: 1795966033962n, table: 'public.location' },
  'postgres-2.1-schemas-r.json': { rowKey: 1n, position: [26567576n, 0n, 0n], tsMs: 1795966033076n, table: 'public.location' },
  'postgres-2.1-schemas-tombstone.json': 'tombstone',
  'postgres-2.1-schemas-u.json': { rowKey: 1n, position: [26568048n, 1n, 0n], tsMs: 1795966033879n, table: 'public.location' },
  'postgres-2.4-noschemas-c.json': { rowKey: 3n, position: [31035136n, 1n, 0n], tsMs: 1795966047567n, table: 'public.location' },
  'postgres-2.4-noschemas-d.json': { rowKey: 2n, position: [31036144n, 1n, 0n], tsMs: 1795966047649n, table: 'public.location' },
  'postgres-2.4-noschemas-r.json': { rowKey: 1n, position: [31032968n, 0n, 0n], tsMs: 1795966045436n, table: 'public.location' },
  'postgres-2.4-noschemas-tombstone.json': 'tombstone',
  'postgres-2.4-noschemas-u.json': { rowKey: 1n, position: [31035440n, 1n, 0n], tsMs: 1795966047613n, table: 'public.location' },
  'postgres-2.4-schemas-c.json': { rowKey: 3n, position: [31035136n, 1n, 0n], tsMs: 1795966047567n, table: 'public.location' },
  'postgres-2.4-schemas-d.json': { rowKey: 2n, position: [31036144n, 1n, 0n], tsMs: 1795966047649n, table: 'public.location' },
  'postgres-2.4-schemas-r.json': { rowKey: 1n, position: [31035096n, 0n, 0n], tsMs: 1795966046847n, table: 'public.location' },
  'postgres-2.4-schemas-tombstone.json': 'tombstone',
  'postgres-2.4-schemas-u.json': { rowKey: 1n, position: [31035440n, 1n, 0n], tsMs: 1795966047613n, table: 'public.location' },
};

const alice: Omit<Registration, 'kvStore'> = {
  username: 'alice',
  domain: 'example.com',
  contact: 'sip:alice@192.0.2.10:5060;transport=udp',
  received: 'sip:198.51.100.7:5062',
  path: '<sip:edge.example.com;lr>',
  expires: 1714568400n,
  q: 0.5,
  callid: 'a84b4c76e66710@pc33.example.com',
  cseq: 10,
  lastModified: 1714564800n,
  flags: 0,
  cflags: 'NAT',
  userAgent: 'Linphone/5.2.0',
  socket: 'udp:192.0.2.1:5060',
  methods: 8191,
  sipInstance: '<urn:uuid:00000000-0000-1000-8000-00a0c91e6bf6>',
  attr: null,
};
const registrations: Record<'r' | 'u' | 'c' | 'd', (release: string) => Registration> = {
  r: (release) => ({ ...alice, kvStore: release === '2.4' ? '{"ua":"linphone"}' : null }),
  // 2024-05-01 13:00 -> 14:00, last_modified 12:00 -> 12:30, cseq 10 -> 11
  u: (release) => ({
    ...alice,
    expires: 1714572000n,
    cseq: 11,
    lastModified: 1714566600n,
    kvStore: release === '2.4' ? '{"ua":"linphone"}' : null,
  }),
  c: () => ({
    username: 'jürgen',
    domain: 'example.org',
    contact: 'sip:j%C3%BCrgen@203.0.113.5:5080',
    received: null,
    path: null,
    expires: 1714568400n,
    q: 1,
    callid: 'carol-call-1',
    cseq: 2,
    lastModified: 1714564800n,
    flags: 0,
    cflags: null,
    userAgent: 'MicroSIP/3.21',
    socket: null,
    methods: null,
    sipInstance: null,
    kvStore: null,
    attr: 'x=1',
  }),
  d: () => ({
    username: 'bob',
    domain: 'example.com',
    contact: 'sip:bob@192.0.2.20:5060',
    received: null,
    path: null,
    expires: 1714568400n,
    q: 1,
    callid: 'bob-call-1',
    cseq: 1,
    lastModified: 1714564800n,
    flags: 0,
    cflags: null,
    userAgent: 'Zoiper',
    socket: null,
    methods: null,
    sipInstance: null,
    kvStore: null,
    attr: null,
  }),
};

function expected(file: string): RegistrationEvent | 'tombstone' {
  const facts = FILES[file]!;
  if (facts === 'tombstone') return facts;
  const [, db, release, , op] = CAPTURE.exec(file)!;
  return {
    op: op === 'd' ? 'DELETE' : 'UPSERT',
    source: {
      name: 'legacy',
      release: release!,
      connector: db === 'postgres' ? 'POSTGRESQL' : 'MYSQL',
      table: facts.table,
      rowKey: facts.rowKey,
      position: { major: facts.position[0], minor: facts.position[1], seq: facts.position[2] },
      snapshot: op === 'r',
      tsMs: facts.tsMs,
    },
    registration: registrations[op as 'r' | 'u' | 'c' | 'd'](release!),
  };
}

const present = existsSync(DIR)
  ? readdirSync(DIR)
      .filter((f) => CAPTURE.test(f))
      .sort()
  : [];

test('every captured envelope has an expected event', { skip: present.length === 0 ? 'no captured envelopes yet' : false }, () => {
  assert.deepEqual(
    present.filter((f) => !(f in FILES)),
    [],
  );
});

for (const file of Object.keys(FILES)) {
  test(`captured ${file} decodes exactly`, { skip: present.includes(file) ? false : 'not captured in this checkout' }, () => {
    const doc = parse(readFileSync(DIR + file, 'utf8')) as { topic: string; key: unknown; value: unknown };
    const release = CAPTURE.exec(file)![2] as ReleaseName;
    const decoder = createDecoder({ name: 'legacy', release, timeZone: 'UTC', caseSensitive: false });
    const decoded = decoder.decode(doc.value === null ? null : Buffer.from(stringify(doc.value)!));
    const want = expected(file);
    assert.deepEqual(decoded, want === 'tombstone' ? { kind: 'tombstone' } : { kind: 'event', event: want });
    // The Debezium key names the same row.
    const key = (doc.key as { payload?: Record<string, unknown> }).payload ?? (doc.key as Record<string, unknown>);
    const keyValue = Object.values(key)[0];
    if (want !== 'tombstone') assert.equal(String(keyValue), String(want.source.rowKey));
  });
}
