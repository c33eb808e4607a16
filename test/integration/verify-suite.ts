/**
 * The verify integration suite, run against a real server by verify-postgres.test.ts and
 * verify-mariadb.test.ts: tables created from each release's schema (src/db/ddl.ts), rows crafted
 * to hit every reason, exact JSON reports, exact exit codes and stderr of the real CLI.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { DbConnection } from '../../src/db/connection.js';
import { createLocationTableSql, versionRowSql, versionTableSql } from '../../src/db/ddl.js';
import { openDb } from '../../src/db/open.js';
import { parseTableName } from '../../src/db/table.js';
import { parseDbUrl } from '../../src/db/url.js';
import { packContactId } from '../../src/opensips/contactId.js';
import { coreHash } from '../../src/opensips/coreHash.js';
import { releaseProfile, type ReleaseName, type ReleaseProfile } from '../../src/opensips/releases.js';
import { toJson } from '../../src/cli/output.js';
import { runVerify, type VerifyOptions } from '../../src/verify/verify.js';
import { cli } from '../support/cli.js';

export interface FreshDb {
  url: string;
  drop(): Promise<void>;
}

const NOW = 1_700_000_000;
const RELEASES: ReleaseName[] = ['2.2', '2.3', '2.4', '3.x', '4.0'];

const hash = (aor: string): number => coreHash(Buffer.from(aor, 'utf8'));
const idOf = (aor: string, rlabel: number, clabel: number): bigint => packContactId({ aorhash: hash(aor) & 0xffff, rlabel, clabel });

type Row = Record<string, unknown>;

/** expires values per storage: permanent, long expired, far future. */
function times(p: ReleaseProfile): { permanent: unknown; expired: unknown; future: unknown } {
  return p.expires === 'unix'
    ? { permanent: 0, expired: 1, future: 2_000_000_000 } // PostgreSQL INTEGER ends in 2038
    : { permanent: '1970-01-01 00:00:00', expired: '2000-01-01 00:00:00', future: '2100-01-01 00:00:00' };
}

function baseRow(p: ReleaseProfile, n: number, user: string, domain: string | null, id: bigint | null): Row {
  const r: Row = {
    contact_id: id,
    username: user,
    domain,
    contact: `sip:${user || 'x'}@192.0.2.1:5060`,
    received: null,
    path: null,
    expires: times(p).future,
    q: 1,
    callid: `cid-${n}`,
    cseq: 1,
    flags: 0,
    user_agent: 'ua',
    socket: null,
  };
  if (p.hasKvStore) r.kv_store = null;
  return r;
}

async function insert(db: DbConnection, table: string, rows: Row[]): Promise<void> {
  const t = db.dialect.table(parseTableName(table));
  for (const row of rows) {
    const cols = Object.keys(row);
    const values = cols.map((c) => {
      const v = row[c];
      return typeof v === 'bigint' ? v.toString() : v;
    });
    await db.query(
      `INSERT INTO ${t} (${cols.map((c) => db.dialect.quoteIdent(c)).join(', ')}) VALUES (${cols.map((_, i) => db.dialect.param(i + 1)).join(', ')})`,
      values,
    );
  }
}

async function createTable(
  db: DbConnection,
  p: ReleaseProfile,
  table: string,
  opts: { relaxed?: boolean; version?: number | null } = {},
): Promise<void> {
  // "relaxed": the hand-altered tables that let NULLs, duplicate ids and long AORs in: every column
  // NULL-able, no primary key, username/domain widened to TEXT.
  const profile: ReleaseProfile = opts.relaxed
    ? {
        ...p,
        columns: p.columns.map((c) => ({
          ...c,
          nullable: true,
          ...(c.name === 'username' || c.name === 'domain' ? { type: { kind: 'text' as const }, default: 'NULL' } : {}),
        })),
      }
    : p;
  for (const s of createLocationTableSql(profile, db.dialect, table, { primaryKey: !opts.relaxed })) await db.query(s);
  await db.query(versionTableSql(db.dialect));
  if (opts.version !== null) {
    await db.query(
      versionRowSql({ ...p, tableVersion: (opts.version ?? p.tableVersion) as ReleaseProfile['tableVersion'] }, db.dialect, table),
    );
  }
}

/** A clean table: two AORs (one with two contacts), use_domain=0, hash_size 9. */
function cleanRows(p: ReleaseProfile): Row[] {
  const t = times(p);
  return [
    { ...baseRow(p, 1, 'alice', null, idOf('alice', 1, 100)), expires: t.permanent },
    { ...baseRow(p, 2, 'alice', null, idOf('alice', 1, 101)), socket: 'udp:192.0.2.10:5060', received: 'sip:203.0.113.7:5062' },
    { ...baseRow(p, 3, 'bob', null, idOf('bob', 2, 7)), path: '<sip:edge.example.net;lr>,<sip:core.example.net;lr>' },
  ];
}

