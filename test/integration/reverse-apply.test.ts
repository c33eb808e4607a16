import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { openDb } from '../../src/db/open.js';
import type { DbConnection, QueryOptions } from '../../src/db/connection.js';
import type { RegistrationEvent } from '../../src/log/event.js';
import { ensureStateSchema } from '../../src/project/stateSchema.js';
import { createLocationTable } from '../../src/demo/tables.js';
import { aorBytes } from '../../src/opensips/aor.js';
import { packContactId } from '../../src/opensips/contactId.js';
import { coreHash } from '../../src/opensips/coreHash.js';
import {
  applyReverseBatch,
  applyReverseBatches,
  pruneOwnTransactions,
  type ReverseResult,
  type TargetChange,
} from '../../src/reverse/apply.js';
import { ensureReverseState } from '../../src/reverse/labels.js';
import { runVerify } from '../../src/verify/verify.js';
import { LegacyTable } from '../../src/reverse/legacyTable.js';
import { pgReverseSession } from '../../src/reverse/pgTarget.js';
import type { ReverseTargetSession } from '../../src/reverse/target.js';
import { freshMariaDb, freshPostgresDb, loadDdl, type FreshDb } from '../support/services.js';

// Reverse sync's transaction against real databases: a PostgreSQL target (its state schema) and a
// 2.1 legacy table in PostgreSQL or MariaDB. Exact legacy rows, links, the own-transaction check,
// the conflict rule and idempotence under redelivery.

const TZ = 'Europe/Berlin';
const NOW = 1764000000; // 2025-11-24 16:00:00 UTC = 17:00:00 in Berlin
const S = 'ulbridge_main';
const X = 120049079714578432n; // a registrar's contact id (aorhash 1706 = "callee")
const Y = 120049079714578433n; // a row the projection wrote for legacy row 1

function change(
  op: 'UPSERT' | 'DELETE' | 'TRUNCATE',
  contactId: bigint,
  txId: bigint | null,
  cseq = 1,
  lastModified = NOW,
  callid = 'cid-x',
): TargetChange {
  const event: RegistrationEvent = {
    op,
    source: {
      name: 'rollback',
      release: '4.0',
      connector: 'POSTGRESQL',
      table: 'public.location',
      rowKey: contactId,
      position: { major: 100n, minor: 1n, seq: 0n },
      snapshot: false,
      tsMs: 0n,
    },
    registration:
      op === 'TRUNCATE'
        ? null
        : {
            username: 'callee',
            domain: null,
            contact: `sip:callee@192.0.2.${contactId % 250n}:5060`,
            received: 'sip:198.51.100.7:40000',
            path: null,
            expires: BigInt(NOW + 3600),
            q: 0.5,
            callid,
            cseq,
            lastModified: BigInt(lastModified),
            flags: 3,
            cflags: 'NAT',
            userAgent: 'Linphone/5.2.5',
            socket: 'udp:192.0.2.10:5060',
            methods: 8191,
            sipInstance: null,
            kvStore: null,
            attr: null,
          },
  };
  return { event, txId };
}

/** A legacy session that counts the statements sent through it. */
function countingConnection(db: DbConnection): { db: DbConnection; statements(): number; sql(): string[] } {
  const sent: string[] = [];
  const wrapped: DbConnection = {
    target: db.target,
    dialect: db.dialect,
    query: (sql, params) => {
      sent.push(sql.trim());
      return db.query(sql, params);
    },
    stream: (sql, params, size) => db.stream(sql, params, size),
    close: () => db.close(),
  };
  return { db: wrapped, statements: () => sent.length, sql: () => [...sent] };
}

