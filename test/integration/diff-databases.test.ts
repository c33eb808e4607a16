import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createLocationTableSql, versionRowSql, versionTableSql } from '../../src/db/ddl.js';
import type { DbConnection } from '../../src/db/connection.js';
import { openDb } from '../../src/db/open.js';
import { Workload, type LegacyRow } from '../../src/demo/workload.js';
import { LEGACY_COLUMNS } from '../../src/demo/legacyTable.js';
import { releaseProfile } from '../../src/opensips/releases.js';
import { unixToLocalDatetime } from '../../src/opensips/localTime.js';
import { bindingSlot } from '../../src/verify/bindingSet.js';
import { runDiff, type DiffOptions } from '../../src/verify/diff.js';
import { cli } from '../support/cli.js';
import { freshMariaDb, freshPostgresDb, type FreshDb } from '../support/services.js';

// `ulbridge diff` across databases and releases: a 2.1 MariaDB table (DATETIME in Europe/Berlin,
// auto-increment ids, mixed-case users from a case_sensitive=0 registrar) against a 4.0
// PostgreSQL table holding the same bindings in canonical form.

const NOW = 1_900_000_000;
const ROWS = 300;
const EXPIRED = 7;
let maria: FreshDb;
let pgdb: FreshDb;
let rows: LegacyRow[];

async function createTable(db: DbConnection, release: string): Promise<void> {
  const profile = releaseProfile(release);
  for (const sql of createLocationTableSql(profile, db.dialect, 'location')) await db.query(sql);
  await db.query(versionTableSql(db.dialect));
  await db.query(versionRowSql(profile, db.dialect, 'location'));
}

async function insertRows(db: DbConnection, release: string, list: LegacyRow[], timeZone: string): Promise<void> {
  const profile = releaseProfile(release);
  const cols = LEGACY_COLUMNS;
  const time = (unix: number): string | number => (profile.expires === 'datetime' ? unixToLocalDatetime(unix, timeZone) : unix);
  const sql = `INSERT INTO location (${cols.join(', ')}) VALUES (${cols.map((_c, i) => db.dialect.param(i + 1)).join(', ')})`;
  for (const r of list) {
    await db.query(sql, [
      r.username,
      r.domain,
      r.contact,
      r.received,
      r.path,
      time(r.expires),
      r.q,
      r.callid,
      r.cseq,
      unixToLocalDatetime(r.lastModified, timeZone),
      r.flags,
      r.cflags,
      r.userAgent,
      r.socket,
      r.methods,
      r.sipInstance,
      r.attr,
    ]);
  }
}

function options(overrides: Partial<DiffOptions> = {}): DiffOptions {
  return {
    source: { url: maria.url, table: 'location', release: '2.1', timeZone: 'Europe/Berlin', caseSensitive: false },
    target: { url: pgdb.url, table: 'location', release: '4.0', timeZone: 'UTC', caseSensitive: true },
    hashSize: 6,
    useDomain: false,
    signedness: 'signed',
    now: NOW,
    details: 5,
    ...overrides,
  };
}

const cliArgs = (extra: string[] = []): string[] => [
  'diff',
  '--source',
  maria.url,
  '--source-release',
  '2.1',
  '--source-timezone',
  'Europe/Berlin',
  '--target',
  pgdb.url,
  '--target-release',
  '4.0',
  '--hash-size',
  '6',
  '--now',
  String(NOW),
  '--json',
  ...extra,
];

before(async () => {
  maria = await freshMariaDb('diff_src');
  pgdb = await freshPostgresDb('diff_tgt');
  const w = new Workload(11, () => NOW);
  rows = Array.from({ length: ROWS }, (_v, i) => w.registration(i % 220));
  for (let i = 0; i < EXPIRED; i++) rows[i * 13] = { ...rows[i * 13]!, expires: NOW - 60 - i };
  rows[5] = { ...rows[5]!, expires: 0 }; // permanent: localtime(0) in the source's zone
  const src = await openDb(maria.url);
  const tgt = await openDb(pgdb.url);
  try {
    await createTable(src, '2.1');
    await createTable(tgt, '4.0');
    await insertRows(src, '2.1', rows, 'Europe/Berlin');
    // The target holds what a case_sensitive=0 registrar (and ulbridge) writes: lower-cased users.
    await insertRows(
      tgt,
      '4.0',
      rows.map((r) => ({ ...r, username: r.username.toLowerCase() })),
      'UTC',
    );
  } finally {
    await src.close();
    await tgt.close();
  }
});

after(async () => {
  await maria?.drop();
  await pgdb?.drop();
});