/**
 * Every reason, for use_domain=1 and hash_size 4 (16 slots). Besides one row per reason:
 * - alice has two loadable contacts, one expired; bob's kv_store is a JSON array (2.4+ warning);
 * - erin's two loadable rows share one contact id: one duplicate id;
 * - amb6 and amb10 share slot 11 and rlabel 9: one ambiguous record label;
 * - traps that must not count: the empty-username row reuses alice's id (a duplicate of a row
 *   preload skips), and zed2 shares slot 6 / rlabel 7 with carol's mismatched id (not loaded).
 */
function everyReasonRows(p: ReleaseProfile): Row[] {
  const t = times(p);
  const d = 'example.com';
  let n = 0;
  const r = (user: string, domain: string | null, id: bigint | null, over: Row = {}): Row => ({
    ...baseRow(p, ++n, user, domain, id),
    ...over,
  });
  const ok = (user: string, rlabel: number, over: Row = {}): Row => r(user, d, idOf(`${user}@${d}`, rlabel, 1), over);
  const longUser = 'x'.repeat(1012);
  const rows: Row[] = [
    r('alice', d, idOf('alice@example.com', 1, 1), { expires: t.permanent }),
    r('alice', d, idOf('alice@example.com', 1, 2), { expires: t.expired }),
    ok('bob', 2, p.hasKvStore ? { kv_store: '{"a":[1]}' } : {}),
    r('', d, idOf('alice@example.com', 1, 1)), // emptyUsername
    r('n1', d, null), // nullContactId
    ok('n2', 102, { contact: '' }), // emptyContact
    ok('n3', 103, { expires: null }),
    ok('n4', 104, { q: null }),
    ok('n5', 105, { cseq: null }),
    ok('n6', 106, { callid: '' }),
    ok('n7', 107, { flags: null }),
    ok('n8', 108, { socket: 'udp:192.0.2.10:5060:5061' }), // badSocket
    r('n9', null, idOf('n9', 109, 1)), // emptyDomain
    r(longUser, d, idOf(`${longUser}@${d}`, 110, 1), { contact: 'sip:long@192.0.2.1' }), // aorTooLong
    r('carol', d, idOf('carol', 7, 1)), // aorhashMismatch: hashed without the domain
    ok('zed2', 7),
    ok('dave', 111, { contact: '<sip:dave@192.0.2.1>' }), // badContactUri
    ok('n12', 112, { path: '<sip:edge.example.net;lr' }), // badPath
    ok('n13', 113, { received: '192.0.2.7:5060' }), // badReceived
    r('erin', d, idOf('erin@example.com', 3, 1)),
    r('erin', d, idOf('erin@example.com', 3, 1), { contact: 'sip:erin@192.0.2.2:5060' }),
    r('amb6', d, idOf('amb6@example.com', 9, 1)),
    r('amb10', d, idOf('amb10@example.com', 9, 1)),
  ];
  return rows;
}

function zeroReasons(): Record<string, number> {
  return {
    emptyUsername: 0,
    nullContactId: 0,
    emptyContact: 0,
    nullExpires: 0,
    nullQ: 0,
    nullCseq: 0,
    emptyCallid: 0,
    nullFlags: 0,
    badSocket: 0,
    emptyDomain: 0,
    aorTooLong: 0,
    aorhashMismatch: 0,
    badContactUri: 0,
    badPath: 0,
    badReceived: 0,
  };
}

function expectedClean(p: ReleaseProfile, dialect: 'postgres' | 'mysql', db: string, table: string): object {
  return {
    db,
    dialect,
    table,
    release: p.name,
    hashSize: 9,
    slots: 512,
    useDomain: false,
    signedness: 'signed',
    timezone: 'UTC',
    now: NOW,
    tableVersion: { expected: p.tableVersion, found: p.tableVersion, ok: true, opensipsLog: null },
    rowsRead: 3,
    loadable: 3,
    rejected: {
      total: 0,
      byCategory: { aorhashMismatch: 0, emptyUsername: 0, emptyDomain: 0, unparsableFields: 0 },
      byReason: zeroReasons(),
    },
    warnings: { total: 0, byReason: { badKvStore: 0 } },
    duplicateContactIds: { checkedBy: 'unique index', ids: 0, rows: 0 },
    ambiguousRecordLabels: { labels: 0, aors: 0 },
    expired: 0,
    findings: 0,
    clean: true,
  };
}