function scenario(kind: 'postgres' | 'mysql'): void {
  describe(`reverse apply into a ${kind} 2.1 legacy table`, () => {
    let targetDb: FreshDb;
    let legacyDb: FreshDb;
    let t: pg.Client;
    let legacyConn: DbConnection;
    let legacy: LegacyTable;

    const apply = (changes: TargetChange[]) => applyReverseBatch(t, legacy, { stateSchema: S, sourceName: 'legacy' }, changes);

    async function legacyRows(): Promise<string[]> {
      const d = legacyConn.dialect;
      const rows = await legacyConn.query<Record<string, unknown>>(
        `SELECT id, username, domain, contact, received, ${d.datetimeText('expires')} AS expires, q, callid, cseq, ${d.datetimeText('last_modified')} AS lm, flags, cflags, user_agent, socket, methods FROM location ORDER BY id`,
      );
      return rows.map((r) => Object.values(r).map(String).join('|'));
    }

    async function links(): Promise<string[]> {
      const { rows } = await t.query(`SELECT contact_id::text, binding, legacy_id::text FROM ${S}.links ORDER BY contact_id`);
      return rows.map((r) => Object.values(r).join('|'));
    }

    before(async () => {
      targetDb = await freshPostgresDb('reverse_target');
      await createLocationTable(targetDb.url, '4.0');
      t = new pg.Client({ connectionString: targetDb.url });
      await t.connect();
      await ensureStateSchema(t, S);
      await ensureReverseState(t, S);
      legacyDb = kind === 'postgres' ? await freshPostgresDb('reverse_legacy') : await freshMariaDb('reverse_legacy');
      await loadDdl(legacyDb.url, kind, '2.1');
      legacyConn = await openDb(legacyDb.url);
      legacy = new LegacyTable(legacyConn, 'location', { release: '2.1', timeZone: TZ });
      // Legacy row 1 ('bob'), projected by ulbridge as contact id Y (a forward binding).
      await legacyConn.query(
        `INSERT INTO location (username, domain, contact, expires, callid, cseq, last_modified, user_agent) VALUES ('bob', 'example.com', 'sip:bob@192.0.2.1', '2025-11-24 18:00:00', 'cid-bob', 5, '2025-11-24 17:00:00', 'Yealink')`,
      );
      await t.query(`INSERT INTO ${S}.aors (aor, aorhash, slot, rlabel, next_clabel) VALUES ('callee', 1706, 170, 131072, 2)`);
      await t.query(
        `INSERT INTO ${S}.bindings (binding, source_name, source_row_key, log_partition, aor, clabel, contact_id, in_target, pos_major, pos_minor, pos_seq) VALUES ('legacy:1', 'legacy', 1, 0, 'callee', 1, ${Y}, true, 1, 1, 0)`,
      );
      await t.query(`INSERT INTO ${S}.own_tx (xid) VALUES (4242)`);
    });

    after(async () => {
      await legacyConn?.close();
      await t?.end();
    });

    const X_ROW = (id: number, cseq: number, lm: string) =>
      `${id}|callee||sip:callee@192.0.2.182:5060|sip:198.51.100.7:40000|2025-11-24 18:00:00|0.5|cid-x|${cseq}|${lm}|2|NAT|Linphone/5.2.5|udp:192.0.2.10:5060|8191`;
    const BOB = (cseq: number, lm: string, callid = 'cid-bob') =>
      `1|bob|example.com|sip:bob@192.0.2.1|null|2025-11-24 18:00:00|1|${callid}|${cseq}|${lm}|0|null|Yealink|null|null`;

    test('a change the projection wrote (its xid is in own_tx) is never copied back', async () => {
      const r = await apply([change('UPSERT', X, 4242n)]);
      assert.deepEqual(r, { ownWrites: 1, inserted: 0, updated: 0, deleted: 0, keptLegacy: 0, ignored: 0 });
      assert.deepEqual(await legacyRows(), [BOB(5, '2025-11-24 17:00:00')]);
    });

    test("a registrar's new contact becomes a new legacy row (local DATETIMEs, FL_MEM cleared) and a link", async () => {
      const r = await apply([change('UPSERT', X, 5000n)]);
      assert.deepEqual(r, { ownWrites: 0, inserted: 1, updated: 0, deleted: 0, keptLegacy: 0, ignored: 0 });
      assert.deepEqual(await legacyRows(), [BOB(5, '2025-11-24 17:00:00'), X_ROW(2, 1, '2025-11-24 17:00:00')]);
      assert.deepEqual(await links(), [`${X}|legacy:2|2`]);
    });

    test('the same batch redelivered changes nothing (the link finds the row, the versions are equal)', async () => {
      const r = await apply([change('UPSERT', X, 5000n)]);
      assert.deepEqual(r, { ownWrites: 0, inserted: 0, updated: 0, deleted: 0, keptLegacy: 1, ignored: 0 });
      assert.deepEqual(await legacyRows(), [BOB(5, '2025-11-24 17:00:00'), X_ROW(2, 1, '2025-11-24 17:00:00')]);
    });

    test('a refresh (higher CSeq) updates the legacy row in place; an older one is kept out', async () => {
      const r = await apply([change('UPSERT', X, 5001n, 2, NOW + 60), change('UPSERT', X, 5002n, 1, NOW + 120)]);
      assert.deepEqual(r, { ownWrites: 0, inserted: 0, updated: 1, deleted: 0, keptLegacy: 1, ignored: 0 });
      assert.deepEqual(await legacyRows(), [BOB(5, '2025-11-24 17:00:00'), X_ROW(2, 2, '2025-11-24 17:01:00')]);
    });

    test('a change of a row ulbridge projected goes to its legacy row by the forward binding', async () => {
      const bob = change('UPSERT', Y, 5003n, 6, NOW + 300, 'cid-bob');
      bob.event.registration = {
        ...bob.event.registration!,
        username: 'bob',
        domain: 'example.com',
        contact: 'sip:bob@192.0.2.1',
        received: null,
        q: 1,
        flags: 0,
        cflags: null,
        userAgent: 'Yealink',
        socket: null,
        methods: null,
      };
      const r = await apply([bob]);
      assert.deepEqual(r, { ownWrites: 0, inserted: 0, updated: 1, deleted: 0, keptLegacy: 0, ignored: 0 });
      assert.deepEqual(await legacyRows(), [BOB(6, '2025-11-24 17:05:00'), X_ROW(2, 2, '2025-11-24 17:01:00')]);
    });

    test('a new Call-ID wins by the later last_modified even with a lower CSeq', async () => {
      const bob = change('UPSERT', Y, 5004n, 1, NOW + 400, 'cid-bob-rebooted');
      bob.event.registration = {
        ...bob.event.registration!,
        username: 'bob',
        domain: 'example.com',
        contact: 'sip:bob@192.0.2.1',
        received: null,
        q: 1,
        flags: 0,
        cflags: null,
        userAgent: 'Yealink',
        socket: null,
        methods: null,
      };
      const r = await apply([bob]);
      assert.equal(r.updated, 1);
      assert.deepEqual(await legacyRows(), [BOB(1, '2025-11-24 17:06:40', 'cid-bob-rebooted'), X_ROW(2, 2, '2025-11-24 17:01:00')]);
    });

    test('a delete is kept out when the legacy row is newer, and applied (link dropped) when it is not', async () => {
      const oldBob = change('DELETE', Y, 5005n, 1, NOW + 10, 'cid-bob-rebooted');
      const r1 = await apply([oldBob]);
      assert.deepEqual(r1, { ownWrites: 0, inserted: 0, updated: 0, deleted: 0, keptLegacy: 1, ignored: 0 });
      const r2 = await apply([change('DELETE', X, 5006n, 2, NOW + 60)]);
      assert.deepEqual(r2, { ownWrites: 0, inserted: 0, updated: 0, deleted: 1, keptLegacy: 0, ignored: 0 });
      assert.deepEqual(await legacyRows(), [BOB(1, '2025-11-24 17:06:40', 'cid-bob-rebooted')]);
      assert.deepEqual(await links(), []);
      const again = await apply([change('DELETE', X, 5006n, 2, NOW + 60), change('TRUNCATE', 0n, 5007n)]);
      assert.deepEqual(again, { ownWrites: 0, inserted: 0, updated: 0, deleted: 0, keptLegacy: 0, ignored: 2 });
    });

    test('a failed batch leaves the legacy table and the links as they were', async () => {
      const bad = change('UPSERT', 999n, 5008n);
      bad.event.registration = { ...bad.event.registration!, username: 'x'.repeat(300) }; // too long for username
      await assert.rejects(apply([change('UPSERT', 998n, 5008n), bad]));
      assert.deepEqual(await legacyRows(), [BOB(1, '2025-11-24 17:06:40', 'cid-bob-rebooted')]);
      assert.deepEqual(await links(), []);
    });

    test('a batch is applied set-based: 1,200 new rows, then 1,200 refreshes, in a handful of statements each', async () => {
      const counting = countingConnection(legacyConn);
      const setBased = new LegacyTable(counting.db, 'location', { release: '2.1', timeZone: TZ });
      const many = (cseq: number) =>
        Array.from({ length: 1200 }, (_, i) => {
          const c = change('UPSERT', 10_000n + BigInt(i), 6000n + BigInt(i), cseq, NOW + cseq);
          c.event.registration = { ...c.event.registration!, username: `u${i}`, contact: `sip:u${i}@192.0.2.9` };
          return c;
        });
      const r1 = await applyReverseBatch(t, setBased, { stateSchema: S, sourceName: 'legacy' }, many(1));
      assert.deepEqual(r1, { ownWrites: 0, inserted: 1200, updated: 0, deleted: 0, keptLegacy: 0, ignored: 0 });
      assert.ok(counting.statements() <= 8, `${counting.statements()} statements for 1,200 inserts`);
      const r2 = await applyReverseBatch(t, setBased, { stateSchema: S, sourceName: 'legacy' }, many(2));
      assert.deepEqual(r2, { ownWrites: 0, inserted: 0, updated: 1200, deleted: 0, keptLegacy: 0, ignored: 0 });
      assert.ok(counting.statements() <= 8 + 7, `${counting.statements()} statements for 1,200 inserts and 1,200 updates`);
      // Each row got its own id and link, and holds its refresh.
      const rows = await legacyConn.query<{ n: number | string; c: number | string }>(
        `SELECT count(*) AS n, count(DISTINCT contact) AS c FROM location WHERE cseq = 2 AND username LIKE 'u%'`,
      );
      assert.deepEqual([Number(rows[0]!.n), Number(rows[0]!.c)], [1200, 1200]);
      const { rows: l } = await t.query(
        `SELECT count(*)::int AS n FROM ${S}.links WHERE contact_id >= 10000 AND binding = 'legacy:' || legacy_id::text`,
      );
      assert.equal(l[0].n, 1200);
      await legacyConn.query(`DELETE FROM location WHERE username LIKE 'u%'`);
      await t.query(`DELETE FROM ${S}.links WHERE contact_id >= 10000`);
    });

    test('consecutive slices: the next slice is looked up while one is written, and again when that one linked its rows', async () => {
      const u = (id: bigint, txId: bigint, cseq: number, op: 'UPSERT' | 'DELETE' = 'UPSERT') => {
        const c = change(op, id, txId, cseq, NOW + cseq);
        c.event.registration = { ...c.event.registration!, username: `s${id}`, contact: `sip:s${id}@192.0.2.9` };
        return c;
      };
      const done: Array<[number, ReverseResult]> = [];
      // Slice 2 refreshes a row slice 1 inserts (and links), slice 3 deletes it (link dropped) and
      // inserts another, slice 4 refreshes that one: each of slices 2-4 is looked up again after
      // the slice before it. Had they kept their early lookups, the refreshes would have inserted
      // duplicate legacy rows and the delete would have been ignored.
      const results = await applyReverseBatches(
        t,
        legacy,
        { stateSchema: S, sourceName: 'legacy' },
        [
          [u(20_001n, 7001n, 1), u(20_002n, 7002n, 1)],
          [u(20_001n, 7003n, 2)],
          [u(20_001n, 7004n, 3, 'DELETE'), u(20_003n, 7005n, 1)],
          [u(20_002n, 7006n, 2), u(20_003n, 7007n, 2)],
        ],
        async (i, r) => {
          done.push([i, r]);
        },
      );
      const zero = { ownWrites: 0, inserted: 0, updated: 0, deleted: 0, keptLegacy: 0, ignored: 0 };
      assert.deepEqual(results, [
        { ...zero, inserted: 2 },
        { ...zero, updated: 1 },
        { ...zero, deleted: 1, inserted: 1 },
        { ...zero, updated: 2 },
      ]);
      assert.deepEqual(
        done.map(([i]) => i),
        [0, 1, 2, 3],
      );
      const rows = await legacyConn.query<{ username: string; cseq: number | string }>(
        `SELECT username, cseq FROM location WHERE username LIKE 's2000%' ORDER BY username`,
      );
      assert.deepEqual(
        rows.map((r) => `${r.username}:${Number(r.cseq)}`),
        ['s20002:2', 's20003:2'],
      );
      const { rows: l } = await t.query(`SELECT contact_id::text AS c FROM ${S}.links WHERE contact_id BETWEEN 20000 AND 20010 ORDER BY 1`);
      assert.deepEqual(
        l.map((r) => r.c),
        ['20002', '20003'],
      );
      await legacyConn.query(`DELETE FROM location WHERE username LIKE 's2000%'`);
      await t.query(`DELETE FROM ${S}.links WHERE contact_id BETWEEN 20000 AND 20010`);
    });

    test("with a reader connection the next slice's rows are read ahead; stale once the slice before wrote them, or once the registrar did", async () => {
      const u = (id: bigint, txId: bigint, cseq: number) => {
        const c = change('UPSERT', id, txId, cseq, NOW + cseq);
        c.event.registration = { ...c.event.registration!, username: `r${id}`, contact: `sip:r${id}@192.0.2.9` };
        return c;
      };
      const opts = { stateSchema: S, sourceName: 'legacy' };
      await applyReverseBatch(t, legacy, opts, [u(30_001n, 8001n, 1), u(30_002n, 8002n, 1), u(30_003n, 8003n, 1)]);
      const { rows: linked } = await t.query(`SELECT legacy_id::text AS l FROM ${S}.links WHERE contact_id = 30003`);
      const row3 = linked[0].l as string;
      const registrar = await openDb(legacyDb.url);
      const writes: string[] = []; // the writer's version reads and UPDATEs, in order
      let aheadReads = 0;
      const writer: DbConnection = {
        ...legacyConn,
        query: async (sql, params) => {
          if (/^SELECT .*callid, cseq/.test(sql)) writes.push('read');
          else if (/^UPDATE/.test(sql)) writes.push('update');
          return legacyConn.query(sql, params);
        },
      };
      const reader: DbConnection = {
        ...registrar,
        query: async (sql, params) => {
          const rows = await registrar.query(sql, params);
          if (/^SELECT .*callid, cseq/.test(sql) && ++aheadReads === 2) {
            // Slice 3's row was read ahead; the legacy registrar refreshes it before slice 3 writes.
            await registrar.query(`UPDATE location SET cseq = 50, last_modified = '2025-11-24 19:00:00' WHERE id = ${row3}`);
          }
          return rows as never;
        },
      };
      try {
        const ahead = new LegacyTable(writer, 'location', { release: '2.1', timeZone: TZ }, reader);
        const results = await applyReverseBatches(t, ahead, opts, [
          [u(30_001n, 8011n, 2)],
          [u(30_002n, 8012n, 2), u(30_001n, 8013n, 3)],
          [u(30_003n, 8014n, 2)],
        ]);
        const zero = { ownWrites: 0, inserted: 0, updated: 0, deleted: 0, keptLegacy: 0, ignored: 0 };
        assert.deepEqual(results, [
          { ...zero, updated: 1 },
          { ...zero, updated: 2 },
          { ...zero, keptLegacy: 1 },
        ]);
        // Slice 1 read in its transaction (nothing ahead of it); slice 2's rows were read ahead, but
        // slice 1 wrote one of them, so they were read again in its transaction (one UPDATE, not a
        // failed one and a retry); slice 3's were used, its UPDATE found the registrar's refresh, and
        // it was decided again on a fresh read.
        assert.equal(aheadReads, 2);
        assert.deepEqual(writes, ['read', 'update', 'read', 'update', 'update', 'read']);
        const rows = await legacyConn.query<{ username: string; cseq: number | string }>(
          `SELECT username, cseq FROM location WHERE username LIKE 'r3000%' ORDER BY username`,
        );
        assert.deepEqual(
          rows.map((r) => `${r.username}:${Number(r.cseq)}`),
          ['r30001:3', 'r30002:2', 'r30003:50'],
        );
      } finally {
        await legacyConn.query(`DELETE FROM location WHERE username LIKE 'r3000%'`);
        await t.query(`DELETE FROM ${S}.links WHERE contact_id BETWEEN 30000 AND 30010`);
        await registrar.close();
      }
    });

    /** The legacy table as reverse sync sees it, but the legacy registrar runs `sql` (committed) right after reverse sync's first version read. */
    async function racingLegacy(sql: string): Promise<{ table: LegacyTable; reads: () => number; registrar: DbConnection }> {
      const registrar = await openDb(legacyDb.url);
      let reads = 0;
      const racing: DbConnection = {
        ...legacyConn,
        query: async (q, params) => {
          const rows = await legacyConn.query(q, params);
          if (/^SELECT .*callid, cseq/.test(q) && ++reads === 1) await registrar.query(sql);
          return rows as never;
        },
      };
      return { table: new LegacyTable(racing, 'location', { release: '2.1', timeZone: TZ }), reads: () => reads, registrar };
    }

    // The target registrar's change of bob arrives; right after reverse sync read bob's legacy row,
    // the legacy registrar refreshes it (committed): the first decision finds the row moved and
    // the batch is decided again, on the registrar's newer row, which is kept.
    for (const race of [
      {
        name: "a legacy row the legacy registrar writes between reverse sync's read and its write is not overwritten: the batch is decided again",
        change: () => change('UPSERT', Y, 5010n, 2, NOW + 500, 'cid-bob-rebooted'),
        refresh: { cseq: 100, lm: '2025-11-24 18:00:00' },
      },
      {
        name: "a legacy row the legacy registrar refreshes between reverse sync's read and its delete is not deleted: the batch is decided again",
        // bob's contact deleted as it stood after its last refresh (cseq 101)
        change: () => change('DELETE', Y, 5012n, 101, NOW + 7200, 'cid-bob-rebooted'),
        refresh: { cseq: 200, lm: '2025-11-24 19:00:00' },
      },
    ]) {
      test(race.name, async () => {
        const racy = await racingLegacy(
          `UPDATE location SET cseq = ${race.refresh.cseq}, last_modified = '${race.refresh.lm}' WHERE id = 1`,
        );
        try {
          const bob = race.change();
          bob.event.registration = { ...bob.event.registration!, username: 'bob', domain: 'example.com', contact: 'sip:bob@192.0.2.1' };
          const r = await applyReverseBatch(t, racy.table, { stateSchema: S, sourceName: 'legacy' }, [bob]);
          assert.equal(racy.reads(), 2);
          assert.deepEqual(r, { ownWrites: 0, inserted: 0, updated: 0, deleted: 0, keptLegacy: 1, ignored: 0 });
          const rows = await legacyConn.query<{ cseq: number }>(`SELECT cseq FROM location WHERE id = 1`);
          assert.equal(Number(rows[0]!.cseq), race.refresh.cseq);
        } finally {
          // Bob as the first race left him, for the tests after.
          await racy.registrar.query(`UPDATE location SET cseq = 100, last_modified = '2025-11-24 18:00:00' WHERE id = 1`);
          await racy.registrar.close();
        }
      });
    }

    test('a legacy last_modified with sub-second digits (a writer other than OpenSIPS) still takes the update', async () => {
      await legacyConn.query(`UPDATE location SET last_modified = '2025-11-24 18:00:00.4' WHERE id = 1`);
      const bob = change('UPSERT', Y, 5011n, 101, NOW + 7200, 'cid-bob-rebooted');
      bob.event.registration = { ...bob.event.registration!, username: 'bob', domain: 'example.com', contact: 'sip:bob@192.0.2.1' };
      const r = await apply([bob]);
      assert.deepEqual(r, { ownWrites: 0, inserted: 0, updated: 1, deleted: 0, keptLegacy: 0, ignored: 0 });
      const rows = await legacyConn.query<{ cseq: number }>(`SELECT cseq FROM location WHERE id = 1`);
      assert.equal(Number(rows[0]!.cseq), 101);
    });

    test('own_tx entries are pruned by age', async () => {
      await t.query(`UPDATE ${S}.own_tx SET committed_at = now() - interval '2 days' WHERE xid = 4242`);
      assert.equal(await pruneOwnTransactions(t, S, 86_400), 1);
      const { rows } = await t.query(`SELECT count(*)::int AS n FROM ${S}.own_tx`);
      assert.equal(rows[0].n, 0);
    });
  });
}

