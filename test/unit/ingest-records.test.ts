import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeEvent, encodeEvent } from '../../src/log/codec.js';
import type { RegistrationEvent } from '../../src/log/event.js';
import { logRecords, truncateKey } from '../../src/log/messages.js';

const source = {
  name: 'legacy',
  release: '2.2',
  connector: 'POSTGRESQL' as const,
  table: 'public.location',
  rowKey: 4611686018427387903n,
  position: { major: 100n, minor: 1n, seq: 0n },
  snapshot: false,
  tsMs: 1719835200000n,
};
const registration = {
  username: 'alice',
  domain: 'example.com',
  contact: 'sip:alice@192.0.2.10',
  received: null,
  path: null,
  expires: 0n,
  q: -1,
  callid: 'c',
  cseq: 1,
  lastModified: 1719835200n,
  flags: 0,
  cflags: null,
  userAgent: '',
  socket: null,
  methods: null,
  sipInstance: null,
  kvStore: null,
  attr: null,
};

test('UPSERT: one record keyed by binding, with the AOR header', () => {
  const event: RegistrationEvent = { op: 'UPSERT', source, registration };
  const records = logRecords(event, 6);
  assert.deepEqual(records, [
    { key: 'legacy:4611686018427387903', value: encodeEvent(event), headers: { 'ulbridge-aor': 'alice@example.com' } },
  ]);
  assert.deepEqual(structuredClone(decodeEvent(records[0]!.value)), event); // avsc returns class instances
});

test('DELETE: the event, then a tombstone with the same key and header', () => {
  const event: RegistrationEvent = { op: 'DELETE', source, registration: { ...registration, domain: null } };
  assert.deepEqual(logRecords(event, 6), [
    { key: 'legacy:4611686018427387903', value: encodeEvent(event), headers: { 'ulbridge-aor': 'alice' } },
    { key: 'legacy:4611686018427387903', value: null, headers: { 'ulbridge-aor': 'alice' } },
  ]);
});

test('TRUNCATE: one record per partition, key <source>:truncate', () => {
  const event: RegistrationEvent = { op: 'TRUNCATE', source: { ...source, rowKey: 0n }, registration: null };
  const value = encodeEvent(event);
  assert.equal(truncateKey('legacy'), 'legacy:truncate');
  assert.deepEqual(logRecords(event, 3), [
    { key: 'legacy:truncate', value, partition: 0 },
    { key: 'legacy:truncate', value, partition: 1 },
    { key: 'legacy:truncate', value, partition: 2 },
  ]);
});

test('an UPSERT without a registration is a programming error', () => {
  assert.throws(
    () => logRecords({ op: 'UPSERT', source, registration: null }, 1),
    /UPSERT event for legacy:4611686018427387903 has no registration/,
  );
});
