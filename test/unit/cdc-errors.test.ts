import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LosslessNumber, parse, stringify } from 'lossless-json';
import { createDecoder, DECODE_REASONS, DecodeError, type DecoderConfig } from '../../src/cdc/index.js';
import { change, type Db, type Op, type Release } from '../fixtures/debezium/handmade/build.js';

const cfg = (release: Release, over: Partial<DecoderConfig> = {}): DecoderConfig => ({
  name: 'legacy',
  release,
  timeZone: 'UTC',
  caseSensitive: false,
  ...over,
});

function failure(config: DecoderConfig, value: string | Buffer): { reason: string; message: string } {
  try {
    createDecoder(config).decode(typeof value === 'string' ? Buffer.from(value) : value);
  } catch (e) {
    assert.ok(e instanceof DecodeError, `not a DecodeError: ${String(e)}`);
    return { reason: e.reason, message: e.message };
  }
  assert.fail('decoded without error');
}

/** A change document (bigint-safe), edited by `edit` and re-serialised. */
function edited(o: { release: Release; db: Db; op: Op; schemas: boolean; key?: bigint }, edit: (doc: any) => void): string {
  const doc = parse(change(o)) as any;
  edit(doc);
  return stringify(doc)!;
}

const rowFields = (doc: any, image: 'before' | 'after') => doc.schema.fields.find((f: any) => f.field === image).fields as any[];

const expectFailure = (config: DecoderConfig, value: string | Buffer, reason: string, message: string) =>
  assert.deepEqual(failure(config, value), { reason, message });

test('MALFORMED_JSON: not UTF-8, not JSON', () => {
  expectFailure(cfg('2.2'), Buffer.from([0x7b, 0xff, 0x7d]), 'MALFORMED_JSON', 'value is not valid UTF-8');
  expectFailure(cfg('2.2'), '{"op":', 'MALFORMED_JSON', "value is not valid JSON: Object value expected after ':' at position 6");
  expectFailure(cfg('2.2'), '', 'MALFORMED_JSON', 'value is not valid JSON: JSON value expected but reached end of input at position 0');
});

test('NOT_AN_ENVELOPE: shapes that are JSON but not a Debezium change event', () => {
  expectFailure(cfg('2.2'), '[1,2]', 'NOT_AN_ENVELOPE', 'value is an array, not a Debezium change event');
  expectFailure(cfg('2.2'), '"hello"', 'NOT_AN_ENVELOPE', 'value is a string, not a Debezium change event');
  expectFailure(
    cfg('2.2'),
    '{"schema":{"type":"struct","fields":[]}}',
    'NOT_AN_ENVELOPE',
    'value has "schema" but no "payload": not a Debezium change event',
  );
  expectFailure(cfg('2.2'), '{"schema":null,"payload":7}', 'NOT_AN_ENVELOPE', 'value.payload is an integer, not a Debezium change event');
  expectFailure(cfg('2.2'), '{"before":null,"after":null}', 'NOT_AN_ENVELOPE', 'value has no "op" field: not a Debezium change event');
  expectFailure(cfg('2.2'), '{"op":"c"}', 'NOT_AN_ENVELOPE', 'value has no "source" field: not a Debezium change event');
  const badSchema = edited({ release: '2.2', db: 'postgresql', op: 'c', schemas: true }, (d) => (d.schema = { type: 'string' }));
  expectFailure(cfg('2.2'), badSchema, 'NOT_AN_ENVELOPE', 'value.schema is not a Kafka Connect struct schema');
  const badField = edited({ release: '2.2', db: 'postgresql', op: 'c', schemas: true }, (d) => (rowFields(d, 'after')[1].type = 'varchar'));
  expectFailure(cfg('2.2'), badField, 'NOT_AN_ENVELOPE', 'value.schema field "after".username has unknown Kafka Connect type "varchar"');
});

