import { test } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import { postgresDialect } from '../../src/db/dialect.js';
import { executeSql, prepared, runPrepared } from '../../src/db/pgPrepared.js';

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

test('EXECUTE text of a statement once the connection holds it, its values as literals; null before, or for a value that is not text', async () => {
  // Texts named by the first test (before its 1,000-name limit): 'SELECT $1::text' and 'SELECT $1::int'.
  const sent: unknown[] = [];
  const client = { query: async (c: unknown) => (sent.push(c), { rows: [] }) } as unknown as pg.ClientBase;
  const other = { query: async () => ({ rows: [] }) } as unknown as pg.ClientBase;
  const read = prepared('SELECT $1::text', [["it's", 'a\\b', null]]);
  assert.equal(read.name, 'ulbridge_2');
  assert.equal(executeSql(client, read), null, 'not prepared on this connection yet');
  await runPrepared(client, read);
  assert.deepEqual(sent, [read]);
  assert.equal(executeSql(client, read), `EXECUTE ulbridge_2(E'{"it''s","a\\\\\\\\b",NULL}')`);
  assert.equal(executeSql(client, prepared('SELECT $1::text', [null])), 'EXECUTE ulbridge_2(NULL)');
  assert.equal(executeSql(other, read), null, 'another connection does not hold it');
  assert.equal(executeSql(client, prepared('SELECT $1::text', [5])), null, 'a number value');
  assert.equal(executeSql(client, prepared('SELECT $1::int', ['1'])), null, 'never ran here');
  assert.equal(executeSql(client, prepared('SELECT 5000 + $1', ['1'])), null, 'unnamed (past the limit)');
});

test('string literals: quotes doubled; with a backslash, an E string with backslashes doubled', () => {
  assert.equal(postgresDialect.literal("a'b"), "'a''b'");
  assert.equal(postgresDialect.literal('a\\b'), "E'a\\\\b'");
});
