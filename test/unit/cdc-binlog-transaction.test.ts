import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createDecoder } from '../../src/cdc/decoder.js';
import { ownWrite } from '../../src/reverse/ownWrites.js';

// The decoder hands reverse sync what a change event says of its transaction: PostgreSQL's
// source.txId, or a MySQL/MariaDB event's gtid, server_id and snapshot marker (the own-write check
// on MySQL/MariaDB targets, src/reverse/ownWrites.ts). Real Debezium envelopes (test/fixtures/debezium).

function value(file: string): Buffer {
  const doc = JSON.parse(readFileSync(new URL(`../fixtures/debezium/${file}`, import.meta.url), 'utf8')) as { value: unknown };
  return Buffer.from(JSON.stringify(doc.value));
}

const decoder = (release: '2.1' | '2.4') => createDecoder({ name: 'rollback', release, timeZone: 'UTC', caseSensitive: true });

test('a streamed MariaDB change carries its GTID, server id and snapshot "false"; no PostgreSQL txId', () => {
  const c = decoder('2.4').decodeChange(value('mariadb-2.4-noschemas-c.json'));
  assert.equal(c.decoded.kind, 'event');
  assert.equal(c.txId, null);
  assert.deepEqual(c.binlog, { gtid: '0-1-16', server_id: 1n, snapshot: 'false' });
  assert.equal(ownWrite(c.binlog, [{ serverId: 1n, fence: '0-1-15', gtid: '0-1-16', ceiling: null }]), 'own');
  for (const op of ['u', 'd']) {
    const x = decoder('2.4').decodeChange(value(`mariadb-2.4-schemas-${op}.json`));
    assert.equal(typeof x.binlog?.gtid, 'string', op);
    assert.equal(x.binlog?.snapshot, 'false', op);
  }
});

test('a MariaDB snapshot read says so (never an own write); PostgreSQL events carry txId and no binlog block', () => {
  const r = decoder('2.4').decodeChange(value('mariadb-2.4-noschemas-r.json'));
  assert.notEqual(r.binlog, null);
  assert.notEqual(r.binlog!.snapshot, 'false');
  assert.equal(ownWrite(r.binlog!, [{ serverId: r.binlog!.server_id, fence: '', gtid: null, ceiling: null }]), 'foreign');
  const pg = decoder('2.1').decodeChange(value('postgres-2.1-noschemas-c.json'));
  assert.equal(pg.binlog, null);
  assert.equal(typeof pg.txId, 'bigint');
  assert.deepEqual(decoder('2.4').decodeChange(null), { decoded: { kind: 'tombstone' }, txId: null, binlog: null });
});
