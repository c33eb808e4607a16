import { test } from 'node:test';
import assert from 'node:assert/strict';
import { datetimeToUnix } from '../../src/cdc/time.js';

/**
 * DATETIMEs read in a UTC source zone skip luxon (src/cdc/time.ts): the result and the range
 * error must be exactly those of the luxon round trip, which 'Etc/GMT' (UTC at every instant, not
 * in the shortcut's list) still takes.
 */
test('a UTC zone gives what the luxon path gives, at the edges of the date range too', () => {
  const micros = [
    0n,
    -1n,
    1_714_568_400_123_456n,
    -62_135_596_800_000_000n,
    253_402_300_799_999_999n,
    8_639_999_999_999_000_000n,
    8_640_000_000_000_999_999n,
    8_640_000_000_001_000_000n,
    -8_640_000_000_000_000_000n,
    -8_640_000_000_000_000_001n,
  ];
  const read = (m: bigint, kind: 'wall' | 'instant', zone: string): string => {
    try {
      return String(datetimeToUnix({ kind, micros: m, path: 'after.expires' }, zone));
    } catch (e) {
      return `${(e as { reason: string }).reason}: ${(e as Error).message}`;
    }
  };
  let errors = 0;
  for (const m of micros) {
    for (const kind of ['wall', 'instant'] as const) {
      const expected = read(m, kind, 'Etc/GMT');
      if (expected.startsWith('OUT_OF_RANGE')) errors++;
      for (const zone of ['UTC', 'utc', 'Etc/UTC', 'Etc/Universal', 'Etc/Zulu', 'Universal', 'Zulu']) {
        assert.equal(read(m, kind, zone), expected, `${kind} ${m} in ${zone}`);
      }
    }
  }
  assert.ok(errors >= 4, 'the range edges are exercised');
});
