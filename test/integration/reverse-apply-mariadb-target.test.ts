import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import mysql from 'mysql2/promise';
import { openDb } from '../../src/db/open.js';
import type { DbConnection, QueryOptions } from '../../src/db/connection.js';
import { createLocationTable } from '../../src/demo/tables.js';
import type { RegistrationEvent } from '../../src/log/event.js';
import { aorBytes } from '../../src/opensips/aor.js';
import { packContactId } from '../../src/opensips/contactId.js';
import { coreHash } from '../../src/opensips/coreHash.js';
import { compileTarget } from '../../src/project/target.js';
import { applyReverseBatch, OwnWritePending, type ReverseResult } from '../../src/reverse/apply.js';
import { LegacyTable, type LegacyRegistrar } from '../../src/reverse/legacyTable.js';
import { mysqlReverseTargetStore } from '../../src/reverse/mysqlTarget.js';
import type { ReverseTargetStore, TargetChange } from '../../src/reverse/target.js';
import { runVerify } from '../../src/verify/verify.js';
import { freshMariaDb, freshPostgresDb, loadDdl, type FreshDb } from '../support/services.js';

// Reverse sync FROM a MariaDB target (issue 11, item 1): the same algorithm as on PostgreSQL
// (src/reverse/apply.ts) over the MySQL/MariaDB target session (src/reverse/mysqlTarget.ts). The
// projection's own transactions are own_tx markers (server, fence, GTID, ceiling) in the target's
// state database; a change event names its transaction by GTID and server id (Debezium's MariaDB
// source block). Exact legacy rows, links and label state; own-write skip by GTID, pending then
// own, pending past the bound (the batch fails), ambiguous applied under the conflict rule,
// insert + link, redelivery no-op, pruning.

const TZ = 'Europe/Berlin';
const NOW = 1764000000; // 2025-11-24 16:00:00 UTC = 17:00:00 in Berlin
const X = 120049079714578432n; // the new registrar's contact id (aorhash 1706 = "callee")
const Y = 120049079714578433n; // a row the projection wrote for legacy row 1

interface Tx {
  gtid: string | null;
  serverId: bigint;
  snapshot?: 'false' | 'true';
}

function change(op: 'UPSERT' | 'DELETE', contactId: bigint, tx: Tx, cseq = 1, lastModified = NOW, username = 'callee'): TargetChange {
  const event: RegistrationEvent = {
    op,
    source: {
      name: 'rollback',
      release: '4.0',
      connector: 'MYSQL',
      table: 'opensips.location',
      rowKey: contactId,
      position: { major: 1n, minor: 4n, seq: 1n },
      snapshot: tx.snapshot === 'true',
      tsMs: 0n,
    },
    registration: {
      username,
      domain: 'example.com',
      contact: `sip:${username}@192.0.2.${contactId % 250n}:5060`,
      received: null,
      path: null,
      expires: BigInt(NOW + 3600),
      q: 0.5,
      callid: `cid-${username}`,
      cseq,
      lastModified: BigInt(lastModified),
      flags: 3,
      cflags: null,
      userAgent: 'Linphone/5.2.5',
      socket: null,
      methods: null,
      sipInstance: null,
      kvStore: null,
      attr: null,
    },
  };
  return { event, txId: null, binlog: { gtid: tx.gtid, server_id: tx.serverId, snapshot: tx.snapshot ?? 'false' } };
}

const result = (r: Partial<ReverseResult>): ReverseResult => ({
  ownWrites: 0,
  inserted: 0,
  updated: 0,
  deleted: 0,
  keptLegacy: 0,
  ignored: 0,
  ...r,
});

interface Rig {
  targetDb: FreshDb;
  legacyDb: FreshDb;
  state: string;
  store: ReverseTargetStore;
  my: mysql.Connection;
  legacyConn: DbConnection;
  legacy: LegacyTable;
  serverId: bigint;
  domain: bigint;
}

