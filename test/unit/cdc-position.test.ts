import { test } from 'node:test';
import assert from 'node:assert/strict';
import { binlogFileNumber, createDecoder, DecodeError } from '../../src/cdc/index.js';
import { comparePositions, type SourcePosition } from '../../src/log/event.js';
import { change, type Db, type Op, type SourceOptions } from '../fixtures/debezium/handmade/build.js';

function position(db: Db, op: Op, source: Partial<SourceOptions>): SourcePosition {
  const d = createDecoder({ name: 'legacy', release: '2.4', timeZone: 'UTC', caseSensitive: false }).decode(
    Buffer.from(change({ release: '2.4', db, op, schemas: false, source })),
  );
  assert.equal(d.kind, 'event');
  return d.kind === 'event' ? d.event.source.position : { major: 0n, minor: 0n, seq: 0n };
}

function assertAscending(list: SourcePosition[]): void {
  for (let i = 1; i < list.length; i++) {
    assert.equal(comparePositions(list[i - 1]!, list[i]!), -1, `position ${i - 1} < position ${i}`);
    assert.equal(comparePositions(list[i]!, list[i - 1]!), 1);
  }
}

test('PostgreSQL: (lsn, 0 snapshot / 1 streaming, 0)', () => {
  const snap = position('postgresql', 'r', { lsn: 1000n, snapshot: 'true' });
  assert.deepEqual(snap, { major: 1000n, minor: 0n, seq: 0n });
  assertAscending([
    position('postgresql', 'r', { lsn: 999n, snapshot: 'first' }),
    snap,
    position('postgresql', 'c', { lsn: 1000n }), // streaming at the snapshot's LSN comes after the read
    position('postgresql', 'u', { lsn: 1001n }),
    position('postgresql', 'd', { lsn: 9007199254740993n }), // beyond 2^53
    position('postgresql', 't', { lsn: 9007199254740994n }),
  ]);
});

test('MySQL/MariaDB: (binlog file number, pos, 0 snapshot / row + 1)', () => {
  const snap = position('mysql', 'r', { file: 'mysql-bin.000003', pos: 4696n, row: 0n, snapshot: 'last' });
  assert.deepEqual(snap, { major: 3n, minor: 4696n, seq: 0n });
  assertAscending([
    snap,
    position('mysql', 'c', { file: 'mysql-bin.000003', pos: 4696n, row: 0n }), // first row of the rows event: seq 1
    position('mysql', 'c', { file: 'mysql-bin.000003', pos: 4696n, row: 1n }),
    position('mysql', 'u', { file: 'mysql-bin.000003', pos: 5001n, row: 0n }),
    position('mysql', 'd', { file: 'mysql-bin.000004', pos: 4n, row: 0n }), // rotation: a new file starts low
    position('mariadb', 'c', { file: 'mysql-bin.999999', pos: 4n, row: 0n }),
    position('mariadb', 'c', { file: 'mysql-bin.1000000', pos: 4n, row: 0n }), // 7 digits after 999999
  ]);
});

test('binlog file numbers', () => {
  assert.equal(binlogFileNumber('mysql-bin.000003'), 3n);
  assert.equal(binlogFileNumber('binlog.000010'), 10n);
  assert.equal(binlogFileNumber('/var/lib/mysql/host-bin.1000000'), 1000000n);
  assert.throws(
    () => binlogFileNumber('mysql-bin'),
    (e: unknown) => e instanceof DecodeError && e.reason === 'WRONG_TYPE',
  );
});

test('the same change decodes to the same position (replays are recognisable)', () => {
  const a = position('postgresql', 'u', { lsn: 123456n });
  const b = position('postgresql', 'u', { lsn: 123456n });
  assert.equal(comparePositions(a, b), 0);
});