function expectedEveryReason(p: ReleaseProfile, dialect: 'postgres' | 'mysql', db: string, table: string): object {
  const warnings = p.hasKvStore ? 1 : 0;
  return {
    db,
    dialect,
    table,
    release: p.name,
    hashSize: 4,
    slots: 16,
    useDomain: true,
    signedness: 'signed',
    timezone: 'UTC',
    now: NOW,
    tableVersion: { expected: p.tableVersion, found: p.tableVersion, ok: true, opensipsLog: null },
    rowsRead: 23,
    loadable: 8,
    rejected: {
      total: 15,
      byCategory: { aorhashMismatch: 1, emptyUsername: 1, emptyDomain: 1, unparsableFields: 12 },
      byReason: {
        emptyUsername: 1,
        nullContactId: 1,
        emptyContact: 1,
        nullExpires: 1,
        nullQ: 1,
        nullCseq: 1,
        emptyCallid: 1,
        nullFlags: 1,
        badSocket: 1,
        emptyDomain: 1,
        aorTooLong: 1,
        aorhashMismatch: 1,
        badContactUri: 1,
        badPath: 1,
        badReceived: 1,
      },
    },
    warnings: { total: warnings, byReason: { badKvStore: warnings } },
    duplicateContactIds: { checkedBy: 'scan', ids: 1, rows: 2 },
    ambiguousRecordLabels: { labels: 1, aors: 2 },
    expired: 1,
    findings: 15 + warnings + 1 + 1,
    clean: false,
  };
}

function options(url: string, release: string, table: string, over: Partial<VerifyOptions> = {}): VerifyOptions {
  return {
    db: url,
    table,
    release,
    hashSize: 9,
    useDomain: false,
    signedness: 'signed',
    timezone: 'UTC',
    now: NOW,
    details: 0,
    batchSize: 1000,
    ...over,
  };
}

const plain = (v: unknown): unknown => JSON.parse(toJson(v));

