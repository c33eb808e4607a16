/**
 * Array parameters written as literals by ulbridge (src/db/pgArray.ts) reach PostgreSQL as the
 * same values the driver's own encoding gives: each array is sent both ways and read back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { arrayParams } from '../../src/db/pgArray.js';
import { postgresUrl, withPg } from '../support/services.js';

test('text, integer, bigint, boolean and float arrays read back as the driver would send them, tricky text included', async () => {
  const text = ['', 'NULL', 'null', 'a,b', '{c}', ' d ', 'say "hi"', 'C:\\dir\\', '\\"', "it's", 'été ☎', '\t\n', null];
  const sql = 'SELECT $1::text[] AS t, $2::int[] AS i, $3::bigint[]::text[] AS b, $4::boolean[] AS o, $5::float8[] AS f';
  const values = [text, [0, -1, 2147483647, null], [9223372036854775807n, -9223372036854775808n, 0n], [true, false, null], [0.5, -1.25, 3]];
  await withPg(postgresUrl(), async (c) => {
    const byDriver = (await c.query(sql, values)).rows[0];
    const literals = arrayParams(values);
    assert.ok(literals.every((v) => typeof v === 'string'));
    const ours = (await c.query(sql, literals)).rows[0];
    assert.deepEqual(ours, byDriver);
    assert.deepEqual(ours.t, text);
    assert.deepEqual(ours.b, ['9223372036854775807', '-9223372036854775808', '0']);
    assert.deepEqual(ours.o, [true, false, null]);
  });
});
