import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LosslessNumber, parse } from 'lossless-json';
import { jsonFloat, jsonInteger, parseJsonText } from '../../src/cdc/json.js';

// The fast path (JSON.parse with long integers quoted first) must give exactly what lossless-json
// gives, for every number Debezium writes: an integer literal of 16 or more digits as its exact
// text (a LosslessNumber), any other number as the double its text denotes.
const fastNumber = (text: string): number | LosslessNumber => (/^-?[0-9]{16,}$/.test(text) ? new LosslessNumber(text) : Number(text));
const same = (text: string): void => assert.deepEqual(parseJsonText(text, 'value'), parse(text, null, fastNumber), text);
/** A text that takes the slow path: every number a LosslessNumber, as lossless-json parses it. */
const slow = (text: string): void => assert.deepEqual(parseJsonText(text, 'value'), parse(text), text);

test('integers beyond 2^53 keep every digit: contact ids, ts_ns, negative microsecond timestamps', () => {
  const text =
    '{"after":{"contact_id":4611686018427387903,"expires":-2208988799000000},"source":{"ts_ns":1795966033824987000,"lsn":26567616},"ts_us":1795966034329627}';
  same(text);
  const v = parseJsonText(text, 'value') as any;
  assert.deepEqual(v.after.contact_id, new LosslessNumber('4611686018427387903'));
  assert.equal(v.source.ts_ns.value, '1795966033824987000');
  assert.equal(v.after.expires.value, '-2208988799000000');
  assert.equal(v.source.lsn, 26567616);
  assert.equal(jsonInteger(v.after.contact_id), 4611686018427387903n);
  assert.equal(jsonInteger(v.source.lsn), 26567616n);
});

test('doubles, small integers, arrays, nested objects and whitespace parse as lossless-json does', () => {
  for (const text of [
    '{"q":0.5,"cseq":13,"flags":0,"neg":-7}',
    '[1, 2 , 12345678901234567 ,[9007199254740993]]',
    '{"a" : 9007199254740991 , "b":{"c":[ -9007199254740993 ]}}',
    '{"q":1.25e-3,"small":-4.9e-324,"max":123456789012345}',
    'null',
    '"plain"',
  ])
    same(text);
  // A double beyond 2^53 that is an integer (digits may be lost), or beyond the double range.
  for (const text of ['{"q":1.25e-3,"big":1e300}', '{"q":1e400,"r":-1e400}']) slow(text);
});

test('the numbers readers take: integers from either path, doubles, and what is not an integer', () => {
  assert.equal(jsonInteger(13), 13n);
  assert.equal(jsonInteger(-0), 0n);
  assert.equal(jsonInteger(0.5), null);
  assert.equal(jsonInteger(new LosslessNumber('-9223372036854775808')), -9223372036854775808n);
  assert.equal(jsonInteger(new LosslessNumber('1.0')), null);
  assert.equal(jsonInteger(new LosslessNumber('1e3')), null);
  assert.equal(jsonInteger('13'), null);
  assert.equal(jsonFloat(0.25), 0.25);
  assert.equal(jsonFloat(new LosslessNumber('1e400')), Infinity);
});

test('digits inside strings stay strings; a message holding the marker escape itself takes the exact slow path', () => {
  same('{"callid":"x:12345678901234567,y","ua":"[12345678901234567]"}');
  same('{"callid":"\\u0001123","n":12345678901234567}');
  assert.equal((parseJsonText('{"callid":"\\u00011234567890123456789"}', 'value') as any).callid, '\u00011234567890123456789');
});

test("malformed JSON is refused with lossless-json's wording", () => {
  assert.throws(
    () => parseJsonText('{"op":', 'value'),
    (e: any) => e.reason === 'MALFORMED_JSON' && e.message === "value is not valid JSON: Object value expected after ':' at position 6",
  );
});