test('a 2.1 MariaDB table and a 4.0 PostgreSQL table with the same bindings are equal, slot by slot', async () => {
  const r = await runDiff(options());
  assert.equal(r.equal, true, JSON.stringify(r.examples));
  assert.deepEqual(
    { rows: r.source.rows, live: r.source.live, expired: r.source.expired, dialect: r.source.dialect },
    { rows: ROWS, live: ROWS - EXPIRED, expired: EXPIRED, dialect: 'mysql' },
  );
  assert.deepEqual(
    { rows: r.target.rows, live: r.target.live, expired: r.target.expired, dialect: r.target.dialect },
    { rows: ROWS, live: ROWS - EXPIRED, expired: EXPIRED, dialect: 'postgres' },
  );
  assert.equal(r.onlyInSource + r.onlyInTarget + r.changed, 0);
  // Per-slot counts, computed independently from the generated rows.
  const expected = new Uint32Array(64);
  for (const row of rows)
    if (row.expires === 0 || row.expires > NOW)
      expected[bindingSlot(row.username.toLowerCase(), row.domain, { hashSize: 6, useDomain: false, signedness: 'signed' })]!++;
  let used = 0;
  for (const c of expected) if (c > 0) used++;
  assert.deepEqual(r.perSlot.source, { usedSlots: used, maxPerSlot: Math.max(...expected) });
  assert.deepEqual(r.perSlot.target, r.perSlot.source);
  assert.equal(r.perSlot.differing, 0);

  const run = await cli(cliArgs());
  assert.equal(run.code, 0, run.stderr);
  const doc = JSON.parse(run.stdout);
  assert.equal(doc.equal, true);
  assert.equal(doc.source.db.includes('***') || !maria.url.includes(':@'), true);
  assert.deepEqual(Object.keys(doc), [
    'equal',
    'now',
    'source',
    'target',
    'onlyInSource',
    'onlyInTarget',
    'changed',
    'perSlot',
    'examples',
  ]);
});

test('one changed cseq: exit 1, and the difference says exactly which binding and field', async () => {
  const victim = rows.find((r, i) => i > 100 && r.expires > NOW)!;
  await openDb(pgdb.url).then(async (db) => {
    try {
      await db.query('UPDATE location SET cseq = cseq + 1 WHERE callid = $1', [victim.callid]);
    } finally {
      await db.close();
    }
  });
  const r = await runDiff(options());
  assert.equal(r.equal, false);
  assert.equal(r.onlyInSource, 1);
  assert.equal(r.onlyInTarget, 1);
  assert.equal(r.changed, 1);
  assert.deepEqual(r.examples.changed, [
    {
      username: victim.username.toLowerCase(),
      domain: victim.domain,
      contact: victim.contact,
      fields: { cseq: { source: victim.cseq, target: victim.cseq + 1 } },
    },
  ]);
  assert.deepEqual([r.examples.onlyInSource, r.examples.onlyInTarget], [[], []], 'the pair is shown once, as a change');
  assert.equal(r.perSlot.differing, 0, 'same AOR on both sides: slot counts still agree');

  const run = await cli(cliArgs());
  assert.equal(run.code, 1, run.stderr);
  const doc = JSON.parse(run.stdout);
  assert.deepEqual(doc.examples.changed, r.examples.changed);
  const human = await cli(cliArgs().filter((a) => a !== '--json'));
  assert.equal(human.code, 1);
  assert.match(human.stdout, new RegExp(`cseq ${victim.cseq} -> ${victim.cseq + 1}`));
  assert.match(human.stdout, /result: different: 1 only in source, 1 only in target, 1 changed/);
});

test('operational errors exit 2 with one line naming what to fix', async () => {
  const unreachable = await cli([
    'diff',
    '--source',
    'postgres://nobody@127.0.0.1:1/x',
    '--source-release',
    '2.1',
    '--target',
    pgdb.url,
    '--target-release',
    '4.0',
  ]);
  assert.equal(unreachable.code, 2);
  assert.match(
    unreachable.stderr,
    /^ulbridge: DB_UNREACHABLE: source: cannot connect to PostgreSQL at 127\.0\.0\.1:1 \(ECONNREFUSED\): .*--source names the right host/,
  );
  assert.equal(unreachable.stderr.trim().split('\n').length, 1);

  const missing = await cli([
    'diff',
    '--source',
    maria.url,
    '--source-release',
    '2.1',
    '--target',
    pgdb.url,
    '--target-table',
    'nope',
    '--target-release',
    '4.0',
  ]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^ulbridge: TABLE_MISSING: target: table "nope" does not exist .*check --target-table/);

  const release = await cli(['diff', '--source', maria.url, '--source-release', '2.5', '--target', pgdb.url, '--target-release', '4.0']);
  assert.equal(release.code, 2);
  assert.match(release.stderr, /^ulbridge: UNKNOWN_RELEASE: source: unknown release "2\.5"/);

  const shape = await cli(['diff', '--source', maria.url, '--source-release', '4.0', '--target', pgdb.url, '--target-release', '4.0']);
  assert.equal(shape.code, 2);
  assert.match(shape.stderr, /^ulbridge: TABLE_SHAPE: source: table "location" lacks column\(s\) contact_id, kv_store .*2\.1 table/);
});
