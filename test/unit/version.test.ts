import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isNewer, type BindingVersion } from '../../src/log/version.js';
import { localDatetimeToUnix } from '../../src/opensips/localTime.js';

const v = (callid: string, cseq: number, lastModified: number): BindingVersion => ({ callid, cseq, lastModified: BigInt(lastModified) });

test('same Call-ID: the higher CSeq wins, then the later last_modified', () => {
  assert.equal(isNewer(v('a', 2, 100), v('a', 1, 200)), true);
  assert.equal(isNewer(v('a', 1, 200), v('a', 2, 100)), false);
  assert.equal(isNewer(v('a', 2, 101), v('a', 2, 100)), true);
  assert.equal(isNewer(v('a', 2, 100), v('a', 2, 101)), false);
});

test('an echo (equal versions) is never newer, either way', () => {
  assert.equal(isNewer(v('a', 7, 100), v('a', 7, 100)), false);
  assert.equal(isNewer(v('b', 7, 100), v('a', 7, 100)), false);
  assert.equal(isNewer(v('a', 7, 100), v('b', 7, 100)), false);
});

test('different Call-IDs (the client restarted): the later last_modified wins, then the higher CSeq', () => {
  assert.equal(isNewer(v('new', 1, 200), v('old', 90, 100)), true);
  assert.equal(isNewer(v('old', 90, 100), v('new', 1, 200)), false);
  assert.equal(isNewer(v('b', 3, 100), v('a', 2, 100)), true);
  assert.equal(isNewer(v('a', 2, 100), v('b', 3, 100)), false);
});

test('localDatetimeToUnix reads a DATETIME in its zone, the inverse of unixToLocalDatetime', () => {
  assert.equal(localDatetimeToUnix('2025-11-24 17:00:00', 'Europe/Berlin'), 1764000000n);
  assert.equal(localDatetimeToUnix('2025-11-24 16:00:00', 'UTC'), 1764000000n);
  assert.equal(localDatetimeToUnix('2025-07-01 02:00:00', 'Europe/Berlin'), 1751328000n);
  assert.throws(() => localDatetimeToUnix('24.11.2025', 'UTC'), { message: '"24.11.2025" is not a YYYY-MM-DD HH:MM:SS date-time' });
});