test('UNKNOWN_OP and a non-string op', () => {
  const m = edited({ release: '2.2', db: 'postgresql', op: 'c', schemas: false }, (d) => (d.op = 'm'));
  expectFailure(cfg('2.2'), m, 'UNKNOWN_OP', 'op "m" is not a Debezium row operation (c, u, d, r or t)');
  const n = edited({ release: '2.2', db: 'postgresql', op: 'c', schemas: false }, (d) => (d.op = new LosslessNumber('1')));
  expectFailure(cfg('2.2'), n, 'WRONG_TYPE', 'op is an integer, expected a string');
});

test('UNKNOWN_CONNECTOR', () => {
  const v = edited({ release: '2.2', db: 'postgresql', op: 'c', schemas: false }, (d) => (d.source.connector = 'sqlserver'));
  expectFailure(cfg('2.2'), v, 'UNKNOWN_CONNECTOR', 'source.connector "sqlserver" is not supported: expected postgresql, mysql or mariadb');
});

test('MISSING_FIELD: NOT NULL column null, column absent, source fields, no after image', () => {
  const o = { release: '2.2' as Release, db: 'postgresql' as Db, op: 'c' as Op, schemas: false };
  expectFailure(
    cfg('2.2'),
    edited(o, (d) => (d.after.callid = null)),
    'MISSING_FIELD',
    'after.callid is null, but callid is NOT NULL in a 2.2 location table',
  );
  expectFailure(
    cfg('2.2'),
    edited(o, (d) => delete d.after.attr),
    'MISSING_FIELD',
    'after.attr is missing (a 2.2 location table has a column attr)',
  );
  expectFailure(
    cfg('2.2'),
    edited(o, (d) => delete d.after.contact_id),
    'MISSING_FIELD',
    'after.contact_id is missing (a 2.2 location table has a column contact_id)',
  );
  expectFailure(
    cfg('2.2'),
    edited(o, (d) => (d.after = null)),
    'MISSING_FIELD',
    'after is null, but an op "c" event carries the new row',
  );
  expectFailure(
    cfg('2.2'),
    edited(o, (d) => (d.source.lsn = null)),
    'MISSING_FIELD',
    'source.lsn is null',
  );
  expectFailure(
    cfg('2.2'),
    edited(o, (d) => delete d.source.ts_ms),
    'MISSING_FIELD',
    'source.ts_ms is missing',
  );
  expectFailure(
    cfg('2.2'),
    edited({ ...o, db: 'mysql' }, (d) => delete d.source.file),
    'MISSING_FIELD',
    'source.file is missing',
  );
  expectFailure(
    cfg('2.2'),
    edited(o, (d) => (d.source = null)),
    'MISSING_FIELD',
    'source is missing',
  );
  // A nullable column may be NULL.
  assert.equal(createDecoder(cfg('2.2')).decode(Buffer.from(edited(o, (d) => (d.after.domain = null)))).kind, 'event');
});