/** A MariaDB 4.0 target (shared, its state database created by the reverse target store) and a legacy table. */
async function rig(legacyKind: 'postgres' | 'mysql', registrar: LegacyRegistrar): Promise<Rig> {
  const targetDb = await freshMariaDb('rev_my_target');
  await createLocationTable(targetDb.url, '4.0');
  const state = `${targetDb.name}_state`;
  const target = compileTarget({
    name: 'main',
    db: targetDb.url,
    table: 'location',
    release: '4.0',
    hashSize: 9,
    useDomain: false,
    signedness: 'signed',
    timeZone: TZ,
    stateSchema: state,
    shared: true,
  });
  const store = mysqlReverseTargetStore(target, {});
  await store.ensureState();
  const my = await mysql.createConnection({ uri: targetDb.url, multipleStatements: true, supportBigNumbers: true, bigNumberStrings: true });
  const [[ids]] = (await my.query('SELECT CAST(@@server_id AS CHAR) AS s, CAST(@@gtid_domain_id AS CHAR) AS d')) as unknown as [
    Array<{ s: string; d: string }>,
  ];
  const legacyDb = legacyKind === 'postgres' ? await freshPostgresDb('rev_my_legacy') : await freshMariaDb('rev_my_legacy');
  if (registrar.release === '2.1') await loadDdl(legacyDb.url, legacyKind, '2.1');
  else await createLocationTable(legacyDb.url, registrar.release);
  const legacyConn = await openDb(legacyDb.url);
  const legacy = new LegacyTable(legacyConn, 'location', registrar);
  return { targetDb, legacyDb, state, store, my, legacyConn, legacy, serverId: BigInt(ids!.s), domain: BigInt(ids!.d) };
}

async function teardown(r: Rig | undefined): Promise<void> {
  if (!r) return;
  await r.legacyConn.close().catch(() => undefined);
  await r.my.query(`DROP DATABASE IF EXISTS \`${r.state}\``).catch(() => undefined);
  await r.my.end().catch(() => undefined);
  await r.store.close().catch(() => undefined);
  await r.targetDb.drop().catch(() => undefined);
  await r.legacyDb.drop().catch(() => undefined);
}

