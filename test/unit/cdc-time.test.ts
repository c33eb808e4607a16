import { test } from 'node:test';
import assert from 'node:assert/strict';
import { datetimeToUnix, floorDiv, type Datetime } from '../../src/cdc/time.js';
import { createDecoder } from '../../src/cdc/index.js';
import { change, wallclock } from '../fixtures/debezium/handmade/build.js';

const wall = (text: string): Datetime => ({
  kind: 'wall',
  micros: BigInt(Date.parse(`${text.replace(' ', 'T')}Z`)) * 1000n,
  path: 'after.expires',
});

/**
 * Expected values are what OpenSIPS itself computes: strptime + mktime with tm_isdst = -1 under
 * TZ=<zone>, run with glibc 2.36 (a small C program; see docs/ingest.md). Where glibc's answer for
 * an ambiguous wall clock depends on earlier calls, the later instant is the one we fix.
 */
const cases: Array<[zone: string, text: string, unix: bigint, note: string]> = [
  ['UTC', '2024-07-01 12:00:00', 1719835200n, 'UTC is the identity'],
  ['Europe/Berlin', '2024-07-01 12:00:00', 1719828000n, 'CEST, UTC+2'],
  ['Europe/Berlin', '2024-01-15 12:00:00', 1705316400n, 'CET, UTC+1'],
  ['Europe/Berlin', '2024-03-31 02:30:00', 1711848600n, 'spring-forward gap: read as 03:30 CEST, as mktime does'],
  ['Europe/Berlin', '2024-10-27 02:30:00', 1729992600n, 'fall-back overlap: the later instant (CET)'],
  ['Europe/Berlin', '2024-10-27 01:59:59', 1729987199n, 'just before the overlap: CEST'],
  ['Europe/Berlin', '2024-10-27 03:00:00', 1729994400n, 'just after the overlap: CET'],
  ['Europe/Berlin', '1900-01-01 00:00:01', -2208992399n, "OpenSIPS's last_modified default, before 1970"],
  ['America/New_York', '2024-03-10 02:30:00', 1710055800n, 'spring-forward gap: 03:30 EDT'],
  ['America/New_York', '2024-11-03 01:30:00', 1730615400n, 'fall-back overlap: the later instant (EST)'],
  ['Asia/Kolkata', '2024-07-01 12:00:00', 1719815400n, 'a half-hour offset'],
];

for (const [zone, text, unix, note] of cases) {
  test(`${text} in ${zone} -> ${unix} (${note})`, () => {
    assert.equal(datetimeToUnix(wall(text), zone), unix);
  });
}

test('permanent: localtime(0) in the source zone reads back as exactly 0, as mktime makes it', () => {
  // What a registrar writes for expires = 0 (glibc localtime(0)) in each zone.
  const localtime0: Array<[string, string]> = [
    ['UTC', '1970-01-01 00:00:00'],
    ['Europe/Berlin', '1970-01-01 01:00:00'],
    ['Europe/London', '1970-01-01 01:00:00'], // British Standard Time, UTC+1 all of 1970
    ['America/New_York', '1969-12-31 19:00:00'],
    ['Asia/Kolkata', '1970-01-01 05:30:00'],
  ];
  for (const [zone, text] of localtime0) assert.equal(datetimeToUnix(wall(text), zone), 0n, zone);
  // Any other wall clock is a real (long expired) time, as OpenSIPS reads it: 00:00:00 on a CET
  // host is -3600, on a New York host 18000.
  assert.equal(datetimeToUnix(wall('1970-01-01 00:00:00'), 'Europe/Berlin'), -3600n);
  assert.equal(datetimeToUnix(wall('1970-01-01 00:00:00'), 'America/New_York'), 18000n);
  assert.equal(datetimeToUnix(wall('1970-01-01 01:00:01'), 'Europe/Berlin'), 1n);
  // An instant (ZonedTimestamp) is taken as is.
  assert.equal(datetimeToUnix({ kind: 'instant', micros: 0n, path: 'after.expires' }, 'Europe/Berlin'), 0n);
  assert.equal(datetimeToUnix({ kind: 'instant', micros: -3600n * 1000000n, path: 'after.expires' }, 'Europe/Berlin'), -3600n);
});

test('fractions of a second are dropped toward the past, also before 1970', () => {
  assert.equal(datetimeToUnix({ kind: 'wall', micros: 1719835200999999n, path: 'x' }, 'UTC'), 1719835200n);
  assert.equal(datetimeToUnix({ kind: 'wall', micros: -500000n, path: 'x' }, 'UTC'), -1n);
  assert.equal(floorDiv(-1n, 1000000n), -1n);
  assert.equal(floorDiv(-1000000n, 1000000n), -1n);
  assert.equal(floorDiv(1999999n, 1000000n), 1n);
});

test('through the decoder: PostgreSQL micros and MySQL millis of a DST-gap expires, and a permanent one (localtime(0) on a CET host)', () => {
  for (const db of ['postgresql', 'mysql'] as const) {
    const decoder = createDecoder({ name: 'legacy', release: '2.2', timeZone: 'Europe/Berlin', caseSensitive: false });
    const gap = decoder.decode(
      Buffer.from(change({ release: '2.2', db, op: 'c', schemas: false, row: { expires: wallclock(db, '2024-03-31 02:30:00') } })),
    );
    assert.equal(gap.kind === 'event' && gap.event.registration?.expires, 1711848600n, db);
    const permanent = decoder.decode(
      Buffer.from(change({ release: '2.2', db, op: 'c', schemas: true, row: { expires: wallclock(db, '1970-01-01 01:00:00') } })),
    );
    assert.equal(permanent.kind === 'event' && permanent.event.registration?.expires, 0n, db);
  }
});