test('WRONG_TYPE: JSON types without schemas, Connect types with schemas', () => {
  const o = { release: '2.2' as Release, db: 'postgresql' as Db, op: 'c' as Op, schemas: false };
  expectFailure(
    cfg('2.2'),
    edited(o, (d) => (d.after.cseq = 'abc')),
    'WRONG_TYPE',
    'after.cseq is a string, expected an integer',
  );
  expectFailure(
    cfg('2.2'),
    edited(o, (d) => (d.after.cseq = new LosslessNumber('1.5'))),
    'WRONG_TYPE',
    'after.cseq is a number, expected an integer',
  );
  expectFailure(
    cfg('2.2'),
    edited(o, (d) => (d.after.q = '0.5')),
    'WRONG_TYPE',
    'after.q is a string, expected a floating-point number',
  );
  expectFailure(
    cfg('2.2'),
    edited(o, (d) => (d.after.username = new LosslessNumber('7'))),
    'WRONG_TYPE',
    'after.username is an integer, expected a string',
  );
  expectFailure(
    cfg('2.2'),
    edited(o, (d) => (d.after.expires = true)),
    'WRONG_TYPE',
    'after.expires is not an integer or an ISO-8601 string, expected a timestamp (io.debezium.time.Timestamp, MicroTimestamp, NanoTimestamp or ZonedTimestamp)',
  );
  expectFailure(
    cfg('2.2'),
    edited(o, (d) => (d.after.last_modified = 'yesterday')),
    'WRONG_TYPE',
    'after.last_modified is "yesterday", expected an ISO-8601 timestamp with an offset',
  );
  expectFailure(
    cfg('2.2'),
    edited(o, (d) => (d.after = [1])),
    'WRONG_TYPE',
    'after is an array, expected an object (op "c")',
  );
  expectFailure(
    cfg('2.2'),
    edited(o, (d) => (d.source = 'pg')),
    'WRONG_TYPE',
    'source is a string, expected an object',
  );
  expectFailure(
    cfg('2.2'),
    edited(o, (d) => (d.source.lsn = '24023128')),
    'WRONG_TYPE',
    'source.lsn is a string, expected an integer',
  );
  expectFailure(
    cfg('2.2'),
    edited(o, (d) => (d.source.snapshot = 'maybe')),
    'WRONG_TYPE',
    'source.snapshot is "maybe", expected one of true, first, first_in_data_collection, last_in_data_collection, last, false, incremental',
  );
  expectFailure(
    cfg('2.2'),
    edited({ ...o, db: 'mysql' }, (d) => (d.source.file = 'mysql-bin')),
    'WRONG_TYPE',
    'source.file "mysql-bin" is not a binlog file name ending in .NNNNNN',
  );
  const s = { ...o, schemas: true };
  expectFailure(
    cfg('2.2'),
    edited(s, (d) => (rowFields(d, 'after').find((f) => f.field === 'cseq').type = 'string')),
    'WRONG_TYPE',
    'after.cseq has Kafka Connect type string, expected an integer',
  );
  expectFailure(
    cfg('2.2'),
    edited(s, (d) =>
      Object.assign(
        rowFields(d, 'after').find((f) => f.field === 'last_modified'),
        { name: 'io.debezium.time.Date', type: 'int32' },
      ),
    ),
    'WRONG_TYPE',
    'after.last_modified has Kafka Connect type int32 (io.debezium.time.Date), expected a timestamp (io.debezium.time.Timestamp, MicroTimestamp, NanoTimestamp or ZonedTimestamp)',
  );
});

test('OUT_OF_RANGE: int32 and int64 overflow, dates outside the calendar', () => {
  const o = { release: '2.2' as Release, db: 'postgresql' as Db, op: 'c' as Op, schemas: false };
  expectFailure(
    cfg('2.2'),
    edited(o, (d) => (d.after.cseq = 2147483648n)),
    'OUT_OF_RANGE',
    'after.cseq = 2147483648 is outside int32',
  );
  expectFailure(
    cfg('2.2'),
    edited(o, (d) => (d.after.contact_id = 9223372036854775808n)),
    'OUT_OF_RANGE',
    'after.contact_id = 9223372036854775808 is outside int64',
  );
  // PostgreSQL 'infinity' as Debezium sends it.
  expectFailure(
    cfg('2.2'),
    edited(o, (d) => (d.after.expires = 9223372036825200000n)),
    'OUT_OF_RANGE',
    'after.expires = 9223372036825200000 microseconds is outside the supported date range',
  );
  expectFailure(
    cfg('4.0'),
    edited({ ...o, release: '4.0' }, (d) => (d.after.expires = 4294967296n)),
    'OUT_OF_RANGE',
    'after.expires = 4294967296 is outside INTEGER / INT UNSIGNED',
  );
  expectFailure(
    cfg('2.2'),
    edited(o, (d) => (d.source.lsn = -1n)),
    'OUT_OF_RANGE',
    'source.lsn = -1 is negative',
  );
});

