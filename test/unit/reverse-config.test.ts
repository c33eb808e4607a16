import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/ops/config.js';

// reverse[].legacy: the legacy registrar's keys, compiled once (issue 11 item 2).

const base = { kafka: { brokers: ['127.0.0.1:9092'] }, targets: [{ name: 'main', db: 'postgres://u@h/db', release: '4.0' }] };
const src = { name: 'legacy', release: '3.x', topic: 'legacy.opensips.location', timeZone: 'Europe/Berlin' };
const rev = { name: 'rollback', target: 'main', topic: 'new.public.location', source: 'legacy', legacy: { db: 'mysql://root@h/opensips' } };

function fails(raw: unknown, message: string): void {
  assert.throws(
    () => parseConfig(raw, {}),
    (e: Error & { code?: string }) => {
      assert.equal(e.code, 'CONFIG_INVALID');
      assert.equal(e.message, message);
      return true;
    },
  );
}

test('a 2.2+ legacy table: its registrar keys compiled, release and zone from the source', () => {
  const cfg = parseConfig({ ...base, sources: [src], reverse: [{ ...rev, legacy: { ...rev.legacy, hashSize: 12, useDomain: true } }] }, {});
  assert.deepEqual(cfg.reverse[0]!.legacy, {
    db: 'mysql://root@h/opensips',
    table: 'location',
    release: '3.x',
    hashSize: 12,
    useDomain: true,
    unsignedChar: false,
    timeZone: 'Europe/Berlin',
  });
  // Stated explicitly, the same values compile to the same entry; written back, it compiles to itself.
  const explicit = parseConfig(
    {
      ...base,
      sources: [src],
      reverse: [
        {
          ...rev,
          legacy: { ...rev.legacy, release: '3.x', hashSize: 12, useDomain: true, unsignedChar: false, timeZone: 'Europe/Berlin' },
        },
      ],
    },
    {},
  );
  assert.deepEqual(explicit.reverse, cfg.reverse);
  assert.deepEqual(parseConfig(JSON.parse(JSON.stringify(cfg)), {}), cfg);
});

test('a 2.2+ legacy table without hashSize is refused as missing', () => {
  fails(
    { ...base, sources: [src], reverse: [rev] },
    "config reverse[0].legacy.hashSize: is missing: the legacy table is release 3.x; give its registrar's usrloc hash_size (contact ids written back are allocated for it)",
  );
});

test('invalid legacy keys name the key', () => {
  const withLegacy = (legacy: object) => ({ ...base, sources: [src], reverse: [{ ...rev, legacy: { ...rev.legacy, ...legacy } }] });
  fails(withLegacy({ hashSize: 17 }), 'config reverse[0].legacy.hashSize: Too big: expected number to be <=16');
  fails(
    withLegacy({ hashSize: 9, useDomain: 'yes' }),
    'config reverse[0].legacy.useDomain: Invalid input: expected boolean, received string',
  );
  fails(
    withLegacy({ hashSize: 9, release: '5.0' }),
    'config reverse[0].legacy.release: Invalid option: expected one of "2.1"|"2.2"|"2.3"|"2.4"|"3.x"|"4.0"',
  );
  fails(
    withLegacy({ hashSize: 9, timeZone: 'Mars/Olympus' }),
    'config reverse[0].legacy.timeZone: must be an IANA time zone such as UTC or Europe/Berlin',
  );
  fails(
    withLegacy({ hashSize: 9, release: '4.0' }),
    'config reverse[0].legacy.release: is 4.0 but source "legacy", which captures this table, is release 3.x; they must agree',
  );
  fails(
    withLegacy({ hashSize: 9, timeZone: 'UTC' }),
    'config reverse[0].legacy.timeZone: is UTC but source "legacy", which captures this table, has timeZone Europe/Berlin; they must agree',
  );
  fails(
    { ...base, sources: [{ ...src, release: '2.1' }], reverse: [{ ...rev, legacy: { ...rev.legacy, hashSize: 9 } }] },
    'config reverse[0].legacy.hashSize: a 2.1 legacy table has no contact ids; drop hashSize',
  );
});

test('two reverse syncs writing one legacy table are refused', () => {
  fails(
    {
      ...base,
      targets: [base.targets[0], { name: 'other', db: 'postgres://u@h/db2', release: '4.0' }],
      sources: [src],
      reverse: [
        { ...rev, legacy: { ...rev.legacy, hashSize: 9 } },
        { ...rev, name: 'r2', target: 'other', legacy: { ...rev.legacy, hashSize: 9 } },
      ],
    },
    'config reverse[1].legacy: reverse[0] writes the same legacy table; two reverse syncs would hand out the same record labels in it',
  );
});