describe('reverse apply from a MariaDB target into a PostgreSQL 2.1 legacy table', () => {
  let r: Rig;
  let g: (seq: number) => string;
  let tx: (seq: number) => Tx;
  const apply = (changes: TargetChange[], pendingTimeoutMs = 5000) =>
    r.store.withSession((s) => applyReverseBatch(s, r.legacy, { stateSchema: r.state, sourceName: 'legacy', pendingTimeoutMs }, changes));

  async function legacyRows(): Promise<string[]> {
    const rows = await r.legacyConn.query<Record<string, unknown>>(
      `SELECT id, username, domain, contact, to_char(expires, 'YYYY-MM-DD HH24:MI:SS') AS expires, callid, cseq, to_char(last_modified, 'YYYY-MM-DD HH24:MI:SS') AS lm, flags FROM location ORDER BY id`,
    );
    return rows.map((x) => Object.values(x).map(String).join('|'));
  }

  async function links(): Promise<string[]> {
    const [rows] = await r.my.query(
      `SELECT CAST(contact_id AS CHAR) AS c, CAST(binding AS CHAR) AS b, CAST(legacy_id AS CHAR) AS l FROM \`${r.state}\`.links ORDER BY contact_id`,
    );
    return (rows as Array<{ c: string; b: string; l: string }>).map((x) => `${x.c}|${x.b}|${x.l}`);
  }

  /** An own_tx marker as the projection writes it (src/project/mysqlSession.ts). */
  async function marker(fence: string, gtid: string | null, ceiling: string | null = null, serverId = r.serverId): Promise<number> {
    const [res] = await r.my.query(
      `INSERT INTO \`${r.state}\`.own_tx (server_id, fence, gtid, ceiling, committed_at) VALUES (?, ?, ?, ?, UTC_TIMESTAMP(3))`,
      [String(serverId), fence, gtid, ceiling],
    );
    return (res as { insertId: number }).insertId;
  }

  const X_ROW = (id: number, cseq: number, lm: string) =>
    `${id}|callee|example.com|sip:callee@192.0.2.182:5060|2025-11-24 18:00:00|cid-callee|${cseq}|${lm}|2`;
  const BOB = (cseq: number, lm: string) => `1|bob|example.com|sip:bob@192.0.2.1|2025-11-24 18:00:00|cid-bob|${cseq}|${lm}|0`;

  before(async () => {
    r = await rig('postgres', { release: '2.1', timeZone: TZ });
    g = (seq) => `${r.domain}-${r.serverId}-${seq}`;
    tx = (seq) => ({ gtid: g(seq), serverId: r.serverId });
    // Legacy row 1 ('bob'), projected by ulbridge as contact id Y (a forward binding in the MariaDB state).
    await r.legacyConn.query(
      `INSERT INTO location (username, domain, contact, expires, callid, cseq, last_modified) VALUES ('bob', 'example.com', 'sip:bob@192.0.2.1', '2025-11-24 18:00:00', 'cid-bob', 5, '2025-11-24 17:00:00')`,
    );
    await r.my.query(
      `INSERT INTO \`${r.state}\`.bindings (binding, source_name, source_row_key, log_partition, aor, clabel, contact_id, in_target, pos_major, pos_minor, pos_seq, updated_at)
       VALUES ('legacy:1', 'legacy', 1, 0, 'bob', 1, ${Y}, 1, 1, 1, 0, UTC_TIMESTAMP(3))`,
    );
    await marker(g(400), g(500)); // the projection's transaction 500
  });

  after(() => teardown(r));

  test("a change whose GTID an own_tx marker holds is the projection's own: never copied back", async () => {
    assert.deepEqual(await apply([change('UPSERT', X, tx(500))]), result({ ownWrites: 1 }));
    assert.deepEqual(await legacyRows(), [BOB(5, '2025-11-24 17:00:00')]);
  });

  test("a registrar's new contact (a GTID no marker holds) becomes a legacy row and a link in the MariaDB state", async () => {
    assert.deepEqual(await apply([change('UPSERT', X, tx(501))]), result({ inserted: 1 }));
    assert.deepEqual(await legacyRows(), [BOB(5, '2025-11-24 17:00:00'), X_ROW(2, 1, '2025-11-24 17:00:00')]);
    assert.deepEqual(await links(), [`${X}|legacy:2|2`]);
  });

  test('the same batch redelivered changes nothing', async () => {
    assert.deepEqual(await apply([change('UPSERT', X, tx(501))]), result({ keptLegacy: 1 }));
    assert.deepEqual(await legacyRows(), [BOB(5, '2025-11-24 17:00:00'), X_ROW(2, 1, '2025-11-24 17:00:00')]);
    assert.deepEqual(await links(), [`${X}|legacy:2|2`]);
  });

  test('a change of a projected row goes to its legacy row by the forward binding', async () => {
    const bob = change('UPSERT', Y, tx(502), 6, NOW + 300, 'bob');
    bob.event.registration = { ...bob.event.registration!, contact: 'sip:bob@192.0.2.1', callid: 'cid-bob', flags: 0 };
    assert.deepEqual(await apply([bob]), result({ updated: 1 }));
    assert.deepEqual(await legacyRows(), [BOB(6, '2025-11-24 17:05:00'), X_ROW(2, 1, '2025-11-24 17:00:00')]);
  });

  test("pending: a marker without its GTID yet may be the change's transaction; own_tx is read again until it is set", async () => {
    const seq = await marker(g(509), null); // its GTID is written right after COMMIT
    setTimeout(() => void r.my.query(`UPDATE \`${r.state}\`.own_tx SET gtid = ? WHERE seq = ?`, [g(510), seq]), 300);
    const started = Date.now();
    assert.deepEqual(await apply([change('UPSERT', X, tx(510), 9, NOW + 900)]), result({ ownWrites: 1 }));
    assert.ok(Date.now() - started >= 250, 'decided only once the marker had its GTID');
    assert.deepEqual(await legacyRows(), [BOB(6, '2025-11-24 17:05:00'), X_ROW(2, 1, '2025-11-24 17:00:00')]);
  });

  test('still pending past the bound: the batch fails (to be redelivered), nothing is copied back', async () => {
    const seq = await marker(g(519), null); // the server crashed before the GTID was written
    await assert.rejects(apply([change('UPSERT', X, tx(520), 2, NOW + 60)], 300), OwnWritePending);
    assert.deepEqual(await legacyRows(), [BOB(6, '2025-11-24 17:05:00'), X_ROW(2, 1, '2025-11-24 17:00:00')]);
    // The projection's next session bounds the marker (its ceiling: the GTID position then).
    await r.my.query(`UPDATE \`${r.state}\`.own_tx SET ceiling = ? WHERE seq = ?`, [g(521), seq]);
  });

  test("ambiguous (inside a bounded marker's range): applied under the conflict rule and counted", async () => {
    // Newer than the legacy row: copied. An equal version (an echo of the projection's own write): kept out.
    const newer = await apply([change('UPSERT', X, tx(520), 2, NOW + 60)]);
    assert.deepEqual(newer, result({ updated: 1, ambiguous: 1 }));
    const echo = await apply([change('UPSERT', X, tx(521), 2, NOW + 60)]);
    assert.deepEqual(echo, result({ keptLegacy: 1, ambiguous: 1 }));
    assert.deepEqual(await legacyRows(), [BOB(6, '2025-11-24 17:05:00'), X_ROW(2, 2, '2025-11-24 17:01:00')]);
    // Past the ceiling, exact again; a snapshot read is never the projection's transaction.
    assert.deepEqual(await apply([change('UPSERT', X, tx(522), 2, NOW + 60)]), result({ keptLegacy: 1 }));
    assert.deepEqual(
      await apply([change('UPSERT', X, { gtid: null, serverId: r.serverId, snapshot: 'true' }, 2, NOW + 60)]),
      result({ keptLegacy: 1 }),
    );
  });

  test('a delete deletes the legacy row and drops the link; own_tx markers are pruned by age', async () => {
    assert.deepEqual(await apply([change('DELETE', X, tx(530), 2, NOW + 60)]), result({ deleted: 1 }));
    assert.deepEqual(await legacyRows(), [BOB(6, '2025-11-24 17:05:00')]);
    assert.deepEqual(await links(), []);
    await r.my.query(`UPDATE \`${r.state}\`.own_tx SET committed_at = UTC_TIMESTAMP(3) - INTERVAL 2 DAY WHERE gtid = ?`, [g(500)]);
    assert.equal(await r.store.withSession((s) => s.pruneOwnTransactions(86_400)), 1);
    const [rows] = await r.my.query(`SELECT gtid FROM \`${r.state}\`.own_tx WHERE gtid IS NOT NULL ORDER BY seq`);
    assert.deepEqual(
      (rows as Array<{ gtid: string }>).map((x) => x.gtid),
      [g(510)],
    );
  });
});