test('OVERSIZED_VALUE: lengths from the release profile, counted in characters', () => {
  const o = { release: '2.2' as Release, db: 'postgresql' as Db, op: 'c' as Op, schemas: false };
  expectFailure(
    cfg('2.2'),
    edited(o, (d) => (d.after.username = 'a'.repeat(65))),
    'OVERSIZED_VALUE',
    'after.username is 65 characters, longer than username VARCHAR(64) in a 2.2 location table',
  );
  expectFailure(
    cfg('2.1'),
    edited({ ...o, release: '2.1' }, (d) => (d.after.received = 'r'.repeat(129))),
    'OVERSIZED_VALUE',
    'after.received is 129 characters, longer than received VARCHAR(128) in a 2.1 location table',
  );
  expectFailure(
    cfg('2.4'),
    edited({ ...o, release: '2.4' }, (d) => (d.after.contact = 'c'.repeat(256))),
    'OVERSIZED_VALUE',
    'after.contact is 256 characters, longer than contact VARCHAR(255) in a 2.4 location table',
  );
  // 64 two-byte characters fit VARCHAR(64); 3.x/4.0 contact is TEXT.
  assert.equal(createDecoder(cfg('2.2')).decode(Buffer.from(edited(o, (d) => (d.after.username = 'ü'.repeat(64))))).kind, 'event');
  assert.equal(
    createDecoder(cfg('4.0')).decode(Buffer.from(edited({ ...o, release: '4.0' }, (d) => (d.after.contact = 'c'.repeat(5000))))).kind,
    'event',
  );
});

test('BEFORE_IMAGE_INCOMPLETE: deletes without REPLICA IDENTITY FULL / full binlog row image', () => {
  const pgFix = 'run ALTER TABLE public.location REPLICA IDENTITY FULL so deletes carry the whole row';
  const myFix = 'set binlog_row_image=FULL on the MySQL/MariaDB server so deletes carry the whole row';
  const o = { release: '2.2' as Release, db: 'postgresql' as Db, op: 'd' as Op, schemas: false, key: 5n };
  // REPLICA IDENTITY DEFAULT as documented: the key only.
  expectFailure(
    cfg('2.2'),
    edited(o, (d) => (d.before = { contact_id: 5n })),
    'BEFORE_IMAGE_INCOMPLETE',
    `delete of contact_id 5 has an incomplete before image (username is missing): ${pgFix}`,
  );
  // The same with every other column null.
  expectFailure(
    cfg('2.2'),
    edited(o, (d) => {
      for (const k of Object.keys(d.before)) if (k !== 'contact_id') d.before[k] = null;
    }),
    'BEFORE_IMAGE_INCOMPLETE',
    `delete of contact_id 5 has an incomplete before image (username is null): ${pgFix}`,
  );
  // ... or with NOT NULL columns filled with their empty defaults.
  expectFailure(
    cfg('2.2'),
    edited(o, (d) => Object.assign(d.before, { username: '', contact: '', callid: '' })),
    'BEFORE_IMAGE_INCOMPLETE',
    `delete of contact_id 5 has an incomplete before image (username, contact and callid are all empty): ${pgFix}`,
  );
  // REPLICA IDENTITY NOTHING: no before image at all.
  expectFailure(
    cfg('2.2'),
    edited(o, (d) => (d.before = null)),
    'BEFORE_IMAGE_INCOMPLETE',
    `delete event has no before image: ${pgFix}`,
  );
  // MySQL binlog_row_image=MINIMAL, 2.1 key.
  expectFailure(
    cfg('2.1'),
    edited({ ...o, release: '2.1', db: 'mysql' }, (d) => (d.before = { id: 5n })),
    'BEFORE_IMAGE_INCOMPLETE',
    `delete of id 5 has an incomplete before image (username is missing): ${myFix}`,
  );
});