export function verifySuite(dialect: 'postgres' | 'mysql', fresh: () => Promise<FreshDb>): void {
  const label = dialect === 'postgres' ? 'PostgreSQL' : 'MySQL/MariaDB';

  describe(`verify on ${label}`, () => {
    let fdb: FreshDb;
    let db: DbConnection;
    let redacted: string;

    before(async () => {
      fdb = await fresh();
      db = await openDb(fdb.url);
      redacted = parseDbUrl(fdb.url).redacted;
      for (const rel of RELEASES) {
        const p = releaseProfile(rel);
        const tag = rel.replace('.', '');
        await createTable(db, p, `clean_${tag}`);
        await insert(db, `clean_${tag}`, cleanRows(p));
        await createTable(db, p, `every_${tag}`, { relaxed: true });
        await insert(db, `every_${tag}`, everyReasonRows(p));
      }
      await createTable(db, releaseProfile('2.1'), 'old_21');
      await createTable(db, releaseProfile('2.2'), 'wrong_version', { version: 1013 });
      await insert(db, 'wrong_version', cleanRows(releaseProfile('2.2')));
    });

    after(async () => {
      await db?.close();
      await fdb?.drop();
    });

    for (const rel of RELEASES) {
      const tag = rel.replace('.', '');
      test(`${rel}: a clean table`, async () => {
        const r = await runVerify(options(fdb.url, rel, `clean_${tag}`));
        assert.deepEqual(plain(r), expectedClean(releaseProfile(rel), dialect, redacted, `clean_${tag}`));
      });
      test(`${rel}: every reason, counted once each`, async () => {
        const o = options(fdb.url, rel, `every_${tag}`, { hashSize: 4, useDomain: true });
        const r = await runVerify(o);
        assert.deepEqual(plain(r), expectedEveryReason(releaseProfile(rel), dialect, redacted, `every_${tag}`));
        const small = await runVerify({ ...o, batchSize: 2 });
        assert.deepEqual(plain(small), plain(r), 'batch size does not change the result');
      });
    }

    test('4.0 --details: decoded ids and OpenSIPS log lines for each finding', async () => {
      const r = await runVerify(options(fdb.url, '4.0', 'every_40', { hashSize: 4, useDomain: true, details: 5 }));
      const d = plain(r.details) as Record<string, any>;
      const carolId = idOf('carol', 7, 1);
      assert.deepEqual(d.rejected.aorhashMismatch, [
        {
          id: { contactId: carolId.toString(), aorhash: hash('carol') & 0xffff, rlabel: 7, clabel: 1 },
          username: 'carol',
          domain: 'example.com',
          contact: 'sip:carol@192.0.2.1:5060',
          opensipsLog: `failed to match aorhashes for user carol@example.com,db aorhash [46966] new aorhash [${hash('carol@example.com') & 15}],db contactid [${carolId}]`,
          expectedAorhash: hash('carol@example.com') & 0xffff,
        },
      ]);
      assert.deepEqual(
        Object.fromEntries(
          Object.entries(d.rejected as Record<string, Array<{ opensipsLog: string }>>).map(([k, v]) => [k, v.map((e) => e.opensipsLog)]),
        ),
        {
          emptyUsername: ['empty username record in table every_40...skipping'],
          nullContactId: ['bad contact id'],
          emptyContact: ['bad contact'],
          nullExpires: ['empty expire'],
          nullQ: ['empty q'],
          nullCseq: ['empty cseq_nr'],
          emptyCallid: ['bad callid'],
          nullFlags: ['empty flag'],
          badSocket: ['bad socket <udp:192.0.2.10:5060:5061>'],
          emptyDomain: ['empty domain record for user n9...skipping'],
          aorTooLong: [`URI '${'x'.repeat(1012)}@example.co@example.com' longer than 1024`],
          aorhashMismatch: [d.rejected.aorhashMismatch[0].opensipsLog],
          badContactUri: ['contact [<sip:dave@192.0.2.1>] is not valid! Will not store it!'],
          badPath: ["failed to get dst_uri for Path '<sip:edge.example.net;lr'"],
          badReceived: ["failed to parse URI of next hop: '192.0.2.7:5060'"],
        },
      );
      assert.deepEqual(
        d.warnings.badKvStore.map((e: { opensipsLog: string; username: string }) => [e.username, e.opensipsLog]),
        [['bob', 'unknown obj type (32)']],
      );
      const erin = idOf('erin@example.com', 3, 1);
      assert.equal(d.duplicateContactIds.length, 1);
      assert.deepEqual(d.duplicateContactIds[0].id, {
        contactId: erin.toString(),
        aorhash: hash('erin@example.com') & 0xffff,
        rlabel: 3,
        clabel: 1,
      });
      assert.deepEqual(
        d.duplicateContactIds[0].rows
          .map((x: { username: string; domain: string; contact: string }) => `${x.username}@${x.domain} ${x.contact}`)
          .sort(),
        ['erin@example.com sip:erin@192.0.2.1:5060', 'erin@example.com sip:erin@192.0.2.2:5060'],
      );
      assert.deepEqual(d.ambiguousRecordLabels, [
        {
          slot: 11,
          rlabel: 9,
          aorCount: 2,
          aors: [
            { aor: 'amb10@example.com', contactId: idOf('amb10@example.com', 9, 1).toString() },
            { aor: 'amb6@example.com', contactId: idOf('amb6@example.com', 9, 1).toString() },
          ],
        },
      ]);
    });

    test('2.3: DATETIME expires is read in --timezone', async () => {
      const utc = await runVerify(options(fdb.url, '2.3', 'clean_23'));
      assert.equal(utc.expired, 0);
      // alice's permanent row is stored as localtime(0) of a UTC host; on a CET host it is 1970-01-01 01:00:00,
      // so the same row reads as long expired there.
      const berlin = await runVerify(options(fdb.url, '2.3', 'clean_23', { timezone: 'Europe/Berlin' }));
      assert.equal(berlin.expired, 1);
      assert.equal(berlin.clean, true, 'expired rows load: they are not findings');
    });

    test('a table version OpenSIPS refuses is a finding', async () => {
      const r = await runVerify(options(fdb.url, '2.2', 'wrong_version'));
      assert.deepEqual(r.tableVersion, {
        expected: 1011,
        found: 1013,
        ok: false,
        opensipsLog: 'invalid version 1013 for table wrong_version found, expected 1011',
      });
      assert.equal(r.findings, 1);
      assert.equal(r.loadable, 3);
    });

    test('CLI: clean table exits 0 with one JSON document', async () => {
      const r = await cli([
        'verify',
        '--db',
        fdb.url,
        '--table',
        'clean_40',
        '--release',
        '4.0',
        '--hash-size',
        '9',
        '--now',
        String(NOW),
        '--json',
      ]);
      assert.equal(r.stderr, '');
      assert.equal(r.code, 0);
      assert.deepEqual(JSON.parse(r.stdout), expectedClean(releaseProfile('4.0'), dialect, redacted, 'clean_40'));
    });

    test('CLI: findings exit 1', async () => {
      const r = await cli([
        'verify',
        '--db',
        fdb.url,
        '--table',
        'every_3x',
        '--release',
        '3.x',
        '--hash-size',
        '4',
        '--use-domain',
        '--now',
        String(NOW),
        '--json',
      ]);
      assert.equal(r.stderr, '');
      assert.equal(r.code, 1);
      assert.deepEqual(JSON.parse(r.stdout), expectedEveryReason(releaseProfile('3.x'), dialect, redacted, 'every_3x'));
    });

    test('CLI: human summary of a clean table', async () => {
      const r = await cli(['verify', '--db', fdb.url, '--table', 'clean_22', '--release', '2.2', '--hash-size', '9', '--now', String(NOW)]);
      assert.equal(r.code, 0);
      assert.equal(
        r.stdout,
        [
          `ulbridge verify: ${label} table clean_22 as OpenSIPS 2.2 preloads it`,
          '  hash_size 9 (512 slots), use_domain off, signed char, expiry as of 2023-11-14 22:13:20 UTC',
          '',
          'table version                   1011   (OpenSIPS 2.2 expects 1011)',
          'rows read                          3',
          'loadable                           3',
          'rejected                           0',
          'kv_store warnings                  0',
          'duplicate contact ids              0   (ruled out by a unique index on contact_id)',
          'ambiguous record labels            0',
          'expired rows                       0',
          '',
          'result: clean: OpenSIPS 2.2 loads all 3 rows',
          '',
        ].join('\n'),
      );
    });

    test('CLI: a missing table exits 2 with what to fix', async () => {
      const r = await cli(['verify', '--db', fdb.url, '--table', 'nosuch', '--release', '4.0', '--hash-size', '9']);
      const t = parseDbUrl(fdb.url);
      assert.equal(r.stdout, '');
      assert.equal(
        r.stderr,
        `ulbridge: TABLE_MISSING: table "nosuch" does not exist in database "${t.database}" on ${label} at ${t.host}:${t.port}: ` +
          'check --table (usrloc uses the table named in save(), "location" by default)\n',
      );
      assert.equal(r.code, 2);
    });

    test('CLI: a table of another release exits 2', async () => {
      const a = await cli(['verify', '--db', fdb.url, '--table', 'clean_22', '--release', '4.0', '--hash-size', '9']);
      assert.equal(
        a.stderr,
        'ulbridge: TABLE_SHAPE: table "clean_22" lacks column(s) kv_store that OpenSIPS 4.0 reads at preload: it looks like a 2.2/2.3 table (version 1011); pick --release 2.2 or 2.3\n',
      );
      assert.equal(a.code, 2);
      const b = await cli(['verify', '--db', fdb.url, '--table', 'old_21', '--release', '2.2', '--hash-size', '9']);
      assert.equal(
        b.stderr,
        'ulbridge: TABLE_SHAPE: table "old_21" lacks column(s) contact_id that OpenSIPS 2.2 reads at preload: it looks like a 2.1 table (key `id`, version 1009), which has no contact ids\n',
      );
      assert.equal(b.code, 2);
    });

    test('CLI: --release 2.1 is refused, even on a 2.1 table', async () => {
      const r = await cli(['verify', '--db', fdb.url, '--table', 'old_21', '--release', '2.1', '--hash-size', '9']);
      assert.equal(
        r.stderr,
        'ulbridge: UNSUPPORTED_RELEASE: release 2.1 has no contact_id (its key is an auto-increment id), so there is no preload check to simulate: ' +
          '--release takes one of 2.2, 2.3, 2.4, 3.x, 4.0; to move a 2.1 table, migrate it (DESIGN.md §4)\n',
      );
      assert.equal(r.code, 2);
    });

    test('CLI: unknown release exits 2 before connecting', async () => {
      const r = await cli(['verify', '--db', fdb.url, '--release', '5.0', '--hash-size', '9']);
      assert.equal(r.stderr, 'ulbridge: UNKNOWN_RELEASE: unknown release "5.0": --release takes one of 2.2, 2.3, 2.4, 3.x, 4.0\n');
      assert.equal(r.code, 2);
    });

    test('CLI: a database that does not exist exits 2', async () => {
      const u = new URL(fdb.url);
      u.pathname = '/ulbridge_no_such_db';
      const t = parseDbUrl(u.toString());
      const r = await cli(['verify', '--db', u.toString(), '--release', '4.0', '--hash-size', '9']);
      assert.equal(
        r.stderr,
        `ulbridge: DB_NOT_FOUND: database "ulbridge_no_such_db" does not exist on ${label} at ${t.host}:${t.port}: check the database name in --db\n`,
      );
      assert.equal(r.code, 2);
    });
  });
}
