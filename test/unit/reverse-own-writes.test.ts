import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { MysqlSource } from '../../src/cdc/envelope.js';
import { readSource } from '../../src/cdc/source.js';
import { parseJsonText, type JsonObject } from '../../src/cdc/json.js';
import { covers, ownWrite, parseGtid, type OwnTxRow } from '../../src/reverse/ownWrites.js';

// Own writes on MySQL/MariaDB targets (docs/decisions.md): the pure decision over a Debezium
// source block and the own_tx rows the projection recorded.

/** The source block of a captured envelope, read as the decoder reads it. */
function fixtureSource(file: string): MysqlSource {
  const doc = parseJsonText(readFileSync(new URL(`../fixtures/debezium/${file}`, import.meta.url), 'utf8'), file) as JsonObject;
  return readSource(doc.value as JsonObject) as MysqlSource;
}

const streamed = (gtid: string | null, serverId = 1n) => ({ gtid, server_id: serverId, snapshot: 'false' as const });
const resolved = (gtid: string, fence = ''): OwnTxRow => ({ serverId: 1n, fence, gtid, ceiling: null });
const unresolved = (fence: string, ceiling: string | null = null, serverId = 1n): OwnTxRow => ({ serverId, fence, gtid: null, ceiling });

test("a MariaDB event whose GTID a marker recorded is ulbridge's own; any other GTID is foreign", () => {
  const rows = [resolved('0-1-17', '0-1-16'), resolved('0-1-19', '0-1-18')];
  assert.equal(ownWrite(streamed('0-1-17'), rows), 'own');
  assert.equal(ownWrite(streamed('0-1-19'), rows), 'own');
  assert.equal(ownWrite(streamed('0-1-18'), rows), 'foreign');
  // Another server or domain with the same sequence number is another transaction.
  assert.equal(ownWrite(streamed('0-2-17', 2n), rows), 'foreign');
  assert.equal(ownWrite(streamed('1-1-17'), rows), 'foreign');
  assert.equal(ownWrite(streamed('0-1-17'), []), 'foreign');
});

test('the source block of a real Debezium MariaDB change event (test/fixtures/debezium)', () => {
  const source = fixtureSource('mariadb-2.4-noschemas-c.json');
  assert.deepEqual([source.gtid, source.server_id, source.snapshot], ['0-1-16', 1n, 'false']);
  assert.equal(ownWrite(source, [resolved('0-1-16', '0-1-15')]), 'own');
  assert.equal(ownWrite(source, [resolved('0-1-15', '0-1-14')]), 'foreign');
  // Its snapshot read (gtid null, server_id 0): a read, not anyone's transaction.
  assert.equal(ownWrite(fixtureSource('mariadb-2.4-noschemas-r.json'), [unresolved('')]), 'foreign');
});

test('MySQL GTIDs: uuid:n and tagged uuid:tag:n, compared without case', () => {
  const uuid = '3E11FA47-71CA-11E1-9E33-C80AA9429562';
  const rows = [resolved(`${uuid.toLowerCase()}:23`), resolved(`${uuid}:ulbridge:4`)];
  assert.equal(ownWrite(streamed(`${uuid}:23`), rows), 'own');
  assert.equal(ownWrite(streamed(`${uuid}:ULBRIDGE:4`), rows), 'own');
  assert.equal(ownWrite(streamed(`${uuid}:4`), rows), 'foreign', 'untagged 4 is another transaction than tagged 4');
  assert.equal(ownWrite(streamed(`${uuid}:24`), rows), 'foreign');
});

test('a marker whose GTID is not set yet: a later change of its server is pending; one its fence covers, or of another server, is foreign', () => {
  const rows = [resolved('0-1-10', '0-1-9'), unresolved('0-1-17,1-5-3')];
  assert.equal(ownWrite(streamed('0-1-18'), rows), 'pending');
  assert.equal(ownWrite(streamed('0-1-17'), rows), 'foreign', 'committed before the fence was read');
  assert.equal(ownWrite(streamed('0-1-3'), rows), 'foreign');
  assert.equal(ownWrite(streamed('0-2-40', 2n), rows), 'foreign', 'the marker ran on server 1');
  // A domain the fence does not name: nothing of it is covered.
  assert.equal(ownWrite(streamed('2-1-1'), rows), 'pending');
  // A recorded GTID still wins.
  assert.equal(ownWrite(streamed('0-1-10'), rows), 'own');
});

test('a marker a server crash left without GTID, bounded by a ceiling: ambiguous inside (fence, ceiling], decided outside', () => {
  const rows = [unresolved('0-1-17', '0-1-21'), resolved('0-1-23', '0-1-22')];
  assert.equal(ownWrite(streamed('0-1-17'), rows), 'foreign');
  for (const g of ['0-1-18', '0-1-20', '0-1-21']) assert.equal(ownWrite(streamed(g), rows), 'ambiguous', g);
  assert.equal(ownWrite(streamed('0-1-22'), rows), 'foreign');
  assert.equal(ownWrite(streamed('0-1-23'), rows), 'own');
  // A marker not yet bounded makes a change pending even where another one is ambiguous.
  assert.equal(ownWrite(streamed('0-1-19'), [...rows, unresolved('0-1-18')]), 'pending');
});

test('no GTID on a streamed change, or a GTID or position that cannot be read: never a confident answer', () => {
  assert.equal(ownWrite(streamed(null), []), 'ambiguous');
  assert.equal(ownWrite(streamed('not-a-gtid'), [resolved('0-1-1')]), 'ambiguous');
  // A fence that cannot be read bounds nothing.
  assert.equal(ownWrite(streamed('0-1-5'), [unresolved('garbage')]), 'pending');
  assert.equal(ownWrite(streamed('0-1-5'), [unresolved('0-1-1', 'garbage')]), 'ambiguous');
});

test('covers: MariaDB positions per domain, MySQL GTID sets with intervals and tags', () => {
  const g = (t: string) => parseGtid(t)!;
  assert.equal(covers('', g('0-1-1')), false);
  assert.equal(covers('0-1-17', g('0-1-17')), true);
  assert.equal(covers('0-1-17', g('0-3-12')), true, 'sequence numbers grow within a domain, whichever server');
  assert.equal(covers('0-1-17, 1-2-4', g('1-2-5')), false);
  assert.equal(covers('0-1-17,1-2-4', g('1-9-4')), true);
  const u = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
  const v = '4e11fa47-71ca-11e1-9e33-c80aa9429562';
  const set = `${u}:1-5:7:ulbridge:1-3,\n${v}:1-100`;
  assert.equal(covers(set, g(`${u}:5`)), true);
  assert.equal(covers(set, g(`${u}:6`)), false);
  assert.equal(covers(set, g(`${u}:7`)), true);
  assert.equal(covers(set, g(`${u}:ulbridge:3`)), true);
  assert.equal(covers(set, g(`${u}:ulbridge:4`)), false);
  assert.equal(covers(set, g(`${v.toUpperCase()}:100`)), true);
  assert.equal(covers(set, g(`${v}:101`)), false);
  assert.equal(covers('0-1-17', g(`${u}:1`)), null, 'a MariaDB position says nothing about a MySQL GTID');
  assert.equal(covers(`${u}:x-y`, g(`${u}:1`)), null);
});
