import { test } from 'node:test';
import assert from 'node:assert/strict';
import { prepared } from '../../src/db/pgPrepared.js';

test('one name per statement text, the values passed as given; past 1,000 texts statements run unnamed', () => {
  const a = prepared('SELECT $1::int', [1]);
  assert.deepEqual(a, { name: 'ulbridge_1', text: 'SELECT $1::int', values: [1] });
  assert.deepEqual(prepared('SELECT $1::text', ['x']), { name: 'ulbridge_2', text: 'SELECT $1::text', values: ['x'] });
  assert.deepEqual(prepared('SELECT $1::int', [2]), { name: 'ulbridge_1', text: 'SELECT $1::int', values: [2] });
  for (let i = 3; i <= 1000; i++) assert.equal(prepared(`SELECT ${i} + $1`, [0]).name, `ulbridge_${i}`);
  assert.deepEqual(prepared('SELECT 1001 + $1', [0]), { text: 'SELECT 1001 + $1', values: [0] });
  // Texts named before the limit keep their names.
  assert.equal(prepared('SELECT $1::text', ['y']).name, 'ulbridge_2');
});

test('array values go as one literal each, named or not (src/db/pgArray.ts)', () => {
  assert.deepEqual(prepared('SELECT $1::text', ['y']).values, ['y']);
  assert.deepEqual(
    prepared('SELECT $1::bigint[], $2::text[]', [
      [1n, 2n],
      ['a', null],
    ]).values,
    ['{1,2}', '{"a",NULL}'],
  );
  assert.deepEqual(prepared('SELECT 2000 + $1::int[][]', [[[1]]]).values, [[[1]]]);
});