test('UNAVAILABLE_VALUE: unchanged TOASTed columns', () => {
  const v = edited(
    { release: '3.x', db: 'postgresql', op: 'u', schemas: false },
    (d) => (d.after.contact = '__debezium_unavailable_value'),
  );
  expectFailure(
    cfg('3.x'),
    v,
    'UNAVAILABLE_VALUE',
    "after.contact holds Debezium's placeholder for an unchanged TOASTed value: set REPLICA IDENTITY FULL on the source table",
  );
});

test('TABLE_MISMATCH: the columns belong to another release than the configured one', () => {
  const check = 'check the release configured for source "legacy"';
  expectFailure(
    cfg('2.1'),
    change({ release: '2.2', db: 'postgresql', op: 'c', schemas: false }),
    'TABLE_MISMATCH',
    `after has column contact_id, which a 2.1 location table does not have: public.location looks like a 2.2 or later table; ${check}`,
  );
  expectFailure(
    cfg('2.2'),
    change({ release: '2.1', db: 'mysql', op: 'c', schemas: false }),
    'TABLE_MISMATCH',
    `after has column id, which a 2.2 location table does not have: opensips.location looks like a 2.1 table; ${check}`,
  );
  expectFailure(
    cfg('2.3'),
    change({ release: '4.0', db: 'postgresql', op: 'r', schemas: true }),
    'TABLE_MISMATCH',
    `after has column kv_store, which a 2.3 location table does not have: public.location looks like a 2.4 or later table; ${check}`,
  );
  expectFailure(
    cfg('2.4'),
    change({ release: '2.3', db: 'postgresql', op: 'c', schemas: false }),
    'TABLE_MISMATCH',
    `after has no kv_store column, which a 2.4 location table has: public.location looks like a 2.3 or older table; ${check}`,
  );
  expectFailure(
    cfg('2.4'),
    change({ release: '2.2', db: 'mysql', op: 'd', schemas: true }),
    'TABLE_MISMATCH',
    `before has no kv_store column, which a 2.4 location table has: opensips.location looks like a 2.3 or older table; ${check}`,
  );
  // The expires column's type, with schemas.
  const dtIn24 = edited({ release: '4.0', db: 'postgresql', op: 'c', schemas: true }, (d) => {
    Object.assign(
      rowFields(d, 'after').find((f) => f.field === 'expires'),
      { type: 'int64', name: 'io.debezium.time.MicroTimestamp' },
    );
  });
  expectFailure(
    cfg('4.0'),
    dtIn24,
    'TABLE_MISMATCH',
    `after.expires is a timestamp (io.debezium.time.MicroTimestamp), but a 4.0 location table stores expires as INTEGER unix time: public.location looks like a 2.3 or older table; ${check}`,
  );
  const intIn22 = edited({ release: '2.2', db: 'mysql', op: 'c', schemas: true }, (d) => {
    const f = rowFields(d, 'after').find((x) => x.field === 'expires');
    delete f.name;
    delete f.version;
    f.type = 'int32';
  });
  expectFailure(
    cfg('2.2'),
    intIn22,
    'TABLE_MISMATCH',
    `after.expires is a plain int32, but a 2.2 location table stores expires as DATETIME: opensips.location looks like a 2.4 or later table; ${check}`,
  );
});

test('every reason code is exercised here or in ingest-translate (INTERNAL)', () => {
  assert.deepEqual([...DECODE_REASONS].sort(), [
    'BEFORE_IMAGE_INCOMPLETE',
    'INTERNAL',
    'MALFORMED_JSON',
    'MISSING_FIELD',
    'NOT_AN_ENVELOPE',
    'OUT_OF_RANGE',
    'OVERSIZED_VALUE',
    'TABLE_MISMATCH',
    'UNAVAILABLE_VALUE',
    'UNKNOWN_CONNECTOR',
    'UNKNOWN_OP',
    'WRONG_TYPE',
  ]);
});