scenario('postgres');
scenario('mysql');

// --- 2.2+ legacy tables: contact ids allocated for the legacy registrar -------------------------

interface Binding {
  username: string;
  contact: string;
  cseq?: number;
  lm?: number;
  callid?: string;
  expires?: number;
}

function change22(op: 'UPSERT' | 'DELETE', contactId: bigint, txId: bigint, b: Binding): TargetChange {
  const c = change(op, contactId, txId, b.cseq ?? 1, b.lm ?? NOW, b.callid ?? `cid-${b.username}`);
  c.event.registration = {
    ...c.event.registration!,
    username: b.username,
    domain: 'example.com',
    contact: b.contact,
    expires: BigInt(b.expires ?? NOW + 3600),
  };
  return c;
}

function scenario22(
  kind: 'postgres' | 'mysql',
  release: '2.2' | '3.x' | '4.0',
  hashSize: number,
  useDomain: boolean,
  unsignedChar = false,
): void {
  describe(`reverse apply into a ${kind} ${release} legacy table (hash_size ${hashSize}, use_domain ${useDomain ? 1 : 0})`, () => {
    let targetDb: FreshDb;
    let legacyDb: FreshDb;
    let t: pg.Client;
    let legacyConn: DbConnection;
    let legacy: LegacyTable;
    const registrar = { release, hashSize, useDomain, unsignedChar, timeZone: TZ } as const;
    const signedness = unsignedChar ? 'unsigned' : 'signed';
    const apply = (changes: TargetChange[]) => applyReverseBatch(t, legacy, { stateSchema: S, sourceName: 'legacy', now: NOW }, changes);

    /** The aorhash the legacy registrar computes (use_domain decides what is hashed). */
    const aorhash = (user: string): number => coreHash(aorBytes(user, 'example.com', { useDomain }), signedness) & 0xffff;
    const id = (user: string, rlabel: number, clabel: number): bigint => packContactId({ aorhash: aorhash(user), rlabel, clabel });

    // The legacy registrar's own rows: bob (its labels, seeded by rand()), projected forward as Y;
    // and a row holding the first id reverse sync would allocate for callee (a DB-only MySQL
    // registrar takes max(contact_id)+1, which can be exactly that).
    const B = id('bob', 168218419, 767);
    const F = id('callee', 131072, 0);
    // The registrar's new contacts on the target side.
    const X1 = 200_001n;
    const X2 = 200_002n;
    const X3 = 200_003n;
    const A1 = 200_011n;

    const expiresText = (unix: number): string =>
      release === '2.2' ? new Date((unix + 3600) * 1000).toISOString().slice(0, 19).replace('T', ' ') : String(unix); // Berlin = UTC+1 in November
    const ROW = (cid: bigint, b: Binding) =>
      `${cid}|${b.username}|example.com|${b.contact}|${expiresText(b.expires ?? NOW + 3600)}|${b.callid ?? `cid-${b.username}`}|${b.cseq ?? 1}|${new Date(((b.lm ?? NOW) + 3600) * 1000).toISOString().slice(0, 19).replace('T', ' ')}|2`;

    async function legacyRows(): Promise<string[]> {
      const d = legacyConn.dialect;
      const expires = release === '2.2' ? d.datetimeText('expires') : 'expires';
      const key = kind === 'postgres' ? 'contact_id::text' : 'CAST(contact_id AS CHAR)';
      const rows = await legacyConn.query<Record<string, unknown>>(
        `SELECT ${key} AS id, username, domain, contact, ${expires} AS expires, callid, cseq, ${d.datetimeText('last_modified')} AS lm, flags FROM location ORDER BY contact_id`,
      );
      return rows.map((r) => Object.values(r).map(String).join('|'));
    }

    async function links(): Promise<string[]> {
      const { rows } = await t.query(`SELECT contact_id::text, binding, legacy_id::text FROM ${S}.links ORDER BY contact_id`);
      return rows.map((r) => Object.values(r).join('|'));
    }

    async function verifyLegacy() {
      return runVerify({
        db: legacyDb.url,
        table: 'location',
        release,
        hashSize,
        useDomain,
        signedness,
        timezone: TZ,
        now: NOW,
        details: 5,
        batchSize: 500,
      });
    }

    const bob: Binding = { username: 'bob', contact: 'sip:bob@192.0.2.1', callid: 'cid-bob', cseq: 5 };
    const x1: Binding = { username: 'callee', contact: 'sip:callee@192.0.2.11' };
    const x2: Binding = { username: 'callee', contact: 'sip:callee@192.0.2.12' };
    const a1: Binding = { username: 'alice', contact: 'sip:alice@192.0.2.21' };
    const f: Binding = { username: 'callee', contact: 'sip:callee@192.0.2.250', callid: 'cid-f' };

    before(async () => {
      targetDb = await freshPostgresDb('reverse22_target');
      await createLocationTable(targetDb.url, '4.0');
      t = new pg.Client({ connectionString: targetDb.url });
      await t.connect();
      await ensureStateSchema(t, S);
      await ensureReverseState(t, S);
      legacyDb = kind === 'postgres' ? await freshPostgresDb('reverse22_legacy') : await freshMariaDb('reverse22_legacy');
      await createLocationTable(legacyDb.url, release);
      legacyConn = await openDb(legacyDb.url);
      legacy = new LegacyTable(legacyConn, 'location', registrar);
      // The registrar's rows, written as OpenSIPS writes them (through the same row conversion).
      await legacy.begin();
      assert.deepEqual(
        await legacy.insertWithIds([
          { contactId: B, values: legacy.values(change22('UPSERT', 0n, 0n, bob).event.registration!, B) as never },
          { contactId: F, values: legacy.values(change22('UPSERT', 0n, 0n, f).event.registration!, F) as never },
        ]),
        new Set(),
      );
      await legacy.commit();
      await t.query(
        `INSERT INTO ${S}.bindings (binding, source_name, source_row_key, log_partition, contact_id, in_target, pos_major, pos_minor, pos_seq) VALUES ('legacy:${B}', 'legacy', ${B}, 0, ${Y}, true, 1, 1, 0)`,
      );
    });

    after(async () => {
      await legacyConn?.close();
      await t?.end();
    });

    test("the registrar's new contacts get contact ids for the legacy registrar: its aorhash, record labels from 131072, a held id skipped", async () => {
      const r = await apply([change22('UPSERT', X1, 7001n, x1), change22('UPSERT', X2, 7001n, x2), change22('UPSERT', A1, 7001n, a1)]);
      assert.deepEqual(r, { ownWrites: 0, inserted: 3, updated: 0, deleted: 0, keptLegacy: 0, ignored: 0 });
      // callee takes record label 131072 (clabel 0 is F's, so X1 is relabelled to 2), alice 131073.
      if (!useDomain) {
        assert.equal(id('callee', 131072, 2), 120049079714578434n);
        assert.equal(id('callee', 131072, 1), 120049079714578433n);
      }
      const X1ID = id('callee', 131072, 2);
      const X2ID = id('callee', 131072, 1);
      const A1ID = id('alice', 131073, 0);
      assert.deepEqual(
        await legacyRows(),
        [
          [B, bob],
          [F, f],
          [X1ID, x1],
          [X2ID, x2],
          [A1ID, a1],
        ]
          .sort((p, q) => (p[0]! < q[0]! ? -1 : 1))
          .map(([cid, b]) => ROW(cid as bigint, b as Binding)),
      );
      assert.deepEqual(await links(), [`${X1}|legacy:${X1ID}|${X1ID}`, `${X2}|legacy:${X2ID}|${X2ID}`, `${A1}|legacy:${A1ID}|${A1ID}`]);
      const { rows } = await t.query(`SELECT aor, rlabel::int, next_clabel, wrapped FROM ${S}.legacy_aors ORDER BY rlabel`);
      const key = (u: string) => (useDomain ? `${u}@example.com` : u);
      assert.deepEqual(
        rows.map((x) => `${x.aor} ${x.rlabel} ${x.next_clabel} ${x.wrapped}`),
        [`${key('callee')} 131072 3 false`, `${key('alice')} 131073 1 false`],
      );
    });

    test('redelivered, the batch changes nothing', async () => {
      const before = await legacyRows();
      const r = await apply([change22('UPSERT', X1, 7001n, x1), change22('UPSERT', X2, 7001n, x2), change22('UPSERT', A1, 7001n, a1)]);
      assert.deepEqual(r, { ownWrites: 0, inserted: 0, updated: 0, deleted: 0, keptLegacy: 3, ignored: 0 });
      assert.deepEqual(await legacyRows(), before);
    });

    test("updates keep the legacy row's contact id: a refresh of a linked row, and of the registrar's own row by the forward binding", async () => {
      const before = await legacyRows();
      const r = await apply([
        change22('UPSERT', X1, 7002n, { ...x1, cseq: 2, lm: NOW + 60 }),
        change22('UPSERT', Y, 7002n, { ...bob, cseq: 6, lm: NOW + 300 }),
      ]);
      assert.deepEqual(r, { ownWrites: 0, inserted: 0, updated: 2, deleted: 0, keptLegacy: 0, ignored: 0 });
      const after = await legacyRows();
      assert.deepEqual(
        after.map((row) => row.split('|')[0]),
        before.map((row) => row.split('|')[0]),
      );
      assert.ok(after.includes(ROW(id('callee', 131072, 2), { ...x1, cseq: 2, lm: NOW + 60 })));
      assert.ok(after.includes(ROW(B, { ...bob, cseq: 6, lm: NOW + 300 })));
    });

    test('deletes delete (link dropped); a label once handed out is not handed out again', async () => {
      const r = await apply([change22('DELETE', X2, 7003n, { ...x2, cseq: 2, lm: NOW + 90 })]);
      assert.deepEqual(r, { ownWrites: 0, inserted: 0, updated: 0, deleted: 1, keptLegacy: 0, ignored: 0 });
      assert.equal((await legacyRows()).filter((row) => row.startsWith(`${id('callee', 131072, 1)}|`)).length, 0);
      assert.deepEqual(
        (await links()).map((l) => l.split('|')[0]),
        [`${X1}`, `${A1}`],
      );
      // callee's next contact takes clabel 3 (its counter is kept), not the freed 1.
      const r2 = await apply([change22('UPSERT', X3, 7004n, { username: 'callee', contact: 'sip:callee@192.0.2.13' })]);
      assert.equal(r2.inserted, 1);
      assert.ok((await legacyRows()).some((row) => row.startsWith(`${id('callee', 131072, 3)}|callee|`)));
      assert.ok((await links()).includes(`${X3}|legacy:${id('callee', 131072, 3)}|${id('callee', 131072, 3)}`));
    });

    test('a new binding already expired, or that the legacy registrar could not load, gets no row', async () => {
      const before = await legacyRows();
      const r = await apply([
        change22('UPSERT', 200_100n, 7005n, { username: 'carol', contact: 'sip:carol@192.0.2.30', expires: NOW - 10 }),
        change22('UPSERT', 200_101n, 7005n, { username: '', contact: 'sip:192.0.2.31' }),
      ]);
      assert.deepEqual(r, { ownWrites: 0, inserted: 0, updated: 0, deleted: 0, keptLegacy: 0, ignored: 2 });
      assert.deepEqual(await legacyRows(), before);
    });

    test('a failed batch leaves the legacy table, the links and the label state as they were', async () => {
      const rows = await legacyRows();
      const l = await links();
      const { rows: aors } = await t.query(`SELECT * FROM ${S}.legacy_aors ORDER BY aor`);
      const bad = change22('UPSERT', 200_201n, 7006n, { username: 'dave', contact: 'sip:dave@192.0.2.40' });
      bad.event.registration = { ...bad.event.registration!, callid: 'x'.repeat(300) }; // too long for callid
      await assert.rejects(apply([change22('UPSERT', 200_200n, 7006n, { username: 'erin', contact: 'sip:erin@192.0.2.41' }), bad]));
      assert.deepEqual(await legacyRows(), rows);
      assert.deepEqual(await links(), l);
      assert.deepEqual((await t.query(`SELECT * FROM ${S}.legacy_aors ORDER BY aor`)).rows, aors);
    });

    test('an AOR whose contact labels wrap skips its live ones, read from the legacy table (no retried INSERT)', async () => {
      await t.query(`UPDATE ${S}.legacy_aors SET next_clabel = 16383 WHERE rlabel = 131072`);
      const counting = countingConnection(legacyConn);
      const wrapping = new LegacyTable(counting.db, 'location', registrar);
      const news = [200_004n, 200_005n, 200_006n];
      const r = await applyReverseBatch(
        t,
        wrapping,
        { stateSchema: S, sourceName: 'legacy', now: NOW },
        news.map((x, i) => change22('UPSERT', x, 7007n, { username: 'callee', contact: `sip:callee@192.0.2.${60 + i}` })),
      );
      assert.equal(r.inserted, 3);
      // Live labels of callee: 0 (F), 2 (X1), 3 (X3). The counter takes 16383, wraps, skips 0, takes 1, skips 2 and 3, takes 4.
      assert.deepEqual(
        (await links()).filter((l) => news.some((x) => l.startsWith(`${x}|`))).map((l) => BigInt(l.split('|')[2]!)),
        [id('callee', 131072, 16383), id('callee', 131072, 1), id('callee', 131072, 4)],
      );
      assert.equal(counting.sql().filter((q) => q.startsWith('INSERT')).length, 1);
      const { rows } = await t.query(`SELECT next_clabel, wrapped FROM ${S}.legacy_aors WHERE rlabel = 131072`);
      assert.deepEqual(rows[0], { next_clabel: 5, wrapped: true });
    });

    test(`a non-ASCII AOR is hashed with the legacy registrar's char signedness (${signedness})`, async () => {
      const user = 'jürgen';
      const other = coreHash(aorBytes(user, 'example.com', { useDomain }), unsignedChar ? 'signed' : 'unsigned') & 0xffff;
      assert.notEqual(aorhash(user), other); // the two signednesses give different ids for this AOR
      const r = await apply([change22('UPSERT', 200_300n, 7008n, { username: user, contact: 'sip:j@192.0.2.70' })]);
      assert.equal(r.inserted, 1);
      const linked = (await links()).find((l) => l.startsWith('200300|'))!;
      assert.equal(BigInt(linked.split('|')[2]!) >> 46n, BigInt(aorhash(user)));
    });

    test('1,500 new contacts in one batch: a handful of statements, and every row loads', async () => {
      const counting = countingConnection(legacyConn);
      const setBased = new LegacyTable(counting.db, 'location', registrar);
      const changes = Array.from({ length: 1500 }, (_, i) =>
        change22('UPSERT', 300_000n + BigInt(i), 7100n, { username: `user${i % 700}`, contact: `sip:user${i}@192.0.2.50` }),
      );
      const r = await applyReverseBatch(t, setBased, { stateSchema: S, sourceName: 'legacy', now: NOW }, changes);
      assert.deepEqual(r, { ownWrites: 0, inserted: 1500, updated: 0, deleted: 0, keptLegacy: 0, ignored: 0 });
      assert.ok(counting.statements() <= 8, `${counting.statements()} legacy statements for 1,500 inserts`);
      const { rows } = await t.query(`SELECT count(*)::int AS n, count(DISTINCT legacy_id)::int AS d FROM ${S}.links`);
      assert.deepEqual(rows[0], { n: 1507, d: 1507 });
    });

    test('ulbridge verify on the legacy table is clean: every row loads, no duplicate id, no ambiguous record label', async () => {
      const report = await verifyLegacy();
      assert.equal(report.rowsRead, 1509);
      assert.equal(report.loadable, 1509);
      assert.equal(report.findings, 0, JSON.stringify(report));
      assert.equal(report.clean, true);
    });

    test("consecutive slices read their new AORs' label state ahead, and again when the slice before saved it", async () => {
      const counting = countingConnection(legacyConn);
      const ahead = new LegacyTable(counting.db, 'location', registrar);
      const session = pgReverseSession(t, S);
      let labelReads = 0;
      const counted: ReverseTargetSession = {
        ...session,
        legacyAors: (wanted) => {
          labelReads++;
          return session.legacyAors(wanted);
        },
      };
      const c = (n: bigint, user: string) => change22('UPSERT', n, 7200n + n, { username: user, contact: `sip:${user}${n}@192.0.2.80` });
      // Slice 2 gives kim, whose state slice 1 creates, a second contact: its label state read
      // ahead is stale and is read again (had it been used, kim would have been given a second
      // record label, or her first contact's id again). Slice 3's read ahead is used.
      const results = await applyReverseBatches(counted, ahead, { stateSchema: S, sourceName: 'legacy', now: NOW }, [
        [c(400_001n, 'kim'), c(400_002n, 'lou')],
        [c(400_003n, 'kim'), c(400_004n, 'max')],
        [c(400_005n, 'ned')],
      ]);
      assert.deepEqual(
        results.map((r) => r.inserted),
        [2, 2, 1],
      );
      // Slice 1 inline; slices 2 and 3 ahead; slice 2 again inline.
      assert.equal(labelReads, 4);
      // One INSERT per slice: no planned id met a row already there.
      assert.equal(counting.sql().filter((q) => q.startsWith('INSERT')).length, 3);
      const key = (u: string) => (useDomain ? `${u}@example.com` : u);
      const { rows } = await t.query(
        `SELECT aor, rlabel::int AS r, next_clabel AS n FROM ${S}.legacy_aors WHERE aor = ANY($1) ORDER BY aor`,
        [['kim', 'lou', 'max', 'ned'].map(key)],
      );
      assert.deepEqual(
        rows.map((x) => `${x.aor} ${x.n}`),
        ['kim', 'lou', 'max', 'ned'].map((u) => `${key(u)} ${u === 'kim' ? 2 : 1}`),
      );
      const rlabel = new Map(rows.map((x) => [x.aor as string, x.r as number]));
      const expected = [
        [400_001n, id('kim', rlabel.get(key('kim'))!, 0)],
        [400_002n, id('lou', rlabel.get(key('lou'))!, 0)],
        [400_003n, id('kim', rlabel.get(key('kim'))!, 1)],
        [400_004n, id('max', rlabel.get(key('max'))!, 0)],
        [400_005n, id('ned', rlabel.get(key('ned'))!, 0)],
      ];
      assert.deepEqual(
        (await links()).filter((l) => l.startsWith('40000')),
        expected.map(([target, legacyId]) => `${target}|legacy:${legacyId}|${legacyId}`),
      );
    });

    test('links and label state are written beside the INSERT, in a target transaction nobody sees before every row is in', async () => {
      const probe = new pg.Client({ connectionString: targetDb.url });
      await probe.connect();
      const seen: string[] = [];
      try {
        // Whether a transaction other than the probe's holds a write lock on the links table.
        const linksLocked = async (): Promise<boolean> =>
          (
            await probe.query(
              `SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = $1 AND c.relname = 'links' AND l.mode = 'RowExclusiveLock' AND l.granted AND l.pid <> pg_backend_pid()) AS x`,
              [S],
            )
          ).rows[0].x as boolean;
        const visible = async (): Promise<number> =>
          (await probe.query(`SELECT count(*)::int AS n FROM ${S}.links WHERE contact_id IN (500001, 500002)`)).rows[0].n as number;
        // The legacy INSERT returns only once the links statement holds its lock (or after 2 s).
        const pausing: DbConnection = {
          target: legacyConn.target,
          dialect: legacyConn.dialect,
          query: async <T>(sql: string, params?: readonly unknown[], options?: QueryOptions) => {
            const out = await legacyConn.query<T>(sql, params, options);
            if (/^\s*INSERT/.test(sql)) {
              for (let i = 0; i < 200 && !(await linksLocked()); i++) await new Promise((r) => setTimeout(r, 10));
              seen.push(`locked ${await linksLocked()}`, `visible ${await visible()}`);
            }
            return out;
          },
          stream: (sql, params, size) => legacyConn.stream(sql, params, size),
          close: () => legacyConn.close(),
        };
        const r = await applyReverseBatch(
          t,
          new LegacyTable(pausing, 'location', registrar),
          { stateSchema: S, sourceName: 'legacy', now: NOW },
          [
            change22('UPSERT', 500_001n, 7300n, { username: 'olga', contact: 'sip:olga@192.0.2.90' }),
            change22('UPSERT', 500_002n, 7300n, { username: 'olga', contact: 'sip:olga@192.0.2.91' }),
          ],
        );
        assert.equal(r.inserted, 2);
        assert.deepEqual(seen, ['locked true', 'visible 0']);
        assert.equal(await visible(), 2);
        assert.equal(await linksLocked(), false);
      } finally {
        await probe.end();
      }
    });
  });
}

scenario22('postgres', '2.2', 9, false);
scenario22('postgres', '4.0', 16, true);
scenario22('mysql', '2.2', 9, false);
scenario22('mysql', '3.x', 12, true);
scenario22('mysql', '4.0', 9, false, true);