describe('reverse apply from a MariaDB target into a MariaDB 3.x legacy table (hash_size 12): contact ids from the MariaDB label state', () => {
  let r: Rig;
  const registrar = { release: '3.x', hashSize: 12, useDomain: false, unsignedChar: false, timeZone: TZ } as const;
  const apply = (changes: TargetChange[]) =>
    r.store.withSession((s) => applyReverseBatch(s, r.legacy, { stateSchema: r.state, sourceName: 'legacy', now: NOW }, changes));
  const id = (user: string, rlabel: number, clabel: number): bigint =>
    packContactId({ aorhash: coreHash(aorBytes(user, 'example.com', { useDomain: false }), 'signed') & 0xffff, rlabel, clabel });
  const tx = (seq: number): Tx => ({ gtid: `${r.domain}-${r.serverId}-${seq}`, serverId: r.serverId });

  async function legacyIds(): Promise<string[]> {
    const rows = await r.legacyConn.query<{ id: string; u: string; cseq: number }>(
      'SELECT CAST(contact_id AS CHAR) AS id, username AS u, cseq FROM location ORDER BY contact_id',
    );
    return rows.map((x) => `${x.id}|${x.u}|${x.cseq}`);
  }

  before(async () => {
    r = await rig('mysql', registrar);
  });
  after(() => teardown(r));

  test('new contacts get ids from record labels 131072, 131073 (legacy_aors AUTO_INCREMENT), links and label state commit; redelivery is a no-op; verify clean', async () => {
    const batch = [
      change('UPSERT', 300_001n, tx(700), 1, NOW, 'callee'),
      change('UPSERT', 300_002n, tx(700), 1, NOW, 'callee'),
      change('UPSERT', 300_003n, tx(701), 1, NOW, 'alice'),
    ];
    batch[1]!.event.registration = { ...batch[1]!.event.registration!, contact: 'sip:callee@192.0.2.99:5060' };
    assert.deepEqual(await apply(batch), result({ inserted: 3 }));
    const callee0 = id('callee', 131072, 0);
    const callee1 = id('callee', 131072, 1);
    const alice0 = id('alice', 131073, 0);
    const expected = [
      [callee0, 'callee'],
      [callee1, 'callee'],
      [alice0, 'alice'],
    ]
      .sort((a, b) => ((a[0] as bigint) < (b[0] as bigint) ? -1 : 1))
      .map(([i, u]) => `${i}|${u}|1`);
    assert.deepEqual(await legacyIds(), expected);
    const [aors] = await r.my.query(`SELECT CAST(aor AS CHAR) AS aor, rlabel, next_clabel FROM \`${r.state}\`.legacy_aors ORDER BY rlabel`);
    assert.deepEqual(
      (aors as Array<{ aor: string; rlabel: number; next_clabel: number }>).map((a) => `${a.aor}|${a.rlabel}|${a.next_clabel}`),
      ['callee|131072|2', 'alice|131073|1'],
    );
    const [l] = await r.my.query(
      `SELECT CAST(contact_id AS CHAR) AS c, CAST(binding AS CHAR) AS b FROM \`${r.state}\`.links ORDER BY contact_id`,
    );
    assert.deepEqual(
      (l as Array<{ c: string; b: string }>).map((x) => `${x.c}|${x.b}`),
      [`300001|legacy:${callee0}`, `300002|legacy:${callee1}`, `300003|legacy:${alice0}`],
    );
    // Redelivered: nothing changes.
    assert.deepEqual(await apply(batch), result({ keptLegacy: 3 }));
    assert.deepEqual(await legacyIds(), expected);
    // A further contact of callee continues its labels.
    assert.deepEqual(await apply([change('UPSERT', 300_004n, tx(702), 1, NOW, 'callee')]), result({ inserted: 1 }));
    assert.ok((await legacyIds()).includes(`${id('callee', 131072, 2)}|callee|1`));
    const report = await runVerify({
      db: r.legacyDb.url,
      table: 'location',
      release: '3.x',
      hashSize: 12,
      useDomain: false,
      signedness: 'signed',
      timezone: TZ,
      now: NOW,
      details: 5,
      batchSize: 500,
    });
    assert.equal(report.rowsRead, 4);
    assert.equal(report.findings, 0, JSON.stringify(report));
    assert.equal(report.clean, true);
  });

  test('links and label state are written beside the INSERT, in a transaction of their own: amended after a clash, rolled back with a failed INSERT', async () => {
    const held = id('callee', 131072, 3); // callee's next id, held by a row of the legacy registrar
    const own = change('UPSERT', 0n, tx(0), 1, NOW, 'callee').event.registration!;
    await r.legacy.begin();
    assert.deepEqual(
      await r.legacy.insertWithIds([{ contactId: held, values: r.legacy.values({ ...own, callid: 'registrar' }, held) as never }]),
      new Set(),
    );
    await r.legacy.commit();
    const links = async (): Promise<string[]> => {
      const [rows] = await r.my.query(
        `SELECT CAST(contact_id AS CHAR) AS c, CAST(legacy_id AS CHAR) AS l FROM \`${r.state}\`.links WHERE contact_id IN (300005, 300006) ORDER BY contact_id`,
      );
      return (rows as Array<{ c: string; l: string }>).map((x) => `${x.c}|${x.l}`);
    };
    // Whether a transaction holds callee's label state row (the target session's, saving it).
    const targetTxOpen = async (): Promise<boolean> => {
      try {
        await r.my.query(`SELECT next_clabel FROM \`${r.state}\`.legacy_aors WHERE aor = _binary'callee' FOR UPDATE NOWAIT`);
        return false;
      } catch (e) {
        if ((e as { errno?: number }).errno === 1205) return true;
        throw e;
      }
    };
    const seen: string[] = [];
    // Each legacy INSERT returns only once the target transaction holds callee's label state (or after 2 s).
    const pausing: DbConnection = {
      ...r.legacyConn,
      query: async <T>(sql: string, params?: readonly unknown[], options?: QueryOptions) => {
        const out = await r.legacyConn.query<T>(sql, params, options);
        if (/^\s*INSERT/.test(sql)) {
          for (let i = 0; i < 200 && !(await targetTxOpen()); i++) await new Promise((done) => setTimeout(done, 10));
          seen.push(`open ${await targetTxOpen()}`, `links ${(await links()).length}`);
        }
        return out;
      },
    };
    const legacy = new LegacyTable(pausing, 'location', registrar);
    const apply2 = (changes: TargetChange[]) =>
      r.store.withSession((s) => applyReverseBatch(s, legacy, { stateSchema: r.state, sourceName: 'legacy', now: NOW }, changes));
    // callee's planned id clashes: its link, written meanwhile, is amended to the next label before the commit.
    assert.deepEqual(await apply2([change('UPSERT', 300_005n, tx(703), 1, NOW, 'callee')]), result({ inserted: 1 }));
    // (A MySQL legacy INSERT looks its ids up first: the held one is never sent, the row goes in with the next label.)
    assert.deepEqual(seen, ['open true', 'links 0']);
    assert.deepEqual(await links(), [`300005|${id('callee', 131072, 4)}`]);
    assert.ok((await legacyIds()).includes(`${id('callee', 131072, 4)}|callee|1`));
    const aorsNow = async () =>
      (await r.my.query(`SELECT CAST(aor AS CHAR) AS aor, rlabel, next_clabel FROM \`${r.state}\`.legacy_aors ORDER BY rlabel`))[0];
    assert.deepEqual(
      ((await aorsNow()) as Array<{ aor: string; rlabel: number; next_clabel: number }>).map(
        (a) => `${a.aor}|${a.rlabel}|${a.next_clabel}`,
      ),
      ['callee|131072|5', 'alice|131073|1'],
    );
    // A failed INSERT (callid too long): the target transaction is rolled back with the legacy one.
    const rows = await legacyIds();
    const aors = await aorsNow();
    const bad = change('UPSERT', 300_006n, tx(704), 1, NOW, 'callee');
    bad.event.registration = { ...bad.event.registration!, callid: 'x'.repeat(300) };
    await assert.rejects(apply2([bad]), /Data too long for column 'callid'/);
    assert.deepEqual(await links(), [`300005|${id('callee', 131072, 4)}`]);
    assert.deepEqual(await legacyIds(), rows);
    assert.deepEqual(await aorsNow(), aors);
    assert.equal(await targetTxOpen(), false);
  });
});
