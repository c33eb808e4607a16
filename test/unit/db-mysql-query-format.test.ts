import { test } from 'node:test';
import assert from 'node:assert/strict';
import mysql from 'mysql2/promise';
import { mysqlSessionOptions, sendAsWritten } from '../../src/project/mysqlStore.js';

test('target sessions send statements without values as written, and format the others as mysql2 does', () => {
  assert.equal(mysqlSessionOptions('mysql://root@127.0.0.1:3306/db').queryFormat, sendAsWritten);

  // The applier's statements of literals: not scanned, not copied.
  const big = `INSERT INTO t (a) VALUES ${Array.from({ length: 20_000 }, (_, i) => `('v${i}?', "d'q")`).join(', ')}`;
  assert.ok(big.length > 300_000);
  assert.equal(sendAsWritten(big, []), big);
  assert.equal(sendAsWritten(big, undefined), big);
  assert.equal(sendAsWritten('SELECT ?', null), 'SELECT ?');

  // With values: exactly mysql2's own formatting in the session's zone (UTC).
  const values = [1, "it's", null, 12345678901234567890n, new Date(Date.UTC(2025, 10, 24, 16, 0, 0, 7)), Buffer.from('ab')];
  const sql = 'SELECT ?, ?, ?, ?, ?, ?';
  assert.equal(sendAsWritten(sql, values, 'Z'), mysql.format(sql, values, false, 'Z'));
  assert.equal(sendAsWritten(sql, values, 'Z'), "SELECT 1, 'it\\'s', NULL, 12345678901234567890, '2025-11-24 16:00:00.007', X'6162'");
  assert.equal(sendAsWritten('SELECT RELEASE_LOCK(?)', ['lock']), "SELECT RELEASE_LOCK('lock')");
});
