import { test } from 'node:test';
import assert from 'node:assert/strict';
import { arrayParams, columnArrays, pgArray } from '../../src/db/pgArray.js';

test('array literals: strings always quoted, quotes and backslashes escaped, numbers, bigints and booleans bare, null and undefined NULL', () => {
  assert.equal(pgArray([]), '{}');
  assert.equal(pgArray(['a', '', 'NULL', 'x,y', '{z}', ' s ']), '{"a","","NULL","x,y","{z}"," s "}');
  assert.equal(pgArray(['say "hi"', 'C:\\dir\\', '\\"']), '{"say \\"hi\\"","C:\\\\dir\\\\","\\\\\\""}');
  assert.equal(pgArray([1, -2, 0.5, 9223372036854775807n, -9223372036854775808n]), '{1,-2,0.5,9223372036854775807,-9223372036854775808}');
  assert.equal(pgArray([true, false, null, undefined, 'été']), '{t,f,NULL,NULL,"été"}');
});

test('an array holding anything but plain values is left to the driver; arrayParams replaces only arrays', () => {
  assert.equal(pgArray([['nested']]), null);
  assert.equal(pgArray([Buffer.from('x')]), null);
  assert.equal(pgArray([new Date(0)]), null);
  const nested = [[1, 2]];
  const params = arrayParams([1, 'x', null, [1n, 2n], ['a"b'], nested, Buffer.from('b')]);
  assert.deepEqual(params.slice(0, 5), [1, 'x', null, '{1,2}', '{"a\\"b"}']);
  assert.equal(params[5], nested);
  assert.deepEqual(params[6], Buffer.from('b'));
});

test('columnArrays: the first `width` cells of each row, one array per column, in row order', () => {
  assert.deepEqual(
    columnArrays(
      [
        [1n, 'a', null, 'extra'],
        [2n, 'b', true, 'extra'],
      ],
      3,
    ),
    [
      [1n, 2n],
      ['a', 'b'],
      [null, true],
    ],
  );
  assert.deepEqual(columnArrays([], 2), [[], []]);
});
